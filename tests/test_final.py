"""How a signer is listed (sign … as "LINE" / as anonymous) and the signature block that
final L<n> and close give: alphabetical, per visibility, display names looked up at the
time and never stored."""

from __future__ import annotations

import csv
import io

import pytest

from bot.events import Private
from tests.support.bot import Bot, in_rooms, privately
from tests.support.storage import db_bytes

SIGNERS = ["zoe", "bob", "mia", "anna"]  # signing order: not alphabetical


async def _signed(bot: Bot, options: str = "visibility count") -> None:
    await bot.say("olga", f'new "Pay letter" link https://example.org/pay {options}')
    for who in SIGNERS:
        await bot.say(who, "sign L1")


async def _final(bot: Bot, extra: str = "") -> str:
    return privately(await bot.say("olga", f"final L1{extra}"), "olga")


async def test_final_lists_named_signers_alphabetically_whatever_the_signing_order(
    bot: Bot,
) -> None:
    names = bot.recorders["console"].display_names
    names.update({"zoe": "Zoë Adams", "bob": "bob Brown", "anna": "Anna Zed"})
    await _signed(bot)
    await bot.say("mia", 'sign L1 as "Mia Chen, Political Officer"')
    block = await _final(bot)
    assert block == ("Pay letter\nhttps://example.org/pay\nVersion 1 · 2026-11-26 (UTC)\n\n"
                     "Signed by 4:\nAnna Zed\nbob Brown\nMia Chen, Political Officer\nZoë Adams")
    # the same whatever the order people signed in
    await bot.say("olga", 'new "Again" visibility count')
    for who in reversed(SIGNERS):
        await bot.say(who, "sign L2")
    await bot.say("mia", 'sign L2 as "Mia Chen, Political Officer"')
    again = privately(await bot.say("olga", "final L2"), "olga")
    assert again.split("Signed by 4:")[1] == block.split("Signed by 4:")[1]


async def test_anonymous_signers_are_counted_not_named_and_earlier_versions_are_told(
    bot: Bot,
) -> None:
    await _signed(bot)
    await bot.say("zoe", "sign L1 as anonymous")
    block = await _final(bot)
    assert "Signed by 4:\nanna\nbob\nmia\nand 1 other who asked not to be named" in block
    await bot.say("olga", 'edit L1 title "Pay letter, corrected"')
    await bot.say("bob", "sign L1")
    await bot.say("zoe", "sign L1")  # zoe's choice is kept when she confirms
    block = await _final(bot)
    assert block.startswith("Pay letter, corrected\nhttps://example.org/pay\nVersion 2 · ")
    assert "Signed by 2:\nbob\nand 1 other who asked not to be named" in block
    assert block.endswith("2 signers have signed an earlier version and not confirmed this "
                          "one (not counted above).")


async def test_final_in_markdown(bot: Bot) -> None:
    await _signed(bot)
    await bot.say("bob", 'sign L1 as "*Bob*, [shop] steward"')
    await bot.say("anna", "sign L1 as anonymous")
    block = await _final(bot, " markdown")
    assert block == ("# Pay letter\n<https://example.org/pay>\n*Version 1 · 2026-11-26 (UTC)*\n\n"
                     "**Signed by 4:**\n\n- \\*Bob\\*, \\[shop\\] steward\n- mia\n- zoe\n\n"
                     "and 1 other who asked not to be named")


@pytest.mark.parametrize("visibility", ["public", "count", "sealed threshold 3"])
async def test_final_for_each_visibility_and_a_sealed_letter_only_above_its_threshold(
    bot: Bot, visibility: str
) -> None:
    await bot.say("olga", f'new "Pay letter" visibility {visibility}')
    await bot.say("bob", "sign L1")
    await bot.say("anna", 'sign L1 as "Anna Z."')
    block = await _final(bot)
    if visibility.startswith("sealed"):
        assert "is sealed: no name is shown" in block and "Anna" not in block
        await bot.say("carl", "sign L1")
        block = await _final(bot)
    assert "Anna Z.\nbob" in block
    # nobody but the organizers gets it, and nothing goes to a room
    replies = await bot.say("bob", "final L1")
    assert "Only the organizers of L1" in privately(replies, "bob") and not in_rooms(replies)


async def test_as_lines_show_only_where_names_may(bot: Bot) -> None:
    await bot.say("olga", 'new "Quiet" visibility count')
    await bot.say("bob", 'sign L1 as "Bob B, Steward"')
    await bot.say("anna", "sign L1 as anonymous")
    assert "Bob B" not in privately(await bot.say("erin", "status L1"), "erin")
    signers = privately(await bot.say("olga", "signers L1"), "olga")
    assert "bob (as “Bob B, Steward”)" in signers and "anna (not to be named)" in signers
    await bot.say("olga", 'new "Open" visibility public')
    await bot.say("bob", "sign L2")
    await bot.say("anna", "sign L2 as anonymous")
    status = privately(await bot.say("erin", "status L2"), "erin")
    assert "Signed by: bob and 1 other who asked not to be named" in status
    assert "anna" not in status


