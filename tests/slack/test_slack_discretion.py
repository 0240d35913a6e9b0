"""With ``private_replies = "ephemeral"`` (the default) nothing that names a signer or says
that someone signed goes to a Slack DM or a file (workspace owners on some plans can
export DMs): it goes ephemerally — through the action's response_url or
chat.postEphemeral — or a neutral line goes to the DM instead, or nothing does."""

from __future__ import annotations

import json
import logging
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs

import pytest

from adapters import slack_response_urls as slack_module
from adapters.slack import SlackAdapter
from adapters.slack_translate import SECTION_LIMIT
from bot.events import Attachment, Private, Room, User
from tests.support.bot import Clock
from tests.support.fake_slack import FakeSlack
from tests.support.slack import ORGANIZER, ROOM, SIGNER, Slack, slack_app, slash_body

pytestmark = pytest.mark.slack

CO_ORGANIZER = "U0COORGAN1"
ELSEWHERE = "C0NOTJOINED"  # a channel the bot is not a member of
SAYS_SIGNED = ("You signed", "withdrew", "already signed", "have not signed")


def in_dms_and_files(fake: FakeSlack) -> list[str]:
    """Everything the bot wrote to a DM (after conversations.open) or into a file."""
    opened = {str(c.response["channel"]["id"]) for c in fake.calls_to("conversations.open")
              if c.response.get("ok")}
    out = [c.text + json.dumps(c.blocks) for c in fake.calls_to("chat.postMessage")
           if c.channel in opened or (c.channel or "").startswith("D")]
    out += [json.dumps(c.params) for c in fake.calls if c.method.startswith("files.")]
    out += [body.decode("utf-8", "replace") for body in fake.uploads.values()]
    return out


def assert_no_dm_or_file_names(fake: FakeSlack, *signers: str) -> None:
    for text in in_dms_and_files(fake):
        for word in (*signers, *SAYS_SIGNED):
            assert word not in text, f"{word!r} in a DM or file: {text}"


def ephemeral_to(fake: FakeSlack, user: str) -> list[str]:
    """What ``user`` was shown ephemerally, through chat.postEphemeral or a response_url."""
    out = [c.text + json.dumps(c.blocks) for c in fake.calls_to("chat.postEphemeral")
           if c.params.get("user") == user and c.response.get("ok")]
    return out + [r.shown for r in fake.responses if r.tag.startswith(user)]


def dms_to(fake: FakeSlack, user: str) -> list[str]:
    return [c.text for c in fake.calls_to("chat.postMessage") if c.channel == "D" + user[1:]]


async def letter_with_a_co_organizer_and_a_signature(slack: Slack) -> int:
    letter, _ = await slack.announce("Quiet letter", "count")
    await slack.command(ORGANIZER, f"organizer L{letter} add <@{CO_ORGANIZER}>")
    await slack.click(SIGNER, "undersign_sign", letter)
    return letter


async def test_a_close_typed_in_a_channel_shows_the_final_list_ephemerally_and_dms_only_a_neutral_line(
    slack: Slack, fake: FakeSlack
) -> None:
    letter = await letter_with_a_co_organizer_and_a_signature(slack)
    fake.display_names[SIGNER] = "Sam Signer"
    await slack.command(ORGANIZER, f"close L{letter}")
    assert any("Signed by 1:" in text and "Sam Signer" in text
               for text in ephemeral_to(fake, ORGANIZER))
    assert dms_to(fake, CO_ORGANIZER)[-1] == (
        f"L{letter} was closed by an organizer with 1 signature; "
        f"`/undersign signers L{letter}` shows the list.")
    assert not dms_to(fake, ORGANIZER)
    assert_no_dm_or_file_names(fake, SIGNER)


async def test_a_close_at_the_deadline_dms_organizers_only_a_neutral_line(
    fake: FakeSlack, tmp_path: Path
) -> None:
    clock = Clock()
    async with slack_app(fake, tmp_path, clock=clock) as slack:
        calls = await slack.command(ORGANIZER, 'new "Timed letter" deadline in 2 hours')
        [post] = [c for c in calls if c.method == "chat.postMessage" and c.channel == ROOM]
        letter = int(post.blocks[-1]["elements"][0]["value"])
        await slack.command(ORGANIZER, f"organizer L{letter} add <@{CO_ORGANIZER}>")
        await slack.click(SIGNER, "undersign_sign", letter)
        await slack.click("U0SIGNERBB", "undersign_sign", letter)
        clock.now += timedelta(hours=2)
        await slack.app.scheduler.catch_up()
        await slack.adapter.drain()
    neutral = (f"L{letter} closed at its deadline with 2 signatures; "
               f"`/undersign signers L{letter}` shows the list.")
    assert dms_to(fake, ORGANIZER)[-1] == neutral
    assert dms_to(fake, CO_ORGANIZER)[-1] == neutral
    assert any("Closed:" in c.text for c in fake.calls_to("chat.update"))
    assert_no_dm_or_file_names(fake, SIGNER, "U0SIGNERBB")


