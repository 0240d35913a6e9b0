"""Logging in with MATRIX_PASSWORD keeps the configured device, so its keys survive."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from adapters.matrix import MatrixAdapter
from bot.config import BotConfig, MatrixConfig
from bot.events import Command, Event
from tests.support.homeserver import Synapse
from tests.support.matrix_people import PersonFactory, unique
from tests.support.state import MemoryState

pytestmark = pytest.mark.matrix


async def test_a_password_login_uses_the_configured_device_and_serves_commands(
    synapse: Synapse, people: PersonFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    account = synapse.register(unique("undersign"))
    monkeypatch.delenv("MATRIX_ACCESS_TOKEN", raising=False)
    monkeypatch.setenv("MATRIX_PASSWORD", account.password)
    config = MatrixConfig(enabled=True, homeserver=synapse.url, user_id=account.user_id,
                          device_id="UNDERSIGNPW", store_path=str(tmp_path / "store"))
    received: list[Event] = []

    async def handle(event: Event) -> None:
        received.append(event)

    adapter = MatrixAdapter(config, BotConfig(), MemoryState())
    await adapter.start(handle)
    try:
        alice = await people("alice")
        room = await alice.create_room([account.user_id])
        await alice.joined(account.user_id, room)
        await alice.say(room, "!undersign help")
        for _ in range(200):
            if any(isinstance(e, Command) and e.text == "help" for e in received):
                break
            await asyncio.sleep(0.05)
        assert any(isinstance(e, Command) and e.text == "help" for e in received)
        assert adapter._c.device_id == "UNDERSIGNPW", "the configured device, not a new one"
    finally:
        await adapter.stop()


async def test_a_wrong_password_stops_start_up_with_a_clear_message(
    synapse: Synapse, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    account = synapse.register(unique("undersign"))
    monkeypatch.delenv("MATRIX_ACCESS_TOKEN", raising=False)
    monkeypatch.setenv("MATRIX_PASSWORD", "not-" + account.password)
    config = MatrixConfig(enabled=True, homeserver=synapse.url, user_id=account.user_id,
                          store_path=str(tmp_path / "store"))
    adapter = MatrixAdapter(config, BotConfig(), MemoryState())

    async def handle(event: Event) -> None:
        raise AssertionError("no event without a login")

    with pytest.raises(RuntimeError, match="MATRIX_PASSWORD"):
        await adapter.start(handle)
    await adapter.stop()