async def test_sign_again_with_another_as_changes_the_line(bot: Bot) -> None:
    await bot.say("olga", 'new "Pay letter"')
    told = privately(await bot.say("bob", 'sign L1 as "Bob Brown"'), "bob")
    assert "listed as “Bob Brown” in the signature block" in told
    told = privately(await bot.say("bob", 'sign L1 as "Robert Brown, Steward"'), "bob")
    assert "Done: on L1 you are now listed as “Robert Brown, Steward”" in told
    assert "already signed" in privately(await bot.say("bob", "sign L1"), "bob")
    assert "Signed by 1:\nRobert Brown, Steward" in await _final(bot)
    await bot.say("bob", 'sign L1 as "Anonymous"')  # quoted, it still means: do not name me
    assert "Signed by 1:\nand 1 other who asked not to be named" in await _final(bot)


async def test_export_gains_the_version_and_the_listing(bot: Bot) -> None:
    await _signed(bot)
    await bot.say("bob", 'sign L1 as "=HYPERLINK(1)"')
    await bot.say("anna", "sign L1 as anonymous")
    await bot.say("olga", 'edit L1 title "Second"')
    await bot.say("mia", 'sign L1 as "Mia Chen"')
    replies = await bot.say("olga", "export L1")
    [reply] = [r for r in replies if isinstance(r, Private)]
    assert reply.attachment is not None
    rows = list(csv.reader(io.StringIO(reply.attachment.content.decode())))
    assert rows[0] == ["signer", "signed_at", "version", "listed_as"]
    assert sorted(r[:1] + r[2:] for r in rows[1:]) == [
        ["anna", "1", "anonymous"], ["bob", "1", "'=HYPERLINK(1)"], ["mia", "2", "Mia Chen"],
        ["zoe", "1", ""]]
    assert "1 signature of version 2 and 3 of earlier versions" in privately(replies, "olga")


async def test_display_names_are_looked_up_when_the_block_is_made_and_never_stored(
    bot: Bot,
) -> None:
    recorder = bot.recorders["console"]
    recorder.display_names["bob"] = "Bobby Tables"
    await _signed(bot)
    await bot.say("mia", 'sign L1 as "Mia Chen, Political Officer"')
    assert "Bobby Tables" in await _final(bot)
    assert "bob" in recorder.looked_up and "mia" not in recorder.looked_up
    recorder.display_names["bob"] = "Robert Tables"  # renamed on the platform since
    assert "Robert Tables" in await _final(bot)
    await bot.say("olga", "close L1")
    await bot.app.store.checkpoint()
    files = db_bytes(bot.app.config.database_path)
    for secret in (b"Bobby", b"Robert", b"Tables", b"Mia Chen", b"Political Officer"):
        assert secret not in files


BAD_AS = [
    ("sign L1 as " + "x" * 10_000, "a command may have at most 4,000"),
    ('sign L1 as "' + "x" * 121 + '"', "at most 120 are allowed"),
    ("sign L1 as", "'as' needs the line to list you by"),
    ('sign L1 as "\u200b\u200b"', "only invisible characters"),
    ("sign L1 as @anna", "each person signs for themselves"),
    ('sign L1 as "<@U0ANNA>"', "each person signs for themselves"),
    ("sign L1 as @anna:example.org", "each person signs for themselves"),
    ("sign L1 for anna", "I did not expect 'for anna' there"),
]


@pytest.mark.parametrize(("line", "problem"), BAD_AS)
async def test_a_bad_as_is_refused_clearly_and_changes_nothing(
    bot: Bot, line: str, problem: str
) -> None:
    await bot.say("olga", 'new "Pay letter"')
    await bot.say("bob", 'sign L1 as "Bob Brown"')
    replies = await bot.say("bob", line)
    told = privately(replies, "bob")
    assert problem in told and "Usage:" in told, told
    assert not in_rooms(replies)
    assert "Signed by 1:\nBob Brown" in await _final(bot)
    # nor does anything happen for someone who had not signed
    replies = await bot.say("carl", line)
    assert problem in privately(replies, "carl")
    assert "Signed by 1:" in await _final(bot)


async def test_the_format_characters_of_an_as_line_are_stripped(bot: Bot) -> None:
    await bot.say("olga", 'new "Pay letter"')
    await bot.say("bob", 'sign L1 as "Bob\u202e Brown\u200b"')
    assert "Signed by 1:\nBob Brown" in await _final(bot)


async def test_final_takes_markdown_or_nothing(bot: Bot) -> None:
    await bot.say("olga", 'new "Pay letter"')
    told = privately(await bot.say("olga", "final L1 html"), "olga")
    assert "I did not expect 'html' there" in told and "Usage:" in told


async def test_close_gives_the_organizers_the_signature_block(bot: Bot) -> None:
    await _signed(bot)
    await bot.say("olga", "organizer L1 add carl")
    await bot.say("anna", "sign L1 as anonymous")
    replies = await bot.say("olga", "close L1")
    for organizer in ("olga", "carl"):
        told = privately(replies, organizer)
        assert "L1 closed. Its signature block:\n\nPay letter\n" in told
        assert "Signed by 4:\nbob\nmia\nzoe\nand 1 other who asked not to be named" in told
