"""The Matrix adapter alone on the test Synapse, with a handler that records events."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from adapters.matrix import MatrixAdapter
from bot.config import BotConfig, MatrixConfig
from bot.events import Event
from tests.support.homeserver import Synapse
from tests.support.matrix_people import unique


class MemoryState:
    def __init__(self) -> None:
        self.values: dict[str, str] = {}

    async def get_state(self, key: str) -> str | None:
        return self.values.get(key)

    async def set_state(self, key: str, value: str) -> None:
        self.values[key] = value


class MatrixBot:
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


MatrixBotFactory = Callable[..., Awaitable[MatrixBot]]
