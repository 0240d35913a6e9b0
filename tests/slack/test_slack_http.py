"""HTTP mode: Slack's signed requests to /slack/events, as Slack sends them."""

from __future__ import annotations

import json
import time

import pytest

from adapters.slack import SlackAdapter
from bot.events import Command, Reaction, Room, Standing, User
from tests.support.fake_slack import FakeSlack
from tests.support.slack import (
    FORM,
    JSON,
    EventRecorder,
    button_payload,
    fixture,
    form_payload,
    make_adapter,
    post_signed,
    reaction_event,
    slash_body,
)

pytestmark = pytest.mark.slack


async def test_a_signed_slash_command_is_acknowledged_and_becomes_a_command(
    http_adapter: SlackAdapter, recorder: EventRecorder, fake: FakeSlack
) -> None:
    status, body = await post_signed(http_adapter, slash_body("sign L1"), FORM)
    await http_adapter.drain()
    assert (status, body) == (200, "")
    assert recorder.events == [
        Command(
            event_id="cmd:2093168434705.1761091294307.7f8d01a322363a013721e32e83af484b",
            user=User("slack", "U01NK1K9L68"),
            room=Room("slack", "C01N639ECTY"),
            text="sign L1",
            seen_by_room=False,
            tz="Europe/Berlin",
            standing=Standing("T01ND2P8N91", True),  # a full member of the bot's workspace
        )
    ]


async def test_the_time_zone_is_asked_once_per_user(
    http_adapter: SlackAdapter, recorder: EventRecorder, fake: FakeSlack
) -> None:
    fake.time_zones["U01NK1K9L68"] = "America/Chicago"
    for n in range(3):
        await post_signed(http_adapter, slash_body("list", trigger=f"1.2.{n}"), FORM)
    await http_adapter.drain()
    assert [e.tz for e in recorder.events if isinstance(e, Command)] == ["America/Chicago"] * 3
    assert len(fake.calls_to("users.info")) == 1


async def test_an_empty_slash_command_has_empty_text(
    http_adapter: SlackAdapter, recorder: EventRecorder
) -> None:
    status, _ = await post_signed(http_adapter, slash_body(""), FORM)
    await http_adapter.drain()
    assert status == 200
    assert isinstance(recorder.events[0], Command) and recorder.events[0].text == ""


@pytest.mark.parametrize(
    ("secret", "age"),
    [("not-the-secret", 0), (None, 6 * 60), (None, -6 * 60)],
    ids=["bad-signature", "stale-timestamp", "future-timestamp"],
)
async def test_a_badly_signed_or_stale_request_gets_401_and_changes_nothing(
    http_adapter: SlackAdapter, recorder: EventRecorder, fake: FakeSlack, secret: str | None, age: int
) -> None:
    calls_before = len(fake.calls)
    kwargs = {"secret": secret} if secret else {}
    status, _ = await post_signed(
        http_adapter, slash_body("sign L1"), FORM, timestamp=int(time.time()) - age, **kwargs
    )
    await http_adapter.drain()
    assert status == 401
    assert recorder.events == []
    assert len(fake.calls) == calls_before


async def test_a_changed_body_gets_401(http_adapter: SlackAdapter, recorder: EventRecorder) -> None:
    import aiohttp

    from tests.support.slack import signature

    ts = int(time.time())
    headers = {
        "Content-Type": FORM,
        "X-Slack-Request-Timestamp": str(ts),
        "X-Slack-Signature": signature(slash_body("status L1"), ts),
    }
    url = f"http://127.0.0.1:{http_adapter.http_port}/slack/events"
    async with (
        aiohttp.ClientSession() as s,
        s.post(url, data=slash_body("sign L1"), headers=headers) as r,
    ):
        assert r.status == 401
    assert recorder.events == []


async def test_reactions_become_reactions_with_the_sign_emoji_as_configured(
    http_adapter: SlackAdapter, recorder: EventRecorder
) -> None:
    added = reaction_event("reaction_added", reaction="writing_hand::skin-tone-3", event_id="Ev1")
    removed = reaction_event("reaction_removed", reaction="writing_hand", event_id="Ev2")
    other = reaction_event("reaction_added", reaction="heart_eyes", event_id="Ev3")
    for body in (added, removed, other):
        assert (await post_signed(http_adapter, json.dumps(body), JSON))[0] == 200
    await http_adapter.drain()
    room, user = Room("slack", "C0ROOM0001"), User("slack", "U0SIGNER01")
    assert recorder.events == [
        Reaction("Ev1", user, room, "1700000000.000001", "✍️", True,
                 standing=Standing("T01ND2P8N91", True)),  # a sign: who may, asked of Slack
        Reaction("Ev2", user, room, "1700000000.000001", "✍️", False),
        Reaction("Ev3", user, room, "1700000000.000001", ":heart_eyes:", True),
    ]


