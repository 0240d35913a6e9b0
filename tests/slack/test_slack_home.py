"""The App Home tab (each person sees only what is theirs, kept up to date), its buttons,
and the announcement's overflow menu: answers in modals or ephemerally, never in a DM."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from bot.core import utc_now
from bot.events import User
from bot.model import Signature, Visibility
from tests.support.block_kit import assert_view_valid
from tests.support.fake_slack import Call, FakeSlack
from tests.support.slack import ORGANIZER, OTHER, ROOM, SIGNER, Slack

pytestmark = pytest.mark.slack

STRANGER = "U0STRANGER"


def _buttons(home: dict[str, object], letter: int) -> list[str]:
    found: list[str] = []
    for block in home["blocks"]:  # type: ignore[attr-defined]
        if block["type"] == "actions":
            found += [e["action_id"] for e in block["elements"] if e["value"] == str(letter)]
    return found


async def _signed_letter(slack: Slack) -> int:
    """A count letter of ORGANIZER's that SIGNER signed."""
    slack.fake.display_names[SIGNER] = "Dana Signer"
    letter, _ = await slack.announce("Letter", "count")
    await slack.command(SIGNER, f"sign L{letter}")
    return letter


def _opened(calls: list[Call]) -> Call:
    [opened] = [c for c in calls if c.method == "views.open"]
    return opened


async def test_the_home_tab_shows_each_person_only_what_is_theirs(
    slack: Slack, fake: FakeSlack
) -> None:
    letter, _ = await slack.announce("Count letter", "count")
    other, _ = await slack.announce("Untouched letter", "public")
    await slack.command(SIGNER, f"sign L{letter}")
    await slack.command(OTHER, f"sign L{letter}")
    for user in (ORGANIZER, SIGNER, STRANGER):
        calls = await slack.open_home(user)
        assert [c.method for c in calls] == ["views.publish"]
        assert_view_valid(fake.homes[user])

    organizer = slack.home(ORGANIZER)
    assert "Letters you organize" in organizer and "Count letter" in organizer
    assert "2 signatures" in organizer  # organizers see the live count of a count letter
    assert _buttons(fake.homes[ORGANIZER], letter) == [
        "undersign_home_signers", "undersign_home_export", "undersign_home_final",
        "undersign_home_close"]

    signer = slack.home(SIGNER)
    assert "Count letter" in signer and "fewer than 3 signatures" in signer
    assert "Untouched letter" not in signer
    assert _buttons(fake.homes[SIGNER], letter) == ["undersign_home_withdraw"]
    assert _buttons(fake.homes[SIGNER], other) == []

    stranger = slack.home(STRANGER)
    assert "Count letter" not in stranger and "Untouched letter" not in stranger
    for home in (organizer, signer, stranger):  # nobody else is named anywhere
        assert OTHER not in home and (SIGNER not in home or home == signer)
        assert ORGANIZER not in home
    assert fake.calls_to("conversations.open") == []


async def test_the_home_tab_follows_what_its_viewer_does(slack: Slack, fake: FakeSlack) -> None:
    await slack.open_home(SIGNER)
    assert "Kept current" not in slack.home(SIGNER)
    letter, _ = await slack.announce("Kept current", "count")
    await slack.command(SIGNER, f"sign L{letter}")
    assert "Kept current" in slack.home(SIGNER)
    await slack.click(SIGNER, "undersign_withdraw", letter)
    assert "Kept current" not in slack.home(SIGNER)


async def test_a_home_tab_with_200_letters_fits_and_says_what_it_left_out(
    slack: Slack, fake: FakeSlack
) -> None:
    async with slack.app.store.transaction() as tx:  # 200 letters, made directly
        for n in range(200):
            made = await tx.create_letter(
                title=f"Letter {n:03d} " + "x" * 190, link=None, deadline=utc_now() + timedelta(days=9),
                visibility=Visibility.SEALED, threshold=5, now=utc_now())
            await tx.add_organizer(made.id, User("slack", ORGANIZER))
            await tx.add_signature(made.id, Signature(User("slack", ORGANIZER), utc_now()))
    await slack.open_home(ORGANIZER)
    home = fake.homes[ORGANIZER]
    assert_view_valid(home)
    assert len(home["blocks"]) <= 100
    assert "155 more not shown here" in slack.home(ORGANIZER)
    assert "200 more not shown here" in slack.home(ORGANIZER)  # as a signer: none room left
    assert "/undersign mine" in slack.home(ORGANIZER)


async def test_signers_from_the_home_tab_open_in_a_modal_not_a_message(
    slack: Slack, fake: FakeSlack
) -> None:
    letter = await _signed_letter(slack)
    await slack.open_home(ORGANIZER)
    before = len(fake.calls)
    calls = await slack.home_click(ORGANIZER, "undersign_home_signers", letter)
    methods = [c.method for c in calls]
    assert "chat.postEphemeral" not in methods and "chat.postMessage" not in methods
    assert "conversations.open" not in methods
    [opened] = [c for c in fake.calls[before:] if c.method == "views.open"]
    shown = json.dumps(opened.params["view"])
    assert f"<@{SIGNER}>" in shown and f"L{letter}" in shown


