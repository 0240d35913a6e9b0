"""Where letters are seen, and what a direct room may hold.

A letter is shown only in rooms where it is announced, or to its organizers (admins
included) and signers wherever they ask; elsewhere it is answered exactly as a letter that
does not exist. The text of a reminder for the organizers or the signers is for the
organizers only. A direct room names one person: nothing is started, announced or
scheduled to be posted there, and its id is never stored.
"""

from __future__ import annotations

import re

import pytest

from tests.conftest import Bot, in_rooms, privately


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
