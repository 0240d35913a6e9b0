"""Sealed letters against an organizer who wants the names early: their own signatures
do not open the list, they see no live count below the threshold, and a list once shown
stays open (and its signers are told so)."""

from __future__ import annotations

from pathlib import Path

from tests.support.bot import Bot, privately
from tests.support.processes import run_console


async def test_an_organizer_cannot_open_a_sealed_letter_with_their_own_signature(
    bot: Bot,
) -> None:
    letter = await bot.new("olga", "visibility sealed threshold 2")
    said = privately(await bot.say("olga", f"sign {letter}"), "olga")
    assert "your own signature does not count" in said
    await bot.say("ann", f"sign {letter}")
    assert "is sealed" in privately(await bot.say("olga", f"signers {letter}"), "olga")
    assert "is sealed" in privately(await bot.say("olga", f"export {letter}"), "olga")
    await bot.say("olga", f"unsign {letter}")
    await bot.say("ben", f"sign {letter}")
    shown = privately(await bot.say("olga", f"signers {letter}"), "olga")
    assert "ann" in shown and "ben" in shown


async def test_a_co_organizer_or_an_admin_cannot_sign_a_sealed_letter_open(bot: Bot) -> None:
    letter = await bot.new("olga", "visibility sealed threshold 2")
    await bot.say("olga", f"organizer {letter} add @colin")
    for who in ("olga", "colin", "root"):  # root is an admin in the test config
        await bot.say(who, f"sign {letter}")
    for who in ("olga", "colin", "root"):
        assert "is sealed" in privately(await bot.say(who, f"signers {letter}"), who)
    await bot.say("ann", f"sign {letter}")
    assert "is sealed" in privately(await bot.say("colin", f"signers {letter}"), "colin")
    await bot.say("ben", f"sign {letter}")
    assert "ann" in privately(await bot.say("colin", f"signers {letter}"), "colin")


async def test_below_the_threshold_organizers_see_the_public_count(bot: Bot) -> None:
    letter = await bot.new("olga", "visibility sealed threshold 10")
    await bot.say("ann", f"sign {letter}")
    status = privately(await bot.say("olga", f"status {letter}"), "olga")
    assert "Count: fewer than 3 signatures" in status
    refused = privately(await bot.say("olga", f"signers {letter}"), "olga")
    assert "1 signature" not in refused and "fewer than 3" in refused
    count = await bot.new("olga")
    await bot.say("ann", f"sign {count}")
    assert "Count: 1 signature" in privately(await bot.say("olga", f"status {count}"), "olga")


async def test_a_sealed_list_once_shown_stays_open_and_its_signers_are_told(bot: Bot) -> None:
    letter = await bot.new("olga", "visibility sealed threshold 2")
    await bot.say("ann", f"sign {letter}")
    await bot.say("ben", f"sign {letter}")
    assert "ann" in privately(await bot.say("olga", f"signers {letter}"), "olga")
    await bot.say("ben", f"unsign {letter}")
    shown = privately(await bot.say("olga", f"signers {letter}"), "olga")
    assert "ann" in shown, "a withdrawal does not re-seal a list that was shown"
    said = privately(await bot.say("cat", f"sign {letter}"), "cat")
    assert "has been opened" in said and "No name is shown" not in said
    assert "has been opened" in privately(await bot.say("ann", f"status {letter}"), "ann")
    assert "has been opened" not in privately(await bot.say("dan", f"status {letter}"), "dan")
    await bot.say("cat", f"unsign {letter}")
    closed = privately(await bot.say("olga", f"close {letter}"), "olga")
    assert "destroyed unseen" not in closed and "ann" in closed


async def test_a_sealed_list_never_shown_re_seals_below_the_threshold(bot: Bot) -> None:
    letter = await bot.new("olga", "visibility sealed threshold 2")
    await bot.say("ann", f"sign {letter}")
    await bot.say("ben", f"sign {letter}")
    await bot.say("ben", f"unsign {letter}")
    assert "is sealed" in privately(await bot.say("olga", f"signers {letter}"), "olga")
    closed = privately(await bot.say("olga", f"close {letter}"), "olga")
    assert "destroyed unseen" in closed and "ann" not in closed


def test_on_the_console_an_organizer_signing_their_own_sealed_letter_sees_no_names(
    tmp_path: Path,
) -> None:
    done = run_console(tmp_path, [
        'olga> /undersign new "Sealed" visibility sealed threshold 2',
        "olga> /undersign organizer L1 add colin",
        "olga> /undersign sign L1",
        "colin> /undersign sign L1",
        "ann> /undersign sign L1",
        "olga> /undersign signers L1",
        "olga> /undersign status L1",
    ])
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "[to olga] L1 is sealed" in out
    assert not [line for line in out.splitlines() if line.startswith("[to olga]") and "ann" in line]
    assert "Count: fewer than 3 signatures" in out
