"""Editing a letter in a modal from its announcement's overflow menu, and the final
signature block from that menu and from the Home tab: organizers only, answered in modals
and field errors, never in a message or a direct message."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.support.block_kit import assert_view_valid
from tests.support.fake_slack import FakeSlack
from tests.support.slack import ORGANIZER, OTHER, ROOM, SIGNER, Slack

pytestmark = pytest.mark.slack

EDIT_FIELDS = ["title", "link", "deadline_date", "deadline_time", "deadline_none", "visibility"]


async def _edit_modal(slack: Slack, letter: int, user: str = ORGANIZER) -> dict[str, Any]:
    calls = await slack.menu(user, f"edit:{letter}")
    [opened] = [c for c in calls if c.method == "views.open"]
    assert opened.response["ok"], opened.response
    return dict(opened.response["view"])


def _values(*, title: str | None = None, link: str | None = None, date: str | None = None,
            time: str | None = None, no_deadline: bool = False, visibility: str | None = None,
            threshold: str | None = None) -> dict[str, dict[str, Any]]:
    """What Slack sends for the Edit modal: every field, empty where nothing was filled in."""
    values: dict[str, dict[str, Any]] = {
        "title": {"type": "plain_text_input", "value": title},
        "link": {"type": "plain_text_input", "value": link},
        "deadline_date": {"type": "datepicker", "selected_date": date},
        "deadline_time": {"type": "timepicker", "selected_time": time},
        "deadline_none": {"type": "checkboxes", "selected_options": [
            {"value": "none"}] if no_deadline else []},
        "visibility": {"type": "radio_buttons",
                       "selected_option": {"value": visibility} if visibility else None},
    }
    if threshold is not None:
        values["threshold"] = {"type": "plain_text_input", "value": threshold}
    return values


def _updates(fake: FakeSlack) -> list[str]:
    return [c.text for c in fake.calls_to("chat.update") if c.channel == ROOM]


def _never_in_a_message(fake: FakeSlack, *words: str) -> None:
    """Nothing with ``words`` was posted, sent ephemerally or sent to a DM."""
    for call in fake.calls_to("chat.postMessage") + fake.calls_to("chat.postEphemeral"):
        shown = call.text + json.dumps(call.blocks)
        assert not any(w in shown for w in words), shown
    assert not [r for r in fake.responses if any(w in r.shown for w in words)]
    assert fake.calls_to("conversations.open") == []


async def test_edit_in_the_menu_opens_the_edit_modal_within_three_seconds(
    slack: Slack, fake: FakeSlack
) -> None:
    letter, _ = await slack.announce("Letter", "count")
    posted = len(fake.calls_to("chat.postMessage"))
    view = await _edit_modal(slack, letter)
    assert view["callback_id"] == "undersign_edit"
    assert json.loads(view["private_metadata"]) == {"letter": letter, "channel": ROOM}
    inputs = [b for b in view["blocks"] if b["type"] == "input"]
    assert [b["block_id"] for b in inputs] == EDIT_FIELDS
    assert all(b["optional"] for b in inputs)
    assert "initial_option" not in inputs[-1]["element"]  # none chosen: unchanged
    assert "empty fields stay as they are" in json.dumps(view)
    assert len(fake.trigger_waits) == 1 and fake.trigger_waits[0] < 3
    assert len(fake.calls_to("chat.postMessage")) == posted


async def test_a_valid_edit_closes_the_modal_and_updates_the_announcement_as_a_new_version(
    slack: Slack, fake: FakeSlack
) -> None:
    letter, _ = await slack.announce("Open letter on pay", "count")
    await slack.click(SIGNER, "undersign_sign", letter)
    view = await _edit_modal(slack, letter)
    answer = await slack.submit(ORGANIZER, view, _values(
        title='Open letter on "fair" pay', link="https://example.org/v2"))
    assert answer == {}  # an empty ack closes the modal
    announcement = _updates(fake)[-1].replace("&quot;", '"')
    assert 'Open letter on "fair" pay' in announcement
    assert "<https://example.org/v2>" in announcement and "Version 2" in announcement
    assert any("This is version 2" in c.text for c in fake.calls_to("chat.postEphemeral")
               if c.params.get("user") == ORGANIZER)


async def test_an_edit_sets_a_deadline_in_the_organizers_zone_and_removes_it(
    slack: Slack, fake: FakeSlack
) -> None:
    fake.time_zones[ORGANIZER] = "America/Chicago"
    letter, _ = await slack.announce("Letter", "public")
    view = await _edit_modal(slack, letter)
    assert await slack.submit(ORGANIZER, view, _values(date="2030-01-15", time="15:00")) == {}
    assert "Deadline: Tue 2030-01-15 21:00 UTC" in _updates(fake)[-1]
    view = await _edit_modal(slack, letter)
    assert await slack.submit(ORGANIZER, view, _values(no_deadline=True)) == {}
    assert "Deadline" not in _updates(fake)[-1]
    assert "Version" not in _updates(fake)[-1]  # nobody had signed: changed in place


async def test_the_threshold_shows_in_the_edit_modal_once_sealed_is_picked(
    slack: Slack, fake: FakeSlack
) -> None:
    letter, _ = await slack.announce("Letter", "count")
    view = await _edit_modal(slack, letter)
    await slack.choose(ORGANIZER, view, "visibility", "sealed")
    updated = fake.views[view["id"]]
    assert updated["callback_id"] == "undersign_edit"
    [radio] = [b for b in updated["blocks"] if b.get("block_id") == "visibility"]
    assert radio["element"]["initial_option"]["value"] == "sealed"
    assert "threshold" in [b.get("block_id") for b in updated["blocks"]]
    answer = await slack.submit(ORGANIZER, updated, _values(visibility="sealed", threshold="4"))
    assert answer == {}
    assert "until 4 have signed" in _updates(fake)[-1]


@pytest.mark.parametrize(
    ("visibility", "values", "field", "words"),
    [
        ("count", {"date": "2020-01-15", "time": "10:00"}, "deadline_date", "is in the past"),
        ("count", {"link": "ftp://example.org/x"}, "link", "is not a web link"),
        ("count", {"visibility": "public"}, "visibility",
         "its visibility can only become more private"),
        ("sealed threshold 5", {"visibility": "sealed", "threshold": "3"}, "threshold",
         "its threshold can only be raised"),
        ("count", {}, "title", "Say what to change"),
        ("count", {"title": "Letter"}, "title", "nothing was changed"),
        ("count", {"date": "2030-01-15", "no_deadline": True}, "deadline_date",
         "or remove it: not both"),
    ],
    ids=["past-deadline", "bad-link", "less-private-once-signed", "threshold-lowered",
         "nothing-filled-in", "nothing-to-change", "day-and-no-deadline"],
)
async def test_a_refused_edit_comes_back_beside_its_field_and_changes_nothing(
    slack: Slack, fake: FakeSlack, visibility: str, values: dict[str, Any], field: str,
    words: str
) -> None:
    letter, _ = await slack.announce("Letter", visibility)
    await slack.click(SIGNER, "undersign_sign", letter)
    view = await _edit_modal(slack, letter)
    if "threshold" in values:
        await slack.choose(ORGANIZER, view, "visibility", "sealed")
        view = fake.views[view["id"]]
    before = _updates(fake)
    answer = await slack.submit(ORGANIZER, view, _values(**values))
    assert answer["response_action"] == "errors"
    assert list(answer["errors"]) == [field]
    assert words in answer["errors"][field]
    assert _updates(fake) == before
    assert not [c for c in fake.calls_to("chat.postEphemeral") if "Usage" in c.text]


async def test_an_edit_from_someone_who_does_not_organize_the_letter_is_refused(
    slack: Slack, fake: FakeSlack
) -> None:
    letter, _ = await slack.announce("Letter", "count")
    view = await _edit_modal(slack, letter, SIGNER)
    answer = await slack.submit(SIGNER, view, _values(title="Taken over"))
    assert answer == {"response_action": "errors", "errors": {
        "title": f"Only the organizers of L{letter} can do that."}}
    assert fake.calls_to("chat.update") == []
    _never_in_a_message(fake, "Taken over", "Only the organizers of L")


async def _three_signers(slack: Slack) -> int:
    """A count letter signed by Zoe and Abe (by their display names) and by someone who
    asked not to be named, Zoe first: the block is alphabetical, never in signing order."""
    slack.fake.display_names.update({SIGNER: "Zoe Signer", OTHER: "Abe Other"})
    letter, _ = await slack.announce("Letter", "count")
    await slack.click(SIGNER, "undersign_sign", letter)
    await slack.command(OTHER, f"sign L{letter}")
    await slack.command("U0QUIETONE", f"sign L{letter} as anonymous")
    return letter


async def _final_shown(slack: Slack, user: str, source: str, letter: int) -> str:
    """What the modal opened by Final (in the announcement's menu, or on the Home tab)
    shows ``user``."""
    if source == "menu":
        calls = await slack.menu(user, f"final:{letter}")
    else:
        await slack.open_home(user)
        calls = await slack.home_click(user, "undersign_home_final", letter)
    [opened] = [c for c in calls if c.method == "views.open"]
    assert opened.response["ok"] and slack.fake.trigger_waits[-1] < 3
    assert_view_valid(opened.params["view"])
    return json.dumps(opened.params["view"])


@pytest.mark.parametrize("source", ["menu", "home"])
async def test_final_shows_organizers_the_alphabetical_block_in_a_modal_and_others_a_refusal(
    slack: Slack, fake: FakeSlack, source: str
) -> None:
    letter = await _three_signers(slack)
    shown = await _final_shown(slack, ORGANIZER, source, letter)
    assert "Signed by 3:\\nAbe Other\\nZoe Signer\\nand 1 other" in shown
    refused = await _final_shown(slack, SIGNER, source, letter)
    assert f"Only the organizers of L{letter} can do that." in refused
    assert "Signed by" not in refused and "Abe Other" not in refused
    _never_in_a_message(fake, "Signed by", "Abe Other", "Zoe Signer", "Only the organizers of L")


async def test_a_final_block_slower_than_the_trigger_opens_as_being_prepared_then_fills_in(
    slack: Slack, fake: FakeSlack
) -> None:
    letter = await _three_signers(slack)
    fake.delays["users.info"] = 1.2  # two display names: past the 2 s a modal waits
    calls = await slack.menu(ORGANIZER, f"final:{letter}")
    [opened] = [c for c in calls if c.method == "views.open"]
    assert opened.response["ok"] and fake.trigger_waits[-1] < 3
    assert "Preparing the answer" in json.dumps(opened.params["view"])
    [filled] = [c for c in calls if c.method == "views.update"]
    assert filled.params["view_id"] == opened.response["view"]["id"]
    assert "Signed by 3:\\nAbe Other\\nZoe Signer" in json.dumps(fake.views[filled.params["view_id"]])
    _never_in_a_message(fake, "Signed by", "Abe Other", "Zoe Signer")


async def test_a_close_whose_final_block_is_slow_shows_it_in_the_modal_when_ready(
    slack: Slack, fake: FakeSlack
) -> None:
    letter = await _three_signers(slack)
    [opened] = [c for c in await slack.menu(ORGANIZER, f"close:{letter}")
                if c.method == "views.open"]
    fake.delays["users.info"] = 1.2
    answer = await slack.submit(ORGANIZER, dict(opened.response["view"]), {})
    assert answer["response_action"] == "update"
    assert "Preparing the answer" in json.dumps(answer["view"])
    shown = json.dumps(fake.views[opened.response["view"]["id"]])
    assert "Signed by 3:\\nAbe Other\\nZoe Signer" in shown
    assert any("Closed" in text for text in _updates(fake))
    _never_in_a_message(fake, "Signed by", "Abe Other", "Zoe Signer")
