"""A real Synapse on 127.0.0.1 for the whole session, people as nio clients, and the bot.

Synapse comes from ``.synapse-venv`` (``scripts/synapse.sh`` makes it). Without it these
tests skip with the reason, except under CI=true where a missing server is a failure.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from people import PersonFactory, gathering, unique
from synapse import Synapse, running

from adapters.matrix import MatrixAdapter
from bot.config import BotConfig, MatrixConfig
from bot.events import Event


@pytest.fixture(scope="session")
def synapse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Synapse]:
    with running(tmp_path_factory.mktemp("synapse")) as hs:
        yield hs


@pytest.fixture(autouse=True)
def _no_rate_limits(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Every 429 is surfaced: the bot logs it at WARNING, and these tests must see none."""
    caplog.set_level(logging.INFO, logger="undersign")
    yield
    limited = [r for r in caplog.records if "rate limited" in r.getMessage()]
    assert not limited, f"the homeserver rate-limited the bot {len(limited)} times"


@pytest.fixture
async def people(synapse: Synapse, tmp_path: Path) -> AsyncIterator[PersonFactory]:
    async with gathering(synapse, tmp_path) as make:
        yield make


class MemoryState:
    def __init__(self) -> None:
        self.values: dict[str, str] = {}

    async def get_state(self, key: str) -> str | None:
        return self.values.get(key)

    async def set_state(self, key: str, value: str) -> None:
        self.values[key] = value


class Bot:
    """The adapter under test with a handler that records events (no core needed)."""

    def __init__(self, hs: Synapse, tmp: Path, env: pytest.MonkeyPatch, **matrix: Any) -> None:
        self.env = env
        name = unique("undersign")
        registered = hs.register(name)
        self.account = hs.login(name, registered.password, "UNDERSIGN")
        self.id = self.account.user_id
        self.config = MatrixConfig(
            enabled=True,
            homeserver=hs.url,
            user_id=self.id,
            device_id="UNDERSIGN",
            store_path=str(tmp / "bot-store"),
            **matrix,
        )
        self.state = MemoryState()
        self.events: list[Event] = []
        self.adapter: MatrixAdapter | None = None
        self._changed = asyncio.Condition()

    async def handle(self, event: Event) -> None:
        async with self._changed:
            self.events.append(event)
            self._changed.notify_all()

    async def start(self) -> MatrixAdapter:
        self.env.setenv("MATRIX_ACCESS_TOKEN", self.account.access_token)
        self.env.delenv("MATRIX_PASSWORD", raising=False)
        self.adapter = MatrixAdapter(self.config, BotConfig(), self.state)
        await self.adapter.start(self.handle)
        return self.adapter

    async def stop(self) -> None:
        if self.adapter is not None:
            await self.adapter.stop()
            self.adapter = None

    async def wait_for(self, pred: Callable[[Event], bool], within: float = 10) -> Event:
        deadline = time.monotonic() + within
        async with self._changed:
            while True:
                for event in self.events:
                    if pred(event):
                        return event
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"the bot received no such event within {within} s")
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(left):
                        await self._changed.wait()


BotFactory = Callable[..., Awaitable[Bot]]


@pytest.fixture
async def make_bot(
    synapse: Synapse, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[BotFactory]:
    bots: list[Bot] = []

    async def make(**matrix: Any) -> Bot:
        bot = Bot(synapse, tmp_path / f"bot{len(bots)}", monkeypatch, **matrix)
        await bot.start()
        bots.append(bot)
        return bot

    yield make
    for bot in bots:
        await bot.stop()