async def test_export_answers_ephemerally_with_the_csv_as_text_and_uploads_no_file(
    slack: Slack, fake: FakeSlack
) -> None:
    letter = await letter_with_a_co_organizer_and_a_signature(slack)
    calls = await slack.command(ORGANIZER, f"export L{letter}")
    [shown] = [c for c in calls if c.method == "chat.postEphemeral"]
    assert (shown.channel, shown.params["user"]) == (ROOM, ORGANIZER)
    text = "\n".join(b["text"]["text"] for b in shown.blocks)
    assert "signer,signed_at" in text and f"{SIGNER}," in text and "```" in text
    assert not fake.uploads and not [c for c in fake.calls if c.method.startswith("files.")]
    assert_no_dm_or_file_names(fake, SIGNER)


async def test_a_long_export_is_split_over_several_ephemeral_messages_under_slacks_limits(
    http_adapter: SlackAdapter, fake: FakeSlack
) -> None:
    rows = [f"U{n:010d},2026-11-26T12:00:00Z" for n in range(1500)]
    csv = "\n".join(["signer,signed_at", *rows]) + "\n"
    await http_adapter.send(Private(
        User("slack", ORGANIZER), ("L1: 1500 signatures, attached as CSV. Keep it safe.",),
        Room("slack", ROOM), Attachment("l1-signers.csv", csv.encode()), sensitive=True))
    shown = fake.calls_to("chat.postEphemeral")
    assert len(shown) >= 3
    sections = [b["text"]["text"] for c in shown for b in c.blocks]
    assert all(len(s) <= SECTION_LIMIT for s in sections)
    assert all(len(c.text) + sum(len(json.dumps(b)) for b in c.blocks) < 20_000 for c in shown)
    shown_rows = [line for s in sections if s.startswith("```")
                  for line in s.strip("`").splitlines()]
    assert shown_rows == ["signer,signed_at", *rows], "every row, once, in order"
    assert shown[0].text.startswith("L1: 1500 signatures") and "part 1 of" in shown[0].text
    assert_no_dm_or_file_names(fake, *(r.split(",")[0] for r in rows[:5]))


async def test_the_co_organizer_notice_names_nobody_but_the_letter(
    slack: Slack, fake: FakeSlack
) -> None:
    letter, _ = await slack.announce("Quiet letter", "count")
    await slack.click(SIGNER, "undersign_sign", letter)
    await slack.command(ORGANIZER, f"organizer L{letter} add <@{CO_ORGANIZER}>")
    [notice] = dms_to(fake, CO_ORGANIZER)
    assert notice.startswith(f"You are now a co-organizer of L{letter} Quiet letter.")
    assert "<@" not in notice and ORGANIZER not in notice
    assert any(f"<@{CO_ORGANIZER}> now co-organizes" in t for t in ephemeral_to(fake, ORGANIZER))
    assert_no_dm_or_file_names(fake, SIGNER, ORGANIZER)


@pytest.mark.parametrize("error", ["not_in_channel", "channel_not_found"])
async def test_a_slash_sign_where_the_bot_is_not_in_the_channel_is_answered_through_its_response_url(
    slack: Slack, fake: FakeSlack, error: str
) -> None:
    letter, _ = await slack.announce("Quiet letter", "count")
    fake.fail["chat.postEphemeral"] = error
    url = fake.response_url(f"{SIGNER}-sign")
    await slack.command(SIGNER, f"sign L{letter}", channel=ELSEWHERE, response_url=url)
    [answer] = fake.responses
    assert answer.payload["response_type"] == "ephemeral"
    assert answer.payload["replace_original"] is False
    assert answer.text.startswith(f"You signed L{letter}")
    await slack.command(SIGNER, f"unsign L{letter}", channel=ELSEWHERE,
                        response_url=fake.response_url(f"{SIGNER}-unsign"))
    assert fake.responses[-1].text.startswith(f"You withdrew from L{letter}")
    assert not dms_to(fake, SIGNER)
    assert_no_dm_or_file_names(fake, SIGNER)