async def test_export_from_the_home_tab_opens_the_csv_in_a_modal(
    slack: Slack, fake: FakeSlack
) -> None:
    letter = await _signed_letter(slack)
    opened = _opened(await slack.home_click(ORGANIZER, "undersign_home_export", letter))
    shown = json.dumps(opened.params["view"])
    assert "signer,signed_at" in shown and SIGNER in shown
    assert not fake.calls_to("files.getUploadURLExternal")


async def test_withdraw_from_the_home_tab_confirms_in_a_modal_and_updates_the_tab(
    slack: Slack, fake: FakeSlack
) -> None:
    letter = await _signed_letter(slack)
    await slack.open_home(SIGNER)
    opened = _opened(await slack.home_click(SIGNER, "undersign_home_withdraw", letter))
    assert "withdr" in json.dumps(opened.params["view"]).lower()
    assert "Letters you signed" in slack.home(SIGNER) and f"*L{letter}*" not in slack.home(SIGNER)


async def test_close_from_the_home_tab_asks_then_shows_the_final_list_in_the_modal(
    slack: Slack, fake: FakeSlack
) -> None:
    letter = await _signed_letter(slack)
    opened = _opened(await slack.home_click(ORGANIZER, "undersign_home_close", letter))
    view = dict(opened.response["view"])
    assert view["callback_id"] == "undersign_close"
    answer = await slack.submit(ORGANIZER, view, {})
    assert answer["response_action"] == "update"
    assert_view_valid(answer["view"])
    shown = json.dumps(answer["view"])
    assert "Signed by 1:" in shown and "Dana Signer" in shown  # the final signature block
    assert not [c for c in fake.calls_to("chat.postEphemeral") if "Signed by" in c.text]


async def test_the_overflow_menu_answers_privacy_ephemerally(slack: Slack, fake: FakeSlack) -> None:
    letter, _ = await slack.announce("Letter", "count")
    calls = await slack.menu(SIGNER, f"privacy:{letter}", response_url=fake.response_url("p"))
    assert "chat.postMessage" not in [c.method for c in calls]
    [answer] = fake.responses
    assert answer.payload["response_type"] == "ephemeral"
    assert "What Undersign stores" in answer.text


async def test_close_in_the_overflow_menu_is_refused_to_others_and_done_for_organizers(
    slack: Slack, fake: FakeSlack
) -> None:
    letter = await _signed_letter(slack)
    for user, words in ((SIGNER, "Only the organizers"), (ORGANIZER, "Signed by 1:")):
        calls = await slack.menu(user, f"close:{letter}")
        opened = _opened(calls)
        answer = await slack.submit(user, dict(opened.response["view"]), {})
        assert answer["response_action"] == "update"
        assert words in json.dumps(answer["view"])
    [edit] = [c for c in fake.calls_to("chat.update") if c.channel == ROOM]
    assert "Closed" in edit.text


async def test_an_organizers_home_tab_follows_their_letter(slack: Slack, fake: FakeSlack) -> None:
    letter, _ = await slack.announce("Public letter", "public")
    await slack.open_home(ORGANIZER)
    assert "0 signatures" in slack.home(ORGANIZER)
    await slack.command(SIGNER, f"sign L{letter}")  # edits the announcement: a new count
    await slack.adapter.drain()
    assert "1 signature" in slack.home(ORGANIZER)
    await slack.open_home(SIGNER)
    await slack.command(OTHER, f"sign L{letter}")
    await slack.adapter.drain()
    assert "2 signatures" in slack.home(ORGANIZER)
    assert "1 signature" in slack.home(SIGNER)  # a signer's tab waits for their next visit


async def test_a_pledgers_home_tab_says_their_pledge_waits_and_a_strangers_says_nothing(
    slack: Slack, fake: FakeSlack
) -> None:
    letter, _ = await slack.announce("Pledge letter", "count")
    await slack.command(SIGNER, f"sign L{letter} if 5")
    await slack.open_home(SIGNER)
    await slack.open_home(STRANGER)
    assert_view_valid(fake.homes[SIGNER])
    pledger = slack.home(SIGNER)
    assert "Letters you signed or pledged" in pledger and "Pledge letter" in pledger
    assert "Your pledge waits until 5 have signed." in pledger
    assert _buttons(fake.homes[SIGNER], letter) == ["undersign_home_withdraw"]
    assert "Pledge letter" not in slack.home(STRANGER)
    await slack.open_home(ORGANIZER)
    assert SIGNER not in slack.home(ORGANIZER) and "Your pledge" not in slack.home(ORGANIZER)
