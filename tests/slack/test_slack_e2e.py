"""End to end: signed Slack requests → Bolt → adapter → App and core on a real SQLite file →
replies back through the adapter to the fake Web API."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.fake_slack import Call, FakeSlack
from tests.support.slack import ORGANIZER, OTHER, ROOM, SIGNER, Slack, slack_app

pytestmark = pytest.mark.slack

def methods(calls: list[Call]) -> list[str]:
    return [c.method for c in calls]


async def test_new_posts_an_escaped_announcement_with_buttons_and_confirms_privately(
    slack: Slack,
) -> None:
    calls = await slack.command(ORGANIZER, 'new "Hi <!channel> see <http://x|y>" visibility public')
    [post] = [c for c in calls if c.method == "chat.postMessage"]
    assert post.channel == ROOM
    assert "<!channel>" not in post.text and "&lt;!channel&gt;" in post.text
    assert "<http://x|y>" not in post.text
    assert post.blocks[-1]["type"] == "actions"
    [confirm] = [c for c in calls if c.method == "chat.postEphemeral"]
    assert (confirm.channel, confirm.params["user"]) == (ROOM, ORGANIZER)


async def test_the_sign_button_signs_privately_and_updates_the_count_in_place(slack: Slack) -> None:
    letter, ts = await slack.announce("Open letter", "public")
    calls = await slack.click(SIGNER, "undersign_sign", letter)
    [update] = [c for c in calls if c.method == "chat.update"]
    assert (update.channel, update.params["ts"]) == (ROOM, ts)
    assert "1 signature" in update.text
    [confirm] = [c for c in calls if c.method == "chat.postEphemeral"]
    assert confirm.params["user"] == SIGNER and "signed" in confirm.text
    assert not [c for c in calls if c.method == "chat.postMessage"]
    calls = await slack.click(SIGNER, "undersign_withdraw", letter)
    assert "0 signatures" in next(c for c in calls if c.method == "chat.update").text


async def test_a_reaction_signs_a_public_letter_and_a_retry_changes_nothing_and_says_nothing(
    slack: Slack,
) -> None:
    _, ts = await slack.announce("Open letter", "public")
    calls = await slack.react(OTHER, ts, event_id="Ev0SIGN001")
    assert "1 signature" in next(c for c in calls if c.method == "chat.update").text
    assert await slack.react(OTHER, ts, event_id="Ev0SIGN001", retry=1) == []
    assert await slack.react(OTHER, ts, event_id="Ev0SIGN001", retry=2) == []
    calls = await slack.react(OTHER, ts, event_id="Ev0UNSIGN1", added=False)
    assert "0 signatures" in next(c for c in calls if c.method == "chat.update").text


async def test_a_reaction_on_a_count_letter_is_not_counted_and_gets_a_private_hint(
    slack: Slack,
) -> None:
    letter, ts = await slack.announce("Quiet letter", "count")
    calls = await slack.react(OTHER, ts, event_id="Ev0QUIET01")
    assert methods(calls) == ["chat.postEphemeral"]
    assert calls[0].params["user"] == OTHER and "not counted" in calls[0].text
    status = await slack.command(ORGANIZER, f"status L{letter}")
    assert "1 signature" not in status[0].text


async def test_with_dm_replies_an_export_reaches_the_organizer_as_a_file_in_a_dm(
    fake: FakeSlack, tmp_path: Path
) -> None:
    async with slack_app(fake, tmp_path, private_replies="dm") as slack:
        await export_as_a_file_in_a_dm(slack)


async def export_as_a_file_in_a_dm(slack: Slack) -> None:
    letter, _ = await slack.announce("Open letter", "count")
    await slack.click(SIGNER, "undersign_sign", letter)
    calls = await slack.command(ORGANIZER, f"export L{letter}")
    [done] = [c for c in calls if c.method == "files.completeUploadExternal"]
    assert done.channel == "D" + ORGANIZER[1:]  # the DM the fake opened with the organizer
    assert any(SIGNER.encode() in body for body in slack.fake.uploads.values())
    assert not [c for c in calls if c.method == "chat.postMessage" and c.channel == ROOM]


async def test_the_database_file_names_no_slack_user_id(slack: Slack, tmp_path: Path) -> None:
    letter, ts = await slack.announce("Open letter", "public")
    await slack.click(SIGNER, "undersign_sign", letter)
    await slack.react(OTHER, ts, event_id="Ev0SIGN002")
    await slack.command(ORGANIZER, f"review L{letter} in 3 days")
    files = database_files(tmp_path)
    assert any(name.endswith("-wal") for name in files)
    for name, raw in files.items():
        for user in (ORGANIZER, SIGNER, OTHER):
            assert user.encode() not in raw, f"{user} in {name}"
            assert user.encode("utf-16-le") not in raw


def database_files(folder: Path) -> dict[str, bytes]:
    """The raw bytes of the database, its WAL and shared-memory file, as a thief copies them."""
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.name.startswith("undersign.db")}


DIRECT = "D0ORGDIRECT"  # the organizer's direct conversation with the bot


@pytest.mark.parametrize(("command", "problem"), [
    ('new "From a DM"', "not started in a direct room"),
    ("announce L{L}", "not announced in a direct room"),
    ("review L{L} in 2 days", "Schedule it from a room where the letter is announced"),
    ('remind L{L} in 2 hours "x" to room', "Schedule it from a room where the letter is"),
])
async def test_a_direct_conversation_is_refused_what_would_store_it_or_post_into_it(
    slack: Slack, command: str, problem: str,
) -> None:
    letter, _ = await slack.announce("Open letter", "count")
    calls = await slack.command(ORGANIZER, command.format(L=letter), channel=DIRECT)
    [refusal] = [c for c in calls if c.method == "chat.postEphemeral"]
    assert refusal.params["user"] == ORGANIZER and problem in refusal.text
    assert not [c for c in calls if c.method in ("chat.postMessage", "chat.update")]
    async with slack.app.store.transaction() as tx:
        assert len(await tx.letters()) == 1 and await tx.schedules() == []
        assert [a.room.id for a in await tx.announcements(letter)] == [ROOM]


async def test_a_reminder_to_organizers_from_a_direct_conversation_stores_no_channel_id(
    slack: Slack, tmp_path: Path,
) -> None:
    letter, _ = await slack.announce("Open letter", "count")
    calls = await slack.command(ORGANIZER, f'remind L{letter} in 2 hours "Nudge" to organizers',
                                channel=DIRECT)
    assert any("Scheduled R1" in c.text for c in calls if c.method == "chat.postEphemeral")
    calls = await slack.command(ORGANIZER, f"reminders L{letter}", channel=DIRECT)
    assert any("Nudge" in c.text for c in calls if c.method == "chat.postEphemeral")
    files = database_files(tmp_path)
    assert any(name.endswith("-wal") for name in files)
    for name, raw in files.items():
        assert DIRECT.encode() not in raw, name
        assert DIRECT.encode("utf-16-le") not in raw, name
