"""Socket Mode: envelopes pushed over a local websocket, acks read back, reconnection."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from adapters.slack import SlackAdapter
from adapters.slack_views import new_letter
from bot.events import Command, Reaction
from tests.support.fake_slack import FakeSlack
from tests.support.slack import (
    EventRecorder,
    button_payload,
    fixture,
    make_adapter,
    reaction_event,
    slash_envelope,
)

pytestmark = pytest.mark.slack


@pytest.fixture
async def socket_adapter(fake: FakeSlack, recorder: EventRecorder) -> AsyncIterator[SlackAdapter]:
    adapter = make_adapter(fake, mode="socket")
    await adapter.start(recorder)
    await fake.wait_connected()
    yield adapter
    await adapter.stop()


def events_envelope(payload: dict[str, Any], retry: int = 0) -> dict[str, Any]:
    return {
        "envelope_id": str(uuid.uuid4()),
        "payload": payload,
        "type": "events_api",
        "accepts_response_payload": False,
        "retry_attempt": retry,
        "retry_reason": "timeout" if retry else "",
    }


def interactive_envelope(payload: dict[str, Any]) -> dict[str, Any]:
    return {
        "envelope_id": str(uuid.uuid4()),
        "payload": payload,
        "type": "interactive",
        "accepts_response_payload": False,
    }


async def test_a_slash_command_envelope_is_acked_and_handled(
    socket_adapter: SlackAdapter, fake: FakeSlack, recorder: EventRecorder
) -> None:
    envelope = slash_envelope("status L2")
    ack = await fake.push(envelope)
    await socket_adapter.drain()
    assert ack == {"envelope_id": envelope["envelope_id"]}
    [event] = recorder.events
    assert isinstance(event, Command)
    assert (event.text, event.event_id, event.user.id, event.room.id) == (
        "status L2",
        "cmd:111.222.xxx",
        "U111",
        "C111",
    )


async def test_a_reaction_envelope_is_acked_and_handled(
    socket_adapter: SlackAdapter, fake: FakeSlack, recorder: EventRecorder
) -> None:
    envelope = events_envelope(reaction_event("reaction_added", reaction="writing_hand"))
    ack = await fake.push(envelope)
    await socket_adapter.drain()
    assert ack["envelope_id"] == envelope["envelope_id"]
    [event] = recorder.events
    assert isinstance(event, Reaction) and (event.emoji, event.added) == ("✍️", True)


async def test_a_button_envelope_is_acked_and_handled(
    socket_adapter: SlackAdapter, fake: FakeSlack, recorder: EventRecorder
) -> None:
    envelope = interactive_envelope(button_payload("undersign_sign", "5"))
    ack = await fake.push(envelope)
    await socket_adapter.drain()
    assert ack["envelope_id"] == envelope["envelope_id"]
    [event] = recorder.events
    assert isinstance(event, Command) and event.text == "sign L5"


async def test_a_redelivered_event_keeps_its_event_id(
    socket_adapter: SlackAdapter, fake: FakeSlack, recorder: EventRecorder
) -> None:
    payload = reaction_event("reaction_removed", reaction="writing_hand", event_id="EvSAME")
    await fake.push(events_envelope(payload))
    ack = await fake.push(events_envelope(payload, retry=1))
    await socket_adapter.drain()
    assert "envelope_id" in ack
    assert [e.event_id for e in recorder.events if isinstance(e, Reaction)] == ["EvSAME", "EvSAME"]


async def test_unknown_envelopes_are_acked_and_ignored(
    socket_adapter: SlackAdapter, fake: FakeSlack, recorder: EventRecorder
) -> None:
    for name in (
        "socket_mode.events_api.retry.envelope.json",
        "socket_mode.interactive.shortcut.envelope.json",
    ):
        envelope = fixture(name)
        ack = await fake.push(envelope)
        assert ack["envelope_id"] == envelope["envelope_id"]
    await socket_adapter.drain()
    assert recorder.events == []


async def test_after_a_disconnect_message_it_reconnects_and_handles_the_next_envelope(
    socket_adapter: SlackAdapter, fake: FakeSlack, recorder: EventRecorder
) -> None:
    await fake.send_disconnect()
    await fake.wait_connected(count=2)
    await fake.push(slash_envelope("list"))
    await socket_adapter.drain()
    assert [e.text for e in recorder.events if isinstance(e, Command)] == ["list"]


async def test_after_a_dropped_connection_it_reconnects_and_handles_the_next_envelope(
    socket_adapter: SlackAdapter, fake: FakeSlack, recorder: EventRecorder
) -> None:
    await fake.drop()
    await fake.wait_connected(count=2, within=10)
    await fake.push(slash_envelope("help"))
    await socket_adapter.drain()
    assert [e.text for e in recorder.events if isinstance(e, Command)] == ["help"]


async def test_a_link_that_stops_answering_pings_is_replaced(
    socket_adapter: SlackAdapter, fake: FakeSlack, recorder: EventRecorder
) -> None:
    fake.mute_pongs = True
    await fake.wait_connected(count=2, within=10)
    fake.mute_pongs = False
    await fake.push(slash_envelope("privacy"))
    await socket_adapter.drain()
    assert [e.text for e in recorder.events if isinstance(e, Command)] == ["privacy"]


async def test_a_modal_submission_is_answered_in_its_socket_mode_ack(
    socket_adapter: SlackAdapter, fake: FakeSlack, recorder: EventRecorder
) -> None:
    def submission(values: dict[str, Any], trigger: str) -> dict[str, Any]:
        body = fixture("view_submission.json")
        body["trigger_id"] = trigger
        body["view"].update(new_letter("C0ROOM0001"))
        body["view"]["state"] = {"values": {b: {b: v} for b, v in values.items()}}
        return interactive_envelope(body)

    title = {"title": {"type": "plain_text_input", "value": "A letter"}}
    late = {**title, "deadline_time": {"type": "timepicker", "selected_time": "10:00"}}
    ack = await fake.push(submission(late, "5.5.1"))
    assert ack["payload"] == {"response_action": "errors", "errors": {
        "deadline_date": "Choose a day for the deadline too, or clear its time."}}
    assert recorder.events == []
    ack = await fake.push(submission(title, "5.5.2"))
    await socket_adapter.drain()
    assert "payload" not in ack or not ack["payload"]
    [event] = recorder.events
    assert isinstance(event, Command)
    assert (event.text, event.room.id, event.event_id) == (
        'new "A letter" visibility count', "C0ROOM0001", "view:5.5.2")