async def test_the_older_envelope_with_authed_users_is_read_too(
    http_adapter: SlackAdapter, recorder: EventRecorder
) -> None:
    body = fixture("event_callback.reaction_added.json")
    await post_signed(http_adapter, json.dumps(body), JSON)
    await http_adapter.drain()
    assert recorder.events == [
        Reaction(
            "Ev111",
            User("slack", "W111"),
            Room("slack", "C111"),
            "1599529504.000400",
            ":heart_eyes:",
            True,
        )
    ]


async def test_a_retried_event_is_acknowledged_at_once_with_the_same_event_id(
    http_adapter: SlackAdapter, recorder: EventRecorder
) -> None:
    body = json.dumps(reaction_event("reaction_added", reaction="writing_hand", event_id="EvRETRY"))
    first = await post_signed(http_adapter, body, JSON)
    again = await post_signed(http_adapter, body, JSON, retry=1)
    await http_adapter.drain()
    assert first == again == (200, "")
    # The core de-duplicates on event_id in the transaction of the change.
    assert [e.event_id for e in recorder.events if isinstance(e, Reaction)] == [
        "EvRETRY",
        "EvRETRY",
    ]


async def test_a_sign_button_click_becomes_a_private_sign_command(
    http_adapter: SlackAdapter, recorder: EventRecorder
) -> None:
    click = button_payload("undersign_sign", "3")
    status, _ = await post_signed(http_adapter, form_payload(click), FORM)
    await http_adapter.drain()
    assert status == 200
    [event] = recorder.events
    assert isinstance(event, Command)
    assert (event.text, event.seen_by_room, event.room) == (
        "sign L3",
        False,
        Room("slack", "C01N9PM1D53"),
    )
    assert event.event_id == f"act:{click['trigger_id']}"
    assert event.user == User("slack", "U01NK1K9L68")


async def test_a_withdraw_click_on_an_ephemeral_message_in_an_org_wide_install(
    fake: FakeSlack, recorder: EventRecorder
) -> None:
    adapter = make_adapter(fake, allowed_teams=["T_expected"])
    await adapter.start(recorder)
    try:
        click = button_payload(
            "undersign_withdraw", "12", user="W111", channel="C111", org_wide=True
        )
        assert "message" not in click and click["team"] is None
        status, _ = await post_signed(adapter, form_payload(click), FORM)
        await adapter.drain()
    finally:
        await adapter.stop()
    assert status == 200
    [event] = recorder.events
    assert isinstance(event, Command) and event.text == "unsign L12"


async def test_a_workspace_not_allowed_is_refused_privately(
    fake: FakeSlack, recorder: EventRecorder
) -> None:
    adapter = make_adapter(fake, allowed_teams=["T0OTHER"])
    await adapter.start(recorder)
    try:
        await post_signed(adapter, slash_body("sign L1"), FORM)
        await post_signed(adapter, form_payload(button_payload("undersign_sign", "1")), FORM)
        await post_signed(
            adapter, json.dumps(reaction_event("reaction_added", reaction="writing_hand")), JSON
        )
        await adapter.drain()
    finally:
        await adapter.stop()
    assert recorder.events == []
    refusals = fake.calls_to("chat.postEphemeral")
    assert len(refusals) == 2
    assert all("not enabled" in c.text for c in refusals)
    assert not fake.calls_to("chat.postMessage")


async def test_url_verification_is_answered(http_adapter: SlackAdapter) -> None:
    status, body = await post_signed(
        http_adapter, json.dumps(fixture("url_verification.json")), JSON
    )
    assert status == 200 and json.loads(body) == {"challenge": "here-comes-a-challenge"}


async def test_other_events_and_actions_are_acknowledged_and_ignored(
    http_adapter: SlackAdapter, recorder: EventRecorder
) -> None:
    foreign = button_payload("button-action", "click_me_123")
    status, _ = await post_signed(http_adapter, form_payload(foreign), FORM)
    await http_adapter.drain()
    assert status == 200 and recorder.events == []
