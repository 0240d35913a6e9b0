"""Sending: Block Kit announcements, edits, private replies, files, escaping, rate limits."""

from __future__ import annotations

import asyncio
import re
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.slack import SlackAdapter
from adapters.slack_pacing import Limit
from adapters.slack_translate import escape, reaction_emoji, render
from bot.events import (
    Attachment,
    Edit,
    Link,
    Person,
    Post,
    Private,
    Redact,
    Room,
    Said,
    Strong,
    User,
)
from tests.support.fake_slack import FakeSlack
from tests.support.slack import EventRecorder, make_adapter

pytestmark = pytest.mark.slack

ROOM = Room("slack", "C0ROOM0001")
ALICE = User("slack", "U0ALICE001")
HOSTILE = "<!channel> <!here> <@U0BOSS0001> <http://evil.example|click me> & *bold*"


async def test_an_announcement_has_sign_and_withdraw_buttons_and_returns_its_ts(
    http_adapter: SlackAdapter, fake: FakeSlack
) -> None:
    ts = await http_adapter.send(
        Post(ROOM, ("L3: ", Strong("Letter"), " — 0 signers"), announces=3)
    )
    [call] = fake.calls_to("chat.postMessage")
    assert ts is not None and ts.startswith("1700000000.")
    assert call.channel == "C0ROOM0001"
    assert call.text == "L3: *Letter* — 0 signers"
    section, actions = call.blocks
    assert section == {"type": "section", "text": {"type": "mrkdwn", "text": call.text}}
    buttons = {b["action_id"]: b["value"] for b in actions["elements"] if b["type"] == "button"}
    assert buttons == {"undersign_sign": "3", "undersign_withdraw": "3"}
    [menu] = [b for b in actions["elements"] if b["type"] == "overflow"]
    assert [o["value"] for o in menu["options"]] == [
        "privacy:3", "edit:3", "final:3", "close:3"]


async def test_a_plain_post_has_no_buttons(http_adapter: SlackAdapter, fake: FakeSlack) -> None:
    await http_adapter.send(Post(ROOM, ("Reminder: review at 15:00",)))
    [call] = fake.calls_to("chat.postMessage")
    assert [b["type"] for b in call.blocks] == ["section"]


async def test_an_edit_updates_the_message_in_place(
    http_adapter: SlackAdapter, fake: FakeSlack
) -> None:
    ts = await http_adapter.send(Edit(ROOM, "1700000000.000042", ("2 signers",), announces=3))
    [call] = fake.calls_to("chat.update")
    assert (call.channel, call.params["ts"], call.text) == (
        "C0ROOM0001",
        "1700000000.000042",
        "2 signers",
    )
    assert ts == "1700000000.000042"
    assert call.blocks[-1]["type"] == "actions"


async def test_a_hostile_title_cannot_ping_or_link(
    http_adapter: SlackAdapter, fake: FakeSlack
) -> None:
    await http_adapter.send(Post(ROOM, ("New letter: ", Said(HOSTILE)), announces=1))
    [call] = fake.calls_to("chat.postMessage")
    for text in (call.text, call.blocks[0]["text"]["text"]):
        assert "<" not in text and ">" not in text
        assert "&lt;!channel&gt; &lt;!here&gt; &lt;@U0BOSS0001&gt;" in text
        assert "&amp; \u200b*\u200bbold\u200b*\u200b" in text, "no bold from user text"


def test_links_and_people_render_as_slack_markup() -> None:
    assert render((Link("https://example.org/a?b=1&c=<2>|x"),)) == (
        "<https://example.org/a?b=1&amp;c=&lt;2&gt;%7Cx>"
    )
    assert render((Person(ALICE),)) == "<@U0ALICE001>"


@given(st.text())
def test_said_text_never_forms_slack_markup(text: str) -> None:
    out = render((Said(text),))
    assert "<" not in out and ">" not in out
    assert re.search(r"(?<!\u200b)[*_~`]|[*_~`](?!\u200b)", out) is None, "formatting escaped"
    shown = out.replace("\u200b", "")
    assert shown.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&") == (
        text.replace("\u200b", ""))
    assert escape(text.replace("\u200b", "")) == shown.replace("\u200b", "")


@pytest.mark.parametrize(
    ("short_name", "configured", "expected"),
    [
        ("writing_hand", "✍️", "✍️"),
        ("writing_hand::skin-tone-5", "✍️", "✍️"),
        ("writing_hand", "✍", "✍"),  # configured without U+FE0F: handed back as configured
        ("+1", "👍", "👍"),
        ("thumbsup::skin-tone-2", "👍", "👍"),
        ("white_check_mark", ":white_check_mark:", ":white_check_mark:"),
        ("heart_eyes", "✍️", ":heart_eyes:"),
        ("+1", "✍️", "👍"),
    ],
)
def test_reaction_short_names_become_the_configured_sign_emoji(
    short_name: str, configured: str, expected: str
) -> None:
    assert reaction_emoji(short_name, configured) == expected


async def test_private_replies_are_ephemeral_in_the_room_where_the_user_acted(
    http_adapter: SlackAdapter, fake: FakeSlack
) -> None:
    await http_adapter.send(Private(ALICE, ("You signed ", Said("L1")), context=ROOM))
    [call] = fake.calls_to("chat.postEphemeral")
    assert (call.channel, call.params["user"]) == ("C0ROOM0001", "U0ALICE001")
    assert not fake.calls_to("chat.postMessage")


