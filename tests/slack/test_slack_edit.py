"""Editing a letter in a modal from its announcement's overflow menu, and the final
signature block from that menu and from the Home tab: organizers only, answered in modals
and field errors, never in a message or a direct message."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from typing import Any

import pytest

from adapters import slack_views as views
from tests.support.block_kit import assert_view_valid, view_problems
from tests.support.fake_slack import FakeSlack
from tests.support.slack import ORGANIZER, OTHER, ROOM, SIGNER, Slack

pytestmark = pytest.mark.slack

EDIT_FIELDS = ["title", "link", "link_none", "deadline_date", "deadline_time", "deadline_none",
               "visibility"]


async def _edit_modal(slack: Slack, letter: int, user: str = ORGANIZER) -> dict[str, Any]:
    calls = await slack.menu(user, f"edit:{letter}")
    [opened] = [c for c in calls if c.method == "views.open"]
    assert opened.response["ok"], opened.response
    assert_view_valid(opened.params["view"])
    return dict(opened.response["view"])


def _inputs(view: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {b["block_id"]: b["element"] for b in view["blocks"] if b["type"] == "input"}


def _values(view: dict[str, Any], *, title: str | None = None, link: str | None = None,
            date: str | None = None, time: str | None = None, no_link: bool = False,
            no_deadline: bool = False, visibility: str | None = None,
            threshold: str | None = None) -> dict[str, dict[str, Any]]:
    """What Slack sends for the Edit modal ``view``: each field as it was filled in when it
    opened, but for the ones given here (``""``: cleared)."""
    shown = _inputs(view)

    def given(new: str | None, old: str | None) -> str | None:
        return old if new is None else (new or None)

    option = shown["visibility"].get("initial_option")
    values: dict[str, dict[str, Any]] = {
        "title": {"type": "plain_text_input",
                  "value": given(title, shown["title"].get("initial_value"))},
        "link": {"type": "plain_text_input",
                 "value": given(link, shown["link"].get("initial_value"))},
        "link_none": {"type": "checkboxes", "selected_options": [
            {"value": "none"}] if no_link else []},
        "deadline_date": {"type": "datepicker",
                          "selected_date": given(date, shown["deadline_date"].get("initial_date"))},
        "deadline_time": {"type": "timepicker",
                          "selected_time": given(time, shown["deadline_time"].get("initial_time"))},
        "deadline_none": {"type": "checkboxes", "selected_options": [
            {"value": "none"}] if no_deadline else []},
        "visibility": {"type": "radio_buttons", "selected_option": {"value": visibility}
                       if visibility else ({"value": option["value"]} if option else None)},
    }
    if "threshold" in shown:
        values["threshold"] = {"type": "plain_text_input", "value": given(
            threshold, shown["threshold"].get("initial_value"))}
    return values


def _updates(fake: FakeSlack) -> list[str]:
    return [c.text for c in fake.calls_to("chat.update") if c.channel == ROOM]


def _told(fake: FakeSlack, user: str) -> list[str]:
    return [c.text for c in fake.calls_to("chat.postEphemeral") if c.params.get("user") == user]


def _never_in_a_message(fake: FakeSlack, *words: str) -> None:
    """Nothing with ``words`` was posted, sent ephemerally or sent to a DM."""
    for call in fake.calls_to("chat.postMessage") + fake.calls_to("chat.postEphemeral"):
        shown = call.text + json.dumps(call.blocks)
        assert not any(w in shown for w in words), shown
    assert not [r for r in fake.responses if any(w in r.shown for w in words)]
    assert fake.calls_to("conversations.open") == []


async def test_edit_in_the_menu_opens_the_form_filled_in_within_three_seconds(
    slack: Slack, fake: FakeSlack
) -> None:
    fake.time_zones[ORGANIZER] = "America/Chicago"
    letter, _ = await slack.announce(
        "Open letter on ‘fair’ pay", 'sealed threshold 4 link https://example.org/v1 '
        'deadline "2030-01-15 15:00"')
    posted = len(fake.calls_to("chat.postMessage"))
    view = await _edit_modal(slack, letter)
    assert view["callback_id"] == "undersign_edit"
    assert len(fake.trigger_waits) == 1 and fake.trigger_waits[0] < 3
    shown = _inputs(view)
    assert list(shown) == [*EDIT_FIELDS, "threshold"]
    assert shown["title"]["initial_value"] == "Open letter on ‘fair’ pay"
    assert shown["link"]["initial_value"] == "https://example.org/v1"
    assert (shown["deadline_date"]["initial_date"], shown["deadline_time"]["initial_time"]) \
        == ("2030-01-15", "15:00")  # the organizer's own zone, as typed
    assert shown["visibility"]["initial_option"]["value"] == "sealed"
    assert shown["threshold"]["initial_value"] == "4"
    assert json.loads(view["private_metadata"]) == {"letter": letter, "channel": ROOM, "was": {
        "title": "Open letter on ‘fair’ pay", "link": "https://example.org/v1",
        "date": "2030-01-15", "time": "15:00", "visibility": "sealed", "threshold": "4"}}
    assert len(fake.calls_to("chat.postMessage")) == posted
    assert not [t for t in _told(fake, ORGANIZER) if "as edit changes it" in t]


async def test_someone_who_does_not_organize_the_letter_gets_the_refusal_and_no_form(
    slack: Slack, fake: FakeSlack
) -> None:
    letter, _ = await slack.announce("Secret plans", "count")
    calls = await slack.menu(SIGNER, f"edit:{letter}")
    assert [c for c in calls if c.method in ("views.open", "views.update")] == []
    assert _told(fake, SIGNER) == [f"Only the organizers of L{letter} can do that."]
    # where the letter is not announced, it is one that does not exist
    calls = await slack.menu(OTHER, f"edit:{letter}", channel="C0ELSEWHER")
    assert [c for c in calls if c.method == "views.open"] == []
    assert _told(fake, OTHER) == [f"There is no letter L{letter}."]
    _never_in_a_message(fake, "as edit changes it")
    assert fake.views == {}


async def test_an_edit_form_slower_than_the_trigger_opens_as_being_prepared_then_fills_in(
    slack: Slack, fake: FakeSlack
) -> None:
    letter, _ = await slack.announce("Letter", "count link https://example.org/v1")
    handle = slack.adapter._handle
    assert handle is not None

    async def slow(event: Any) -> None:
        if getattr(event, "text", "").startswith("fields"):
            await asyncio.sleep(2.3)
        await handle(event)

    slack.adapter._handle = slow
    calls = await slack.menu(ORGANIZER, f"edit:{letter}")
    [opened] = [c for c in calls if c.method == "views.open"]
    assert opened.response["ok"] and fake.trigger_waits[-1] < 3
    assert "Getting the letter as it is now" in json.dumps(opened.params["view"])
    [filled] = [c for c in calls if c.method == "views.update"]
    view = fake.views[opened.response["view"]["id"]]
    assert filled.params["view_id"] == view["id"] and view["callback_id"] == "undersign_edit"
    assert _inputs(view)["link"]["initial_value"] == "https://example.org/v1"
    assert await slack.submit(ORGANIZER, view, _values(view, title="Renamed")) == {}
    assert "Renamed" in _updates(fake)[-1]


@pytest.mark.parametrize("visibility", ["public", "count", "sealed threshold 5"])
async def test_a_form_sent_untouched_after_a_signature_changes_nothing_and_is_no_downgrade(
    slack: Slack, fake: FakeSlack, visibility: str
) -> None:
    letter, _ = await slack.announce(
        "Letter", f'{visibility} link https://example.org/v1 deadline "in 3 days"')
    await slack.click(SIGNER, "undersign_sign", letter)
    view = await _edit_modal(slack, letter)
    before = _updates(fake)
    answer = await slack.submit(ORGANIZER, view, _values(view))
    assert answer == {"response_action": "errors", "errors": {"title": (
        "Nothing was changed: the form is as it was when you opened it. Change a field, "
        "or Cancel.")}}
    assert _updates(fake) == before
    # the same form with only the title changed makes version 2, and says only that
    answer = await slack.submit(ORGANIZER, view, _values(view, title="Letter, corrected"))
    assert answer == {}
    [said] = [t for t in _told(fake, ORGANIZER) if "edited" in t]
    assert said.startswith(f"L{letter} edited: title “Letter” → “Letter, corrected”.")
    assert "This is version 2" in said and "visibility" not in said and "deadline" not in said
    assert "Version 2" in _updates(fake)[-1]


async def test_a_valid_edit_closes_the_modal_and_updates_the_announcement_as_a_new_version(
    slack: Slack, fake: FakeSlack
) -> None:
    letter, _ = await slack.announce("Open letter on pay", "count")
    await slack.click(SIGNER, "undersign_sign", letter)
    view = await _edit_modal(slack, letter)
    answer = await slack.submit(ORGANIZER, view, _values(
        view, title='Open letter on "fair" pay', link="https://example.org/v2"))
    assert answer == {}  # an empty ack closes the modal
    announcement = _updates(fake)[-1].replace("&quot;", '"')
    assert 'Open letter on "fair" pay' in announcement
    assert "<https://example.org/v2>" in announcement and "Version 2" in announcement
    assert any("This is version 2" in t for t in _told(fake, ORGANIZER))


@pytest.mark.parametrize("how", ["ticked", "cleared"])
async def test_removing_the_link_in_the_form_after_a_signature_makes_version_2(
    slack: Slack, fake: FakeSlack, how: str
) -> None:
    letter, _ = await slack.announce("Letter", "count link https://example.org/v1")
    await slack.click(SIGNER, "undersign_sign", letter)
    view = await _edit_modal(slack, letter)
    values = _values(view, no_link=True) if how == "ticked" else _values(view, link="")
    assert await slack.submit(ORGANIZER, view, values) == {}
    assert "example.org" not in _updates(fake)[-1] and "Version 2" in _updates(fake)[-1]
    [said] = [t for t in _told(fake, ORGANIZER) if "edited" in t]
    assert f"L{letter} edited: link <https://example.org/v1> → none." in said
    view = await _edit_modal(slack, letter)
    assert "initial_value" not in _inputs(view)["link"]


async def test_an_edit_sets_a_deadline_in_the_organizers_zone_and_removes_it(
    slack: Slack, fake: FakeSlack
) -> None:
    fake.time_zones[ORGANIZER] = "America/Chicago"
    letter, _ = await slack.announce("Letter", "public")
    view = await _edit_modal(slack, letter)
    assert "initial_date" not in _inputs(view)["deadline_date"]
    assert await slack.submit(ORGANIZER, view, _values(view, date="2030-01-15",
                                                       time="15:00")) == {}
    assert "Deadline: Tue 2030-01-15 21:00 UTC" in _updates(fake)[-1]
    view = await _edit_modal(slack, letter)
    assert _inputs(view)["deadline_date"]["initial_date"] == "2030-01-15"
    assert await slack.submit(ORGANIZER, view, _values(view, no_deadline=True)) == {}
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
    assert updated["private_metadata"] == view["private_metadata"]  # still as it opened
    [radio] = [b for b in updated["blocks"] if b.get("block_id") == "visibility"]
    assert radio["element"]["initial_option"]["value"] == "sealed"
    assert "threshold" in [b.get("block_id") for b in updated["blocks"]]
    answer = await slack.submit(ORGANIZER, updated, _values(updated, visibility="sealed",
                                                            threshold="4"))
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
        ("count", {}, "title", "Nothing was changed"),
        ("count", {"title": "Letter"}, "title", "Nothing was changed"),
        ("count", {"no_link": True}, "title", "nothing was changed"),
        ("count", {"date": "2030-01-15", "no_deadline": True}, "deadline_date",
         "or remove it: not both"),
        ("count", {"link": "https://example.org/x", "no_link": True}, "link",
         "or remove it: not both"),
    ],
    ids=["past-deadline", "bad-link", "less-private-once-signed", "threshold-lowered",
         "untouched", "same-title", "no-link-to-remove", "day-and-no-deadline",
         "link-and-no-link"],
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
    answer = await slack.submit(ORGANIZER, view, _values(view, **values))
    assert answer["response_action"] == "errors"
    assert list(answer["errors"]) == [field]
    assert words in answer["errors"][field]
    assert _updates(fake) == before
    assert not [c for c in fake.calls_to("chat.postEphemeral") if "Usage" in c.text]


async def test_an_edit_sent_by_someone_who_does_not_organize_the_letter_is_refused(
    slack: Slack, fake: FakeSlack
) -> None:
    """A form opened by an organizer, sent by someone else (say, one removed meanwhile):
    the core refuses it at submission too."""
    letter, _ = await slack.announce("Letter", "count")
    view = await _edit_modal(slack, letter)
    answer = await slack.submit(SIGNER, view, _values(view, title="Taken over"))
    assert answer == {"response_action": "errors", "errors": {
        "title": f"Only the organizers of L{letter} can do that."}}
    assert fake.calls_to("chat.update") == []
    _never_in_a_message(fake, "Taken over", "Only the organizers of L")


async def test_a_long_title_and_link_fit_in_the_forms_metadata(
    slack: Slack, fake: FakeSlack
) -> None:
    title = 'Ü"\\x' * 50  # 200 characters, each quote and backslash escaped in JSON
    link = "https://example.org/" + "a" * 1980
    calls = await slack.command(ORGANIZER, f"new {views.quoted(title)} link {link}")
    [post] = [c for c in calls if c.method == "chat.postMessage" and c.channel == ROOM]
    letter = int(post.blocks[-1]["elements"][0]["value"])
    view = await _edit_modal(slack, letter)
    assert len(view["private_metadata"]) <= 3000
    assert json.loads(view["private_metadata"])["was"]["link"] == link
    assert (await slack.submit(ORGANIZER, view, _values(view)))["errors"]["title"].startswith(
        "Nothing was changed")


def test_a_link_too_long_for_the_metadata_is_kept_as_a_digest_that_still_tells_a_change(
) -> None:
    link = "https://example.org/" + "\\" * 1980  # 3,960 characters once in JSON
    view = views.edit_letter(3, ROOM, {"title": "T" * 200, "link": link, "visibility": "count"})
    assert view_problems(view) == []
    was = views.metadata(view)["was"]
    assert "link" not in was and views.LINK_DIGEST in was
    form = views.LetterForm(ROOM, "T" * 200, link, None, None, "count", "", frozenset())
    assert views.edit_command(3, form, was) is None
    assert views.edit_command(3, replace(form, link="https://example.org/new"), was) == \
        'edit L3 link "https://example.org/new"'
    assert views.edit_command(3, replace(form, link=""), was) == "edit L3 link none"
    # the visibility buttons rebuild it from its metadata: the digest stays as it was
    assert views.metadata(views.edit_letter(3, ROOM, was, "sealed"))["was"] == was


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