async def test_a_sign_confirmation_with_no_ephemeral_way_is_dropped_not_sent_to_a_dm(
    slack: Slack, fake: FakeSlack, caplog: pytest.LogCaptureFixture
) -> None:
    letter, _ = await slack.announce("Quiet letter", "count")
    fake.fail["chat.postEphemeral"] = "not_in_channel"
    fake.response_status = 404  # the response_url expired
    await slack.command(SIGNER, f"sign L{letter}", channel=ELSEWHERE,
                        response_url=fake.response_url(f"{SIGNER}-sign"))
    assert not dms_to(fake, SIGNER) and not fake.responses
    assert_no_dm_or_file_names(fake, SIGNER)
    assert "response_url failed: HTTP 404" in caplog.text
    assert "not sent to a DM" in caplog.text
    assert SIGNER not in caplog.text and "127.0.0.1" not in caplog.text
    del fake.fail["chat.postEphemeral"]
    status = await slack.command(ORGANIZER, f"signers L{letter}")
    assert SIGNER in status[0].text, "the signature was counted all the same"


async def test_a_sign_button_is_answered_through_its_response_url_without_replacing_the_message(
    slack: Slack, fake: FakeSlack
) -> None:
    letter, _ = await slack.announce("Quiet letter", "count")
    calls = await slack.click(SIGNER, "undersign_sign", letter,
                              response_url=fake.response_url(f"{SIGNER}-click"))
    [answer] = fake.responses
    assert answer.payload == {"response_type": "ephemeral", "replace_original": False,
                              "text": answer.text, "blocks": answer.payload["blocks"]}
    assert answer.text.startswith(f"You signed L{letter}")
    assert not [c for c in calls if c.method in ("chat.postEphemeral", "conversations.open")]
    assert_no_dm_or_file_names(fake, SIGNER)


async def test_a_response_url_serves_five_answers_within_thirty_minutes_and_no_more(
    http_adapter: SlackAdapter, fake: FakeSlack, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = {"user_id": SIGNER, "channel_id": ROOM, "response_url": fake.response_url(SIGNER)}
    http_adapter._remember_response_url(body)
    reply = Private(User("slack", SIGNER), ("You signed L1",), Room("slack", ROOM),
                    sensitive=True)
    for _ in range(6):
        await http_adapter.send(reply)
    assert len(fake.responses) == 5
    assert len(fake.calls_to("chat.postEphemeral")) == 1
    http_adapter._remember_response_url(body)
    later = slack_module.time.monotonic() + 30 * 60 + 1
    monkeypatch.setattr(slack_module.time, "monotonic", lambda: later)
    await http_adapter.send(reply)
    assert len(fake.responses) == 5, "an expired response_url is not used"
    assert len(fake.calls_to("chat.postEphemeral")) == 2


async def test_a_response_url_on_another_host_is_never_fetched(
    http_adapter: SlackAdapter, fake: FakeSlack, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    form = parse_qs(slash_body("help", user=SIGNER, channel=ROOM,
                               response_url="http://evil.example/collect"))
    http_adapter._remember_response_url({k: v[0] for k, v in form.items()})
    await http_adapter.send(Private(User("slack", SIGNER), ("You signed L1",),
                                    Room("slack", ROOM), sensitive=True))
    assert not fake.responses
    assert [c.params["user"] for c in fake.calls_to("chat.postEphemeral")] == [SIGNER]
    assert "unexpected host" in caplog.text and "evil" not in caplog.text


async def test_a_sensitive_reply_without_context_sends_its_fallback_to_the_dm_or_nothing(
    http_adapter: SlackAdapter, fake: FakeSlack
) -> None:
    alice = User("slack", "U0ALICE001")
    await http_adapter.send(Private(alice, (f"Final list: <@{SIGNER}>",), sensitive=True,
                                    fallback=("L1 closed with 1 signature.",)))
    await http_adapter.send(Private(alice, (f"Final list: <@{SIGNER}>",), sensitive=True))
    assert dms_to(fake, "U0ALICE001") == ["L1 closed with 1 signature."]
    await http_adapter.send(Private(alice, ("Reminder: L1 closes tomorrow",)))
    assert dms_to(fake, "U0ALICE001")[-1] == "Reminder: L1 closes tomorrow", "not sensitive"


async def test_with_dm_replies_the_final_list_and_sign_confirmations_still_go_to_dms(
    fake: FakeSlack, tmp_path: Path
) -> None:
    async with slack_app(fake, tmp_path, private_replies="dm") as slack:
        letter = await letter_with_a_co_organizer_and_a_signature(slack)
        fake.display_names[SIGNER] = "Sam Signer"
        await slack.command(ORGANIZER, f"close L{letter}")
    assert any(t.startswith(f"You signed L{letter}") for t in dms_to(fake, SIGNER))
    for organizer in (ORGANIZER, CO_ORGANIZER):
        assert any("Signed by 1:" in t and "Sam Signer" in t for t in dms_to(fake, organizer))
    assert not fake.calls_to("chat.postEphemeral") and not fake.responses
