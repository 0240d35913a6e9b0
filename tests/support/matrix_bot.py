"""The bot on the test Synapse: the Matrix adapter alone with a handler that records
events (``MatrixBot``), or Undersign whole, startable again on the same database, store and
account (``Undersign``)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from adapters.matrix import SYNC_POSITION, MatrixAdapter
from bot.app import App
from bot.config import BotConfig, Config, MatrixConfig
from bot.events import Event
from tests.support.homeserver import Synapse
from tests.support.matrix_people import first_seen, unique
from tests.support.state import MemoryState


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
        return await first_seen(self._changed, self.events, pred, within,
                                f"the bot received no such event within {within} s")


MatrixBotFactory = Callable[..., Awaitable[MatrixBot]]



class Undersign:
    """The bot, startable again on the same database, store and account."""

    def __init__(self, hs: Synapse, folder: Path, env: pytest.MonkeyPatch, **matrix: Any) -> None:
        name = unique("undersign")
        account = hs.login(name, hs.register(name).password, "UNDERSIGN")
        env.setenv("MATRIX_ACCESS_TOKEN", account.access_token)
        self.hs, self.env, self.name, self.password = hs, env, name, account.password
        self.id = account.user_id
        self.config = Config(
            bot=BotConfig(database=str(folder / "undersign.db")),
            matrix=MatrixConfig(enabled=True, homeserver=hs.url, user_id=account.user_id,
                                store_path=str(folder / "matrix-store"), **matrix),
            base_dir=folder,
        )
        self.app: App | None = None

    async def start(self, since: str | None = None) -> App:
        app = App(self.config)
        await app.open()
        if since is not None:
            await app.store.set_state(SYNC_POSITION, since)
        app.build_adapters()
        for adapter in app.adapters.values():
            await adapter.start(app.handle)
        self.app = app
        return app

    async def stop(self) -> None:
        if self.app is not None:
            await self.app.close()
            self.app = None

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[App]:
        """Started for the length of the block, stopped however it ends."""
        app = await self.start()
        try:
            yield app
        finally:
            await self.stop()

    def new_device(self, device_id: str) -> None:
        """Log in again as another device (its token in the environment), as after a lost
        E2EE store; the next ``start`` uses it."""
        account = self.hs.login(self.name, self.password, device_id)
        self.env.setenv("MATRIX_ACCESS_TOKEN", account.access_token)
        self.config.matrix = self.config.matrix.model_copy(update={"device_id": device_id})

    @property
    def adapter(self) -> MatrixAdapter:
        assert self.app is not None
        adapter = self.app.adapters["matrix"]
        assert isinstance(adapter, MatrixAdapter)
        return adapter

    async def position(self) -> str:
        assert self.app is not None
        value = await self.app.store.get_state(SYNC_POSITION)
        assert value is not None
        return value

    async def count(self) -> int:
        assert self.app is not None
        async with self.app.store.transaction() as tx:
            return await tx.count(1)
