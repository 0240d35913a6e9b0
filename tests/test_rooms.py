"""Where letters are seen, and what a direct room may hold.

A letter is shown only in rooms where it is announced, or to its organizers (admins
included) and signers wherever they ask; elsewhere it is answered exactly as a letter that
does not exist. The text of a reminder for the organizers or the signers is for the
organizers only. A direct room names one person: nothing is started, announced or
scheduled to be posted there, and its id is never stored.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.config import Config
from bot.events import Post, plain
from tests.support.bot import Bot, in_rooms, later, privately


def _unknown(text: str) -> str:
    """A reply with its ids blanked, to compare it with the one for another id."""
    return re.sub(r"\b([LR])\d+\b", r"\1#", text)


async def _letter_with_reminders(bot: Bot) -> str:
    letter = await bot.new("alice")
    await bot.say("bob", f"sign {letter}")
    await bot.say("alice", f'remind {letter} in 2 hours "Room text" to room')
    await bot.say("alice", f'remind {letter} in 3 hours "Signers text" to signers')
    await bot.say("alice", f'remind {letter} in 4 hours "Organizers text" to organizers')
    await bot.say("alice", f'review {letter} in 5 days note "Review note"')
    return letter


# --- where letters are seen --------------------------------------------------------------


@pytest.mark.parametrize("command", ["status {L}", "reminders {L}", "signers {L}",
                                     "export {L}", "close {L}", "announce {L}",
                                     "remind {L} in 2 hours \"x\"", "review {L} in 2 days",
                                     "organizer {L} add eve"])
async def test_elsewhere_a_letter_is_answered_as_one_that_does_not_exist(
    bot: Bot, command: str,
) -> None:
    letter = await _letter_with_reminders(bot)
    bot.clear()
    hidden = await bot.say("mallory", command.format(L=letter), room="other")
    missing = await bot.say("mallory", command.format(L="L99"), room="other")
    assert "There is no letter L1." in privately(hidden, "mallory")
    assert _unknown(privately(hidden, "mallory")) == _unknown(privately(missing, "mallory"))
    assert not in_rooms(hidden)
    for word in ("A letter", "Room text", "Signers text", "Organizers text", "Review note"):
        assert word not in privately(hidden, "mallory")


async def test_elsewhere_a_reminder_is_answered_as_one_that_does_not_exist(bot: Bot) -> None:
    await _letter_with_reminders(bot)
    hidden = privately(await bot.say("mallory", "cancel R1", room="other"), "mallory")
    missing = privately(await bot.say("mallory", "cancel R99", room="other"), "mallory")
    assert "There is no review or reminder R1." in hidden
    assert _unknown(hidden) == _unknown(missing)
    # in the room where its letter is announced, the refusal may name it
    here = privately(await bot.say("mallory", "cancel R1"), "mallory")
    assert "Only the organizers of L1" in here


async def test_status_is_shown_where_announced_and_to_organizers_and_signers_anywhere(
    bot: Bot,
) -> None:
    letter = await _letter_with_reminders(bot)
    assert "A letter" in privately(await bot.say("mallory", f"status {letter}"), "mallory")
    for who, where in (("alice", "other"), ("bob", "other"), ("root", "other"),
                       ("alice", "@alice-dm"), ("bob", "@bob-dm")):
        direct = where.startswith("@")
        told = privately(await bot.say(who, f"status {letter}", room=where, direct=direct), who)
        assert "A letter" in told and "There is no letter" not in told, (who, where)
    await bot.say("alice", f"announce {letter}", room="other")
    assert "A letter" in privately(await bot.say("mallory", f"status {letter}",
                                                 room="other"), "mallory")


async def test_a_withdrawn_signer_no_longer_sees_the_letter_elsewhere(bot: Bot) -> None:
    letter = await bot.new("alice")
    await bot.say("bob", f"sign {letter}")
    await bot.say("bob", f"unsign {letter}")
    told = privately(await bot.say("bob", f"status {letter}", room="other"), "bob")
    assert "There is no letter L1." in told


async def test_reminder_texts_for_organizers_or_signers_are_for_organizers_only(
    bot: Bot,
) -> None:
    letter = await _letter_with_reminders(bot)
    for listing in ("reminders", f"reminders {letter}"):
        for who in ("mallory", "bob"):  # a stranger in the room, and a signer
            told = privately(await bot.say(who, listing), who)
            assert "Room text" in told and "Review note" in told, (who, told)
            assert "Signers text" not in told and "Organizers text" not in told, (who, told)
            assert "R2 L1 reminder to each signer privately" in told
            assert "(its text is for the organizers only)" in told
        for who in ("alice", "root"):  # an organizer and an admin
            told = privately(await bot.say(who, listing), who)
            for text in ("Room text", "Signers text", "Organizers text", "Review note"):
                assert text in told, (who, text)
    told = privately(await bot.say("bob", f"reminders {letter}", room="other"), "bob")
    assert "Room text" in told and "Organizers text" not in told


async def test_a_rooms_listing_hides_letters_not_announced_there(bot: Bot) -> None:
    letter = await bot.new("alice")
    await bot.say("alice", f'remind {letter} in 2 hours "Secret plan" to organizers',
                  room="other")
    await bot.say("alice", f'review {letter} in 2 days note "Other review"', room="other")
    told = privately(await bot.say("mallory", "reminders", room="other"), "mallory")
    assert "No reviews or reminders are scheduled here." in told
    assert "L1" not in told and "Secret plan" not in told and "Other review" not in told
    told = privately(await bot.say("alice", "reminders", room="other"), "alice")
    assert "Secret plan" in told and "Other review" in told
    assert "L1" not in privately(await bot.say("mallory", "list", room="other"), "mallory")


# --- direct rooms ------------------------------------------------------------------------


async def _nothing_stored(bot: Bot) -> None:
    async with bot.app.store.transaction() as tx:
        assert await tx.schedules() == []
        for letter in await tx.letters():
            for ann in await tx.announcements(letter.id):
                assert ann.room.id != "D0DIRECT42"


@pytest.mark.parametrize(("command", "problem"), [
    ('new "From a DM"', "A letter is not started in a direct room"),
    ("announce {L}", "A letter is not announced in a direct room"),
    ("review {L} in 2 days", "Schedule it from a room where the letter is announced"),
    ('remind {L} in 2 hours "x"', "Schedule it from a room where the letter is announced"),
    ('remind {L} in 2 hours "x" to room', "Schedule it from a room where the letter is "
                                          "announced"),
    ('remind {L} every day at 9:00 "x" to room', "in a direct room"),
])
async def test_a_direct_room_is_refused_what_would_store_it_or_post_into_it(
    bot: Bot, command: str, problem: str,
) -> None:
    letter = await bot.new("alice")
    bot.clear()
    replies = await bot.say("alice", command.format(L=letter), room="D0DIRECT42", direct=True)
    assert problem in privately(replies, "alice")
    assert "Usage:" in privately(replies, "alice")
    assert not in_rooms(replies)
    await _nothing_stored(bot)
    async with bot.app.store.transaction() as tx:
        assert len(await tx.letters()) == 1


async def test_a_stranger_in_a_direct_room_learns_nothing_from_the_refusal(bot: Bot) -> None:
    await bot.new("alice")
    hidden = privately(await bot.say("mallory", "announce L1", room="Dm", direct=True), "mallory")
    missing = privately(await bot.say("mallory", "announce L9", room="Dm", direct=True),
                        "mallory")
    assert _unknown(hidden) == _unknown(missing)


async def test_a_reminder_to_organizers_from_a_direct_room_keeps_no_room(
    bot: Bot, config: Config,
) -> None:
    letter = await bot.new("alice")
    await bot.say("bob", f"sign {letter}")
    for audience in ("organizers", "signers"):
        replies = await bot.say("alice", f'remind {letter} in 2 hours "Nudge" to {audience}',
                                room="D0DIRECT42", direct=True)
        assert "Scheduled R" in privately(replies, "alice")
    await bot.say("alice", f'remind {letter} every day at 9:00 "Daily" to organizers',
                  room="D0DIRECT42", direct=True)
    async with bot.app.store.transaction() as tx:
        rows = await tx.schedules()
    assert [r.room for r in rows] == [None, None, None]
    told = privately(await bot.say("alice", f"reminders {letter}", room="D0DIRECT42",
                                   direct=True), "alice")
    assert "Nudge" in told and "Daily" in told
    folder = Path(config.bot.database).parent
    files = {p.name: p.read_bytes() for p in folder.iterdir()
             if p.name.startswith("undersign.db")}
    assert any(name.endswith("-wal") for name in files)
    for name, raw in files.items():
        for form in (b"D0DIRECT42", "D0DIRECT42".encode("utf-16-le")):
            assert form not in raw, name
    # and it fires: privately, to the organizers and the signer
    fired = await later(bot, hours=2, minutes=1)
    assert "Nudge" in privately(fired, "alice") and "Nudge" in privately(fired, "bob")
    assert not [r for r in fired if isinstance(r, Post)]


async def test_signing_in_a_direct_room_still_works(bot: Bot) -> None:
    letter = await bot.new("alice")
    replies = await bot.say("bob", f"sign {letter}", room="Dbob", direct=True)
    assert "You signed L1" in privately(replies, "bob")
    assert not [r for r in in_rooms(replies) if r.room.id == "Dbob"]
    assert all("Dbob" not in plain(r.body) for r in replies)
