"""Slack redelivering everything, and dropping the Socket Mode connection, against the
whole bot (App, core, a real SQLite file) through the Slack adapter and the fake Web API."""

from __future__ import annotations

import copy
import json
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from adapters.slack import SlackAdapter
from bot.app import App
from bot.config import Config
from tests.support.fake_slack import FakeSlack
from tests.support.slack import (
    FORM,
    JSON,
    button_payload,
    form_payload,
    make_adapter,
    post_signed,
    reaction_event,
    slash_body,
    slash_envelope,
)

pytestmark = [pytest.mark.faults, pytest.mark.slack]

ROOM = "C0DUPROOM1"
ORGANIZER = "U0ORGANIZE"


async def running(fake: FakeSlack, tmp_path: Path, mode: str) -> tuple[App, SlackAdapter]:
    app = App(Config.model_validate({"bot": {"database": str(tmp_path / "undersign.db")}}))
    await app.open()
    adapter = make_adapter(fake, mode=mode)
    app.add_adapter(adapter)
    await adapter.start(app.handle)
    return app, adapter


@pytest.fixture
async def http_bot(fake: FakeSlack, tmp_path: Path) -> AsyncIterator[tuple[App, SlackAdapter]]:
    app, adapter = await running(fake, tmp_path, "http")
    yield app, adapter
    await adapter.stop()
    await app.close()


def confirmations(fake: FakeSlack) -> Counter[str]:
    """Private answers per user, by their first words."""
    return Counter(f"{c.params['user']}: {c.text.split(' L')[0]}"
                   for c in fake.calls_to("chat.postEphemeral"))


async def count_in_store(app: App) -> int:
    async with app.store.transaction() as tx:
        return await tx.count(1)


async def test_every_slack_event_delivered_twice_counts_once_and_answers_once(
    http_bot: tuple[App, SlackAdapter], fake: FakeSlack
) -> None:
    app, adapter = http_bot

    async def twice(body: str, content_type: str) -> None:
        for retry in (None, 1):  # the delivery, then Slack's retry of the same event
            status, _ = await post_signed(adapter, body, content_type, retry=retry)
            assert status == 200
            await adapter.drain()

    await twice(slash_body('new "Twice" visibility public', user=ORGANIZER, channel=ROOM,
                           trigger="1.1.new"), FORM)
    [announcement] = fake.calls_to("chat.postMessage")
    ts = str(announcement.response["ts"])
    by_command = [f"U0CMD{n:05d}" for n in range(6)]
    by_button = [f"U0BTN{n:05d}" for n in range(6)]
    by_reaction = [f"U0REA{n:05d}" for n in range(6)]
    for n, user in enumerate(by_command):
        await twice(slash_body("sign L1", user=user, channel=ROOM, trigger=f"2.2.{n}"), FORM)
    for n, user in enumerate(by_button):
        click = button_payload("undersign_sign", "1", user=user, channel=ROOM)
        click["trigger_id"] = f"3.3.{n}"
        await twice(form_payload(click), FORM)
    for n, user in enumerate(by_reaction):
        react = reaction_event("reaction_added", reaction="writing_hand", user=user,
                               channel=ROOM, ts=ts, event_id=f"Ev0DUP{n:05d}")
        await twice(json.dumps(react), JSON)

    signers = by_command + by_button + by_reaction
    assert await count_in_store(app) == len(signers)
    told = confirmations(fake)
    assert told[f"{ORGANIZER}: Announced"] + told[f"{ORGANIZER}: Created"] <= 1
    for user in signers:
        assert told[f"{user}: You signed"] == 1, (user, told)
    assert all(n == 1 for n in told.values()), told
    assert len(fake.calls_to("chat.postMessage")) == 1, "one announcement"
    updates = [c.text for c in fake.calls_to("chat.update")]
    assert len(updates) == len(signers), "one count update per signature, none per retry"
    assert f"{len(signers)} signatures" in updates[-1]


def redelivered(envelope: dict[str, Any]) -> dict[str, Any]:
    """Slack's redelivery after a lost connection: a new envelope, the same payload."""
    again = copy.deepcopy(envelope)
    again.update(envelope_id=str(uuid.uuid4()), retry_attempt=1, retry_reason="timeout")
    return again


async def test_a_dropped_socket_mode_connection_recovers_and_events_are_handled_once(
    fake: FakeSlack, tmp_path: Path
) -> None:
    app, adapter = await running(fake, tmp_path, "socket")
    try:
        await fake.wait_connected()
        await fake.push(slash_envelope('new "Dropped"', ORGANIZER, "5.5.new", channel=ROOM))
        await adapter.drain()
        before = slash_envelope("sign L1", "U0BEFORE01", "5.5.before", channel=ROOM)
        await fake.push(before)
        await fake.drop()  # cut without a goodbye, as a network fault would
        for n in range(2):
            await fake.wait_connected(count=2 + n, within=15)  # the client reconnects by itself
            after = slash_envelope("sign L1", f"U0AFTER{n:03d}", f"5.5.after{n}", channel=ROOM)
            assert (await fake.push(redelivered(before)))["envelope_id"]
            assert (await fake.push(after))["envelope_id"]
            await adapter.drain()
            if n == 0:
                await fake.send_disconnect()  # and a polite disconnect, as Slack rotates links
        assert await count_in_store(app) == 3
        told = confirmations(fake)
        for user in ("U0BEFORE01", "U0AFTER000", "U0AFTER001"):
            assert told[f"{user}: You signed"] == 1, told
        assert all(n == 1 for n in told.values()), told
    finally:
        await adapter.stop()
        await app.close()