async def test_private_replies_are_dms_when_configured(fake: FakeSlack) -> None:
    adapter = make_adapter(fake, private_replies="dm")
    await adapter.start(EventRecorder())
    try:
        await adapter.send(Private(ALICE, ("You signed",), context=ROOM))
        await adapter.send(Private(ALICE, ("Still signed",), context=ROOM))
    finally:
        await adapter.stop()
    assert len(fake.calls_to("conversations.open")) == 1  # the DM channel is remembered
    posts = fake.calls_to("chat.postMessage")
    assert [c.channel for c in posts] == ["D0ALICE001", "D0ALICE001"]
    assert not fake.calls_to("chat.postEphemeral")


async def test_a_private_reply_without_context_goes_to_a_dm(
    http_adapter: SlackAdapter, fake: FakeSlack
) -> None:
    await http_adapter.send(Private(ALICE, ("Reminder for signers",)))
    assert [c.channel for c in fake.calls_to("chat.postMessage")] == ["D0ALICE001"]


async def test_an_ephemeral_reply_in_a_channel_without_the_bot_falls_back_to_a_dm(
    http_adapter: SlackAdapter, fake: FakeSlack
) -> None:
    fake.fail["chat.postEphemeral"] = "channel_not_found"
    await http_adapter.send(Private(ALICE, ("You signed",), context=ROOM))
    assert [c.channel for c in fake.calls_to("chat.postMessage")] == ["D0ALICE001"]


async def test_with_dm_replies_an_export_is_uploaded_as_a_csv_file_to_a_dm(
    fake: FakeSlack,
) -> None:
    csv = b"signer,signed at\nU0BOB00001,2026-01-01T10:00:00Z\n"
    adapter = make_adapter(fake, private_replies="dm")
    await adapter.start(EventRecorder())
    try:
        await adapter.send(Private(ALICE, ("Export of L1",), context=ROOM,
                                   attachment=Attachment("L1.csv", csv), sensitive=True))
    finally:
        await adapter.stop()
    assert list(fake.uploads.values()) == [csv]
    [done] = fake.calls_to("files.completeUploadExternal")
    assert done.channel == "D0ALICE001"
    assert not fake.calls_to("chat.postEphemeral")
    assert not [c for c in fake.calls_to("chat.postMessage") if c.channel == "C0ROOM0001"]


async def test_redact_does_nothing_on_slack(http_adapter: SlackAdapter, fake: FakeSlack) -> None:
    before = len(fake.calls)
    assert await http_adapter.send(Redact(ROOM, "1700000000.000001")) is None
    assert len(fake.calls) == before


async def test_a_platform_fault_is_logged_not_raised(
    http_adapter: SlackAdapter, fake: FakeSlack, caplog: pytest.LogCaptureFixture
) -> None:
    fake.fail["chat.postMessage"] = "channel_not_found"
    assert await http_adapter.send(Post(ROOM, ("New letter: ", Said("Secret title")))) is None
    assert "channel_not_found" in caplog.text
    assert "Secret title" not in caplog.text and "C0ROOM0001" not in caplog.text


async def test_a_429_is_waited_out_and_the_message_delivered(
    http_adapter: SlackAdapter, fake: FakeSlack
) -> None:
    fake.force_429["chat.postMessage"] = 1
    started = time.monotonic()
    ts = await http_adapter.send(Post(ROOM, ("hello",)))
    assert ts is not None
    assert fake.rate_limited == ["chat.postMessage"]
    assert 1.0 <= time.monotonic() - started < 4


async def test_a_fan_out_of_private_messages_is_paced_under_the_limit(fake: FakeSlack) -> None:
    """40 DMs against conversations.open limited to 20/s with a burst of 5: no 429 at all,
    and done close to the minimum time, (40 - 5) / 20 = 1.75 s."""
    limit = Limit(20, 5)
    from tests.support.fake_slack import Bucket

    fake.limits["conversations.open"] = Bucket(limit.rate, limit.burst + 1)
    adapter = make_adapter(
        fake,
        limits={"conversations.open": limit, "chat.postMessage": Limit(200, 50)},
        private_replies="dm",
    )
    await adapter.start(EventRecorder())
    try:
        users = [User("slack", f"U{n:09d}") for n in range(40)]
        started = time.monotonic()
        results = await asyncio.gather(*(adapter.send(Private(u, ("Reminder",))) for u in users))
        elapsed = time.monotonic() - started
    finally:
        await adapter.stop()
    assert fake.rate_limited == []
    assert len(fake.calls_to("chat.postMessage")) == 40 and all(results)
    assert 1.5 <= elapsed < 3.0


async def test_a_burst_of_edits_to_one_announcement_sends_fewer_updates_ending_with_the_newest(
    fake: FakeSlack,
) -> None:
    adapter = make_adapter(fake, limits={"chat.update": Limit(5, 1)})
    await adapter.start(EventRecorder())
    try:
        edits = [Edit(ROOM, "1700000000.000042", (f"{n} signers",), announces=3)
                 for n in range(1, 21)]
        started = time.monotonic()
        results = await asyncio.gather(*(adapter.send(e) for e in edits))
        elapsed = time.monotonic() - started
    finally:
        await adapter.stop()
    calls = fake.calls_to("chat.update")
    assert all(r == "1700000000.000042" for r in results)
    assert calls[-1].text == "20 signers", "the newest count is the one left standing"
    assert len(calls) <= 3, f"{len(calls)} updates for one burst"
    assert elapsed < 2.0
