"""Starting a letter in a modal (from the slash command and from the shortcut), field
errors in the modal, and answers where the bot is not a member."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.support.fake_slack import FakeSlack
from tests.support.slack import ORGANIZER, ROOM, SIGNER, Slack

pytestmark = pytest.mark.slack

ELSEWHERE = "C0NOTJOIND"


def _methods(calls: list[Any]) -> list[str]:
    return [c.method for c in calls]


async def _open_modal(slack: Slack, user: str = ORGANIZER, channel: str = ROOM) -> dict[str, Any]:
    calls = await slack.command(user, "new", channel=channel)
    [opened] = [c for c in calls if c.method == "views.open"]
    assert opened.response["ok"], opened.response
    return dict(opened.response["view"])


def _values(title: str, *, link: str = "", date: str | None = None, time: str | None = None,
            visibility: str = "count", threshold: str | None = None,
            channel: str | None = None) -> dict[str, dict[str, Any]]:
    values: dict[str, dict[str, Any]] = {
        "title": {"type": "plain_text_input", "value": title},
        "link": {"type": "plain_text_input", "value": link or None},
        "deadline_date": {"type": "datepicker", "selected_date": date},
        "deadline_time": {"type": "timepicker", "selected_time": time},
        "visibility": {"type": "radio_buttons", "selected_option": {"value": visibility}},
    }
    if threshold is not None:
        values["threshold"] = {"type": "plain_text_input", "value": threshold}
    if channel is not None:
        values["channel"] = {"type": "conversations_select", "selected_conversation": channel}
    return values


def _posts(fake: FakeSlack, channel: str = ROOM) -> list[str]:
    return [c.text for c in fake.calls_to("chat.postMessage") if c.channel == channel]


async def test_new_without_arguments_opens_the_modal_with_the_trigger_within_three_seconds(
    slack: Slack, fake: FakeSlack
) -> None:
    view = await _open_modal(slack)
    assert view["callback_id"] == "undersign_new"
    assert json.loads(view["private_metadata"]) == {"channel": ROOM}
    inputs = [b["block_id"] for b in view["blocks"] if b["type"] == "input"]
    assert inputs == ["title", "link", "deadline_date", "deadline_time", "visibility"]
    radio = view["blocks"][-1]["element"]
    assert [o["value"] for o in radio["options"]] == ["count", "public", "sealed"]
    assert all(o["description"]["text"] for o in radio["options"])  # who sees what
    assert len(fake.trigger_waits) == 1 and fake.trigger_waits[0] < 3
    assert fake.calls_to("chat.postMessage") == []


async def test_a_valid_submission_closes_the_modal_and_announces_the_letter(
    slack: Slack, fake: FakeSlack
) -> None:
    fake.time_zones[ORGANIZER] = "America/Chicago"
    view = await _open_modal(slack)
    answer = await slack.submit(ORGANIZER, view, _values(
        "Open letter on the reorganisation", link="https://example.org/letter",
        date="2030-01-15", time="15:00", visibility="public"))
    assert answer == {}  # an empty ack closes the modal
    [announcement] = _posts(fake)
    assert "L1" in announcement and "Open letter on the reorganisation" in announcement
    assert "<https://example.org/letter>" in announcement
    assert "2030-01-15 21:00 UTC" in announcement  # 15:00 in the organizer's zone
    assert "public" in announcement
    ephemeral = fake.calls_to("chat.postEphemeral")
    assert any("Created L1" in c.text for c in ephemeral)


@pytest.mark.parametrize(
    ("values", "field", "words"),
    [
        ({"date": "2020-01-15", "time": "10:00"}, "deadline_date", "is in the past"),
        ({"link": "ftp://example.org/x"}, "link", "is not a web link"),
        ({"link": "https://threshold.example.org/a b"}, "link", "is not a web link"),
        ({"threshold": "3"}, "threshold", "A threshold applies only to sealed letters"),
        ({"visibility": "sealed", "threshold": ""}, "threshold", "A sealed letter needs a threshold"),
        ({"visibility": "sealed", "threshold": "zero"}, "threshold", "The threshold must be"),
        ({"title": "x" * 10_000}, "title", "a command may have at most"),
        ({"title": "x" * 300}, "title", "The title has 300 characters"),
        ({"title": "\u200b"}, "title", "The title is empty"),
        ({"time": "10:00"}, "deadline_date", "Choose a day for the deadline"),
    ],
    ids=["past-deadline", "bad-link", "link-with-space", "threshold-without-sealed",
         "sealed-without-threshold", "bad-threshold", "title-10000", "title-300", "blank-title",
         "time-without-day"],
)
async def test_a_bad_submission_comes_back_as_a_field_error_with_the_commands_words(
    slack: Slack, fake: FakeSlack, values: dict[str, Any], field: str, words: str
) -> None:
    calls = await slack.command(ORGANIZER, "new")
    [opened] = [c for c in calls if c.method == "views.open"]
    sealed_view = values.get("threshold") is not None
    view = dict(opened.response["view"])
    if sealed_view:  # the threshold field shows once sealed was picked (then maybe unpicked)
        await slack.choose(ORGANIZER, view, "visibility", "sealed")
        view = fake.views[view["id"]]
    title = values.pop("title", "A letter")
    answer = await slack.submit(ORGANIZER, view, _values(title, **values))
    assert answer["response_action"] == "errors"
    assert list(answer["errors"]) == [field]
    assert words in answer["errors"][field]
    assert _posts(fake) == []
    assert [c for c in fake.calls_to("chat.postEphemeral") if "Usage" in c.text] == []


async def test_the_threshold_field_shows_only_for_a_sealed_letter(
    slack: Slack, fake: FakeSlack
) -> None:
    view = await _open_modal(slack)
    await slack.choose(ORGANIZER, view, "visibility", "sealed")
    updated = fake.views[view["id"]]
    assert "threshold" in [b.get("block_id") for b in updated["blocks"]]
    await slack.choose(ORGANIZER, updated, "visibility", "count")
    assert "threshold" not in [b.get("block_id") for b in fake.views[view["id"]]["blocks"]]


async def test_a_sealed_letter_started_in_the_modal_keeps_its_threshold(
    slack: Slack, fake: FakeSlack
) -> None:
    view = await _open_modal(slack)
    await slack.choose(ORGANIZER, view, "visibility", "sealed")
    answer = await slack.submit(ORGANIZER, fake.views[view["id"]],
                                _values('She said "no" — it\'s “final”', visibility="sealed",
                                        threshold="5"))
    assert answer == {}
    [announcement] = _posts(fake)
    assert "until 5 have signed" in announcement
    assert "She said \"no\" — it's “final”" in announcement.replace("&quot;", '"')


async def test_the_shortcut_opens_the_modal_with_a_channel_to_choose(
    slack: Slack, fake: FakeSlack
) -> None:
    calls = await slack.shortcut(ORGANIZER)
    [opened] = [c for c in calls if c.method == "views.open"]
    view = dict(opened.response["view"])
    assert view["blocks"][0]["element"]["type"] == "conversations_select"
    assert json.loads(view["private_metadata"]) == {"channel": None}
    answer = await slack.submit(ORGANIZER, view, _values("From the shortcut", channel="C0OTHER01"))
    assert answer == {}
    [announcement] = _posts(fake, "C0OTHER01")
    assert "From the shortcut" in announcement


async def test_the_shortcut_refuses_a_channel_the_bot_is_not_in_beside_the_channel(
    slack: Slack, fake: FakeSlack
) -> None:
    fake.not_member.add(ELSEWHERE)
    calls = await slack.shortcut(ORGANIZER)
    [opened] = [c for c in calls if c.method == "views.open"]
    answer = await slack.submit(ORGANIZER, dict(opened.response["view"]),
                                _values("Elsewhere", channel=ELSEWHERE))
    assert answer["response_action"] == "errors"
    assert "/invite @undersign" in answer["errors"]["channel"]
    assert fake.calls_to("chat.postMessage") == []


async def test_a_command_where_the_bot_is_not_a_member_is_answered_once_through_its_response_url(
    slack: Slack, fake: FakeSlack
) -> None:
    fake.not_member.add(ELSEWHERE)
    for text in ('new "Somewhere else"', "new", "announce L1"):
        calls = await slack.command(ORGANIZER, text, channel=ELSEWHERE,
                                    response_url=fake.response_url(text))
        assert _methods(calls) == ["conversations.info"]  # no post, no ephemeral, no DM
    assert [r.tag for r in fake.responses] == ['new "Somewhere else"', "new", "announce L1"]
    for response in fake.responses:
        assert response.payload["response_type"] == "ephemeral"
        assert "/invite @undersign" in response.text
        assert "sign, withdraw, status" in response.text
    # and nothing was started there
    await slack.command(ORGANIZER, "mine", channel=ELSEWHERE, response_url=fake.response_url("m"))
    assert "You organize no letter" in fake.responses[-1].text


async def test_commands_that_answer_only_the_caller_work_where_the_bot_is_not_a_member(
    slack: Slack, fake: FakeSlack
) -> None:
    letter, _ = await slack.announce("Letter", "count")
    fake.not_member.add(ELSEWHERE)
    calls = await slack.command(SIGNER, f"sign L{letter}", channel=ELSEWHERE,
                                response_url=fake.response_url("sign"))
    assert "conversations.open" not in _methods(calls)
    assert "chat.postEphemeral" not in _methods(calls)
    [answer] = fake.responses
    assert answer.payload["response_type"] == "ephemeral"
    assert f"You signed L{letter}" in answer.text


async def test_a_200_character_title_fits_every_message_and_modal(
    slack: Slack, fake: FakeSlack
) -> None:
    title = "T" * 199 + "*"
    view = await _open_modal(slack)
    assert await slack.submit(ORGANIZER, view, _values(title, visibility="public")) == {}
    await slack.open_home(ORGANIZER)
    assert title.rstrip("*") in slack.home(ORGANIZER)
    assert len(_posts(fake)) == 1  # and the fake found every block valid (see the fixture)


async def test_a_private_channel_the_bot_cannot_see_is_answered_the_same_way(
    slack: Slack, fake: FakeSlack
) -> None:
    fake.fail["conversations.info"] = "channel_not_found"  # private, and the bot not in it
    await slack.command(ORGANIZER, 'new "Private"', channel="G0PRIVATE1",
                        response_url=fake.response_url("private"))
    [answer] = fake.responses
    assert "/invite @undersign" in answer.text
    assert fake.calls_to("chat.postMessage") == []


@pytest.mark.parametrize(
    ("text", "refused"),
    [
        ("review L1 in 2 days", True),
        ('remind L1 in 2 days "Sign!"', True),
        ('remind L1 in 2 days "Sign!" to room', True),
        ('remind L1 in 2 days "Sign!" to signers', False),
        ("status L1", False),
    ],
)
async def test_only_what_would_post_in_the_room_asks_for_an_invitation(
    slack: Slack, fake: FakeSlack, text: str, refused: bool
) -> None:
    await slack.announce("Letter", "count")
    fake.not_member.add(ELSEWHERE)
    await slack.command(ORGANIZER, text, channel=ELSEWHERE, response_url=fake.response_url("t"))
    [answer] = fake.responses
    assert ("/invite @undersign" in answer.text) is refused
