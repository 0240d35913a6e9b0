"""The letter life cycle through the core: every subcommand and its refusals."""

from __future__ import annotations

import csv
import io

import pytest

from bot.events import Edit, Post, Private, Redact, plain
from tests.support.bot import Bot, in_rooms, privately


async def test_new_announces_in_the_room_and_confirms_privately(bot: Bot) -> None:
    replies = await bot.say("alice", 'new "Stop the layoffs" link https://example.org/x '
                                     "visibility public")
    posts = [r for r in replies if isinstance(r, Post)]
    assert len(posts) == 1 and posts[0].announces == 1
    text = plain(posts[0].body)
    assert "L1: Stop the layoffs" in text and "https://example.org/x" in text
    assert "react with ✍️" in text and "0 signatures" in text
    assert "Created L1" in privately(replies, "alice")


async def test_options_come_in_any_order_and_ids_are_case_insensitive(bot: Bot) -> None:
    await bot.say("alice", 'new "T" visibility sealed link https://e.org threshold 5')
    replies = await bot.say("bob", "status l1")
    text = privately(replies, "bob")
    assert "sealed" in text and "until 5 have signed" in text and "https://e.org" in text


async def test_signing_a_public_letter_updates_every_announcement_in_place(bot: Bot) -> None:
    letter = await bot.new(options="visibility public")
    await bot.say("alice", f"announce {letter}", platform="console", room="general")
    await bot.say("alice", f"announce {letter}", room="other")
    replies = await bot.say("bob", f"sign {letter}")
    edits = [r for r in replies if isinstance(r, Edit)]
    assert {e.room.id for e in edits} == {"general", "other"}
    assert all("1 signature" in plain(e.body) for e in edits)
    assert "You signed L1" in privately(replies, "bob")
    replies = await bot.say("bob", f"unsign {letter}")
    assert all("0 signatures" in plain(e.body) for e in in_rooms(replies))
    assert "You withdrew" in privately(replies, "bob")


async def test_nothing_private_is_ever_posted_to_a_room(bot: Bot) -> None:
    letter = await bot.new(options="visibility count")
    for who in ("bob", "carol", "dan"):
        replies = await bot.say(who, f"sign {letter}")
        assert not in_rooms(replies), "a count letter's announcement changed at a signature"
    replies = await bot.say("alice", f"signers {letter}")
    replies += await bot.say("alice", f"export {letter}")
    replies += await bot.say("alice", f"close {letter}")
    for reply in in_rooms(replies):
        assert "bob" not in plain(reply.body) and "carol" not in plain(reply.body)


async def test_count_letters_refresh_on_the_timer_and_read_fewer_than_3(bot: Bot) -> None:
    letter = await bot.new(options="visibility count")
    await bot.say("bob", f"sign {letter}")
    await bot.say("carol", f"sign {letter}")
    assert await bot.app.core.refresh_counts() == [], "still 'fewer than 3': no edit"
    await bot.say("dan", f"sign {letter}")
    assert "fewer than 3" in privately(await bot.say("eve", f"status {letter}"), "eve")
    edits = await bot.app.core.refresh_counts()
    assert "3 signatures" in plain(edits[0].body)
    assert "3 signatures" in privately(await bot.say("eve", f"status {letter}"), "eve")
    assert await bot.app.core.refresh_counts() == [], "an unchanged count is not re-posted"


@pytest.mark.parametrize("visibility", ["visibility count", "visibility sealed threshold 5"])
async def test_a_refresh_edits_an_announcement_only_when_its_text_changes(
    bot: Bot, visibility: str,
) -> None:
    """The first and second signatures leave the text at 'fewer than 3': an edit to the
    same words would still tell the room when someone signed."""
    letter = await bot.new(options=visibility)
    await bot.say("alice", f"announce {letter}", platform="console", room="other")
    for who in ("bob", "carol"):
        await bot.say(who, f"sign {letter}")
        assert await bot.app.core.refresh_counts() == [], who
        assert await bot.app.core.refresh_counts() == [], who
    await bot.say("dan", f"sign {letter}")
    edits = await bot.app.core.refresh_counts()
    assert len(edits) == 2 and all(isinstance(e, Edit) for e in edits)
    assert all("So far: 3 signatures" in plain(e.body) for e in edits)
    assert await bot.app.core.refresh_counts() == []
    await bot.say("dan", f"unsign {letter}")
    edits = await bot.app.core.refresh_counts()
    assert len(edits) == 2 and all("fewer than 3" in plain(e.body) for e in edits)
    await bot.say("carol", f"unsign {letter}")
    assert await bot.app.core.refresh_counts() == []


async def test_a_silent_refresh_still_keeps_the_shown_count(bot: Bot) -> None:
    letter = await bot.new(options="visibility count")
    for who in ("bob", "carol"):
        await bot.say(who, f"sign {letter}")
    assert await bot.app.core.refresh_counts() == []
    async with bot.app.store.transaction() as tx:
        shown = await tx.letter(1)
    assert shown is not None and shown.shown_count == 2


async def test_organizers_see_the_live_count(bot: Bot) -> None:
    letter = await bot.new(options="visibility count")
    await bot.say("bob", f"sign {letter}")
    assert "Count: 1 signature" in privately(await bot.say("alice", f"status {letter}"), "alice")


async def test_status_names_signers_only_on_public_letters(bot: Bot) -> None:
    public = await bot.new(options="visibility public")
    private = await bot.new(options="visibility count")
    for letter in (public, private):
        await bot.say("bob", f"sign {letter}")
    assert "Signed by: bob" in privately(await bot.say("eve", f"status {public}"), "eve")
    assert "bob" not in privately(await bot.say("eve", f"status {private}"), "eve")


async def test_a_reaction_signs_a_public_letter_and_its_removal_withdraws(bot: Bot) -> None:
    letter = await bot.new(options="visibility public")
    ref = bot.announcement_ref(letter)
    replies = await bot.react("bob", ref, "✍🏽")  # skin tone, no variation selector
    assert "You signed" in privately(replies, "bob")
    assert "1 signature" in plain(in_rooms(replies)[0].body)
    replies = await bot.react("bob", ref, "✍️", added=False)
    assert "You withdrew" in privately(replies, "bob")


async def test_a_redacted_matrix_reaction_withdraws(bot: Bot) -> None:
    letter = await bot.new(options="visibility public", platform="matrix", room="!r:hs")
    ref = bot.announcement_ref(letter, "matrix", "!r:hs")
    await bot.react("@bob:hs", ref, "✍", platform="matrix", room="!r:hs", reaction_ref="$re1")
    replies = await bot.react("@bob:hs", "", "", added=False, platform="matrix", room="!r:hs",
                              reaction_ref="$re1")
    assert "You withdrew" in privately(replies, "@bob:hs")
    # somebody else redacting the same event id changes nothing
    assert await bot.react("@eve:hs", "", "", added=False, platform="matrix", room="!r:hs",
                           reaction_ref="$re1") == []


async def test_other_reactions_are_ignored(bot: Bot) -> None:
    letter = await bot.new(options="visibility public")
    assert await bot.react("bob", bot.announcement_ref(letter), "👍") == []


@pytest.mark.parametrize("visibility", ["visibility count", "visibility sealed threshold 2"])
async def test_a_reaction_on_a_private_letter_is_not_counted_and_gets_a_hint(
    bot: Bot, visibility: str
) -> None:
    letter = await bot.new(options=visibility, platform="matrix", room="!r:hs")
    ref = bot.announcement_ref(letter, "matrix", "!r:hs")
    replies = await bot.react("@bob:hs", ref, "✍️", platform="matrix", room="!r:hs",
                              reaction_ref="$re9")
    assert "not counted" in privately(replies, "@bob:hs")
    assert [r.event_ref for r in replies if isinstance(r, Redact)] == ["$re9"]
    assert not in_rooms(replies)
    assert "1 signature" not in privately(await bot.say("@alice:hs", f"status {letter}",
                                                        platform="matrix", room="!r:hs"),
                                          "@alice:hs")


async def test_an_in_room_sign_command_on_a_private_letter_is_not_counted(bot: Bot) -> None:
    letter = await bot.new(options="visibility count", platform="matrix", room="!r:hs")
    replies = await bot.say("@bob:hs", f"sign {letter}", platform="matrix", room="!r:hs",
                            seen_by_room=True)
    assert "not counted" in privately(replies, "@bob:hs")
    assert any(isinstance(r, Redact) for r in replies)
    replies = await bot.say("@bob:hs", f"sign {letter}", platform="matrix", room="!dm:hs",
                            direct=True)
    assert "You signed" in privately(replies, "@bob:hs")


async def test_sealed_names_stay_hidden_until_the_threshold(bot: Bot) -> None:
    letter = await bot.new(options="visibility sealed threshold 2")
    await bot.say("bob", f"sign {letter}")
    replies = await bot.say("alice", f"signers {letter}")
    assert "bob" not in privately(replies, "alice") and "sealed" in privately(replies, "alice")
    assert "sealed" in privately(await bot.say("alice", f"export {letter}"), "alice")
    await bot.say("carol", f"sign {letter}")
    assert "bob, carol" in privately(await bot.say("alice", f"signers {letter}"), "alice")


async def test_closing_a_sealed_letter_below_threshold_destroys_the_list_unseen(bot: Bot) -> None:
    letter = await bot.new(options="visibility sealed threshold 3")
    await bot.say("alice", f"organizer {letter} add carol")
    await bot.say("bob", f"sign {letter}")
    replies = await bot.say("alice", f"close {letter}")
    for org in ("alice", "carol"):
        told = privately(replies, org)
        assert "destroyed unseen" in told and "1 signature" in told and "bob" not in told
    async with bot.app.store.transaction() as tx:
        assert await tx.count(1) == 0


async def test_closing_sends_the_final_list_to_organizers_and_stops_signing(bot: Bot) -> None:
    letter = await bot.new(options="visibility count")
    await bot.say("bob", f"sign {letter}")
    replies = await bot.say("alice", f"close {letter}")
    assert "Signed by 1:\nbob" in privately(replies, "alice")
    assert any("Closed" in plain(r.body) for r in in_rooms(replies))
    assert "closed" in privately(await bot.say("carol", f"sign {letter}"), "carol")
    assert "already closed" in privately(await bot.say("alice", f"close {letter}"), "alice")


async def test_export_is_a_private_csv_of_signers_and_utc_times(bot: Bot) -> None:
    letter = await bot.new()
    await bot.say("bob", f"sign {letter}")
    replies = await bot.say("alice", f"export {letter}")
    [reply] = [r for r in replies if isinstance(r, Private)]
    assert reply.attachment is not None
    rows = list(csv.reader(io.StringIO(reply.attachment.content.decode())))
    assert rows == [["signer", "signed_at", "version", "listed_as"],
                    ["bob", "2026-11-26T12:00:00Z", "1", ""]]


async def test_co_organizers_share_the_organizer_commands(bot: Bot) -> None:
    letter = await bot.new()
    replies = await bot.say("alice", f"organizer {letter} add @carol")
    assert "co-organizer" in privately(replies, "carol")
    await bot.say("bob", f"sign {letter}")
    assert "bob" in privately(await bot.say("carol", f"signers {letter}"), "carol")
    await bot.say("carol", f"organizer {letter} remove alice")
    assert "Only the organizers" in privately(await bot.say("alice", f"signers {letter}"),
                                              "alice")
    assert "at least one organizer" in privately(
        await bot.say("carol", f"organizer {letter} remove carol"), "carol")


async def test_an_admin_may_act_as_any_organizer(bot: Bot) -> None:
    letter = await bot.new()
    await bot.say("bob", f"sign {letter}")
    assert "bob" in privately(await bot.say("root", f"signers {letter}"), "root")


@pytest.mark.parametrize("sub", ["signers", "export", "close", "announce",
                                 "organizer {L} add eve"])
async def test_organizer_commands_refuse_everyone_else(bot: Bot, sub: str) -> None:
    letter = await bot.new()
    await bot.say("bob", f"sign {letter}")
    text = sub.format(L=letter) if "{L}" in sub else f"{sub} {letter}"
    replies = await bot.say("bob", text)
    assert "Only the organizers of L1" in privately(replies, "bob")
    assert not in_rooms(replies)


async def test_list_shows_open_letters_announced_in_this_room_only(bot: Bot) -> None:
    await bot.say("alice", 'new "Here"')
    await bot.say("alice", 'new "Elsewhere"', room="other")
    await bot.say("alice", 'new "Closed one"')
    await bot.say("alice", "close L3")
    text = privately(await bot.say("bob", "list"), "bob")
    assert "Here" in text and "Elsewhere" not in text and "Closed one" not in text


async def test_an_admin_id_belongs_to_one_platform(bot: Bot) -> None:
    letter = await bot.new()
    replies = await bot.say("root", f"announce {letter}", platform="slack", room="C1")
    assert "There is no letter L1." in privately(replies, "root") and not in_rooms(replies)


async def test_announce_on_the_other_platform_keeps_every_announcement_current(
    bot: Bot,
) -> None:
    letter = await bot.new(who="admin", options="visibility public")
    bot.app.config.bot.admins.append("slack:UADMIN")
    await bot.say("UADMIN", f"announce {letter}", platform="slack", room="C1")
    replies = await bot.say("@bob:hs", f"sign {letter}", platform="matrix", room="!dm",
                            direct=True)
    edits = [r for r in replies if isinstance(r, Edit)]
    assert {e.platform for e in edits} == {"console", "slack"}
    assert "already announced" in privately(
        await bot.say("UADMIN", f"announce {letter}", platform="slack", room="C1"), "UADMIN")


async def test_forget_me_erases_every_signature_of_the_caller(bot: Bot) -> None:
    one = await bot.new(options="visibility public")
    two = await bot.new(options="visibility count")
    for letter in (one, two):
        await bot.say("bob", f"sign {letter}")
        await bot.say("carol", f"sign {letter}")
    replies = await bot.say("bob", "forget-me")
    assert "2 signatures erased" in privately(replies, "bob")
    assert "1 signature" in plain(in_rooms(replies)[0].body)
    for letter in (one, two):
        assert "bob" not in privately(await bot.say("alice", f"signers {letter}"), "alice")


async def test_a_redelivered_event_changes_nothing_and_says_nothing(bot: Bot) -> None:
    letter = await bot.new(options="visibility public")
    first = await bot.say("bob", f"sign {letter}", event_id="Ev1")
    assert first
    again = await bot.say("bob", f"sign {letter}", event_id="Ev1")
    assert again == []
    assert "1 signature" in privately(await bot.say("alice", f"status {letter}"), "alice")


async def test_privacy_and_help_answer_anyone_privately(bot: Bot) -> None:
    replies = await bot.say("eve", "privacy")
    assert "encrypted at rest" in privately(replies, "eve") and not in_rooms(replies)
    assert "forget-me" in privately(await bot.say("eve", "help"), "eve")
    assert "Usage" not in privately(await bot.say("eve", "help sign"), "eve")
    assert "sign L<n>" in privately(await bot.say("eve", "help sign"), "eve")


BAD = [
    ("", None),  # empty: help
    ("frob L1", "I don't know 'frob'"),
    ('new "unbalanced', "never closed"),
    ("new", "needs a title"),
    ("new x threshold -1", "threshold applies only"),
    ("new x visibility sealed threshold -1", "whole number"),
    ("new x visibility sealed", "needs a threshold"),
    ("new x visibility secret", "public, count or sealed"),
    ("new x link ftp://example.org", "not a web link"),
    ("new x link javascript:alert(1)", "not a web link"),
    ("new x deadline 2020-01-01 10:00", "in the past"),
    ("new x link", "needs a value"),
    ("new " + "x" * 300, "at most 200"),
    ("sign", "Which letter"),
    ("sign L99", "There is no letter L99"),
    ("sign X1", "not a letter id"),
    ("sign L1 extra", "did not expect"),
    ("organizer L1 promote bob", "add or remove"),
    ("organizer L1 add <script>", "not a user"),
    ("help nothing", "no subcommand"),
    ("sign " + "L1 " * 2000, "at most 4,000"),
    ("sign \x00\x01\x02 L1", "not a letter id"),
]


@pytest.mark.parametrize(("text", "expected"), BAD)
async def test_bad_input_gets_a_clear_private_reply_and_changes_nothing(
    bot: Bot, text: str, expected: str | None
) -> None:
    await bot.new(options="visibility public")
    await bot.say("alice", "sign L1")
    bot.clear()
    replies = await bot.say("alice", text)
    assert replies and all(isinstance(r, Private) for r in replies)
    told = privately(replies, "alice")
    if expected is not None:
        assert expected in told and ("Usage:" in told or "help" in told)
    status = privately(await bot.say("alice", "status L1"), "alice")
    assert "1 signature" in status and "State: open" in status
    assert "L2" not in privately(await bot.say("alice", "list"), "alice")


async def test_abuse_limits_refuse_clearly_and_change_nothing(bot: Bot) -> None:
    bot.app.config.bot.new_per_hour = 2
    bot.app.config.bot.max_open_letters_per_room = 3
    bot.app.config.bot.export_per_hour = 1
    await bot.say("alice", 'new "one"')
    await bot.say("alice", 'new "two"')
    told = privately(await bot.say("alice", 'new "three"'), "alice")
    assert "2 times in the last hour" in told and "Usage:" in told
    await bot.say("bob", 'new "three"')
    told = privately(await bot.say("carol", 'new "four"'), "carol")
    assert "already has 3 open letters" in told
    assert "four" not in privately(await bot.say("carol", "list"), "carol")
    bot.clock.now = bot.clock.now.replace(hour=14)
    assert "Created L4" in privately(await bot.say("alice", 'new "elsewhere"', room="r2"),
                                     "alice")
    await bot.say("alice", "export L1")
    assert "the most allowed" in privately(await bot.say("alice", "export L1"), "alice")


async def test_a_letter_takes_only_so_many_reminders(bot: Bot) -> None:
    bot.app.config.bot.max_schedules_per_letter = 2
    letter = await bot.new()
    for i in range(2):
        await bot.say("alice", f'remind {letter} in {i + 1} hours "nudge"')
    told = privately(await bot.say("alice", f'remind {letter} in 5 hours "nudge"'), "alice")
    assert "already has 2 reviews and reminders" in told


async def _signed_by_bob_in_a_dm(bot: Bot, options: str) -> str:
    letter = await bot.new(options=options, platform="matrix", room="!r:hs")
    replies = await bot.say("@bob:hs", f"sign {letter}", platform="matrix", room="!dm:hs",
                            direct=True)
    assert "You signed" in privately(replies, "@bob:hs")
    return letter


async def _bob_still_signed(bot: Bot) -> bool:
    async with bot.app.store.transaction() as tx:
        return await tx.count(1) == 1


def _redacts_the_command(replies: list[object]) -> bool:
    return [r.event_ref[:4] for r in replies if isinstance(r, Redact)] == ["cmd-"]


@pytest.mark.parametrize("visibility", ["visibility count", "visibility sealed threshold 2"])
async def test_an_in_room_unsign_on_a_private_letter_is_hinted_redacted_and_not_acted_on(
    bot: Bot, visibility: str
) -> None:
    letter = await _signed_by_bob_in_a_dm(bot, visibility)
    replies = await bot.say("@bob:hs", f"unsign {letter}", platform="matrix", room="!r:hs",
                            seen_by_room=True)
    hint = privately(replies, "@bob:hs")
    assert "not acted on" in hint and f"!undersign unsign {letter} in a direct message" in hint
    assert _redacts_the_command(replies) and not in_rooms(replies)
    assert await _bob_still_signed(bot)
    # with stray words too: still the hint, not a refusal that could not redact
    replies = await bot.say("@bob:hs", f"unsign {letter} please", platform="matrix",
                            room="!r:hs", seen_by_room=True)
    assert "not acted on" in privately(replies, "@bob:hs") and _redacts_the_command(replies)
    replies = await bot.say("@bob:hs", f"unsign {letter}", platform="matrix", room="!dm:hs",
                            direct=True)
    assert "You withdrew" in privately(replies, "@bob:hs")


async def test_an_in_room_forget_me_is_hinted_redacted_and_erases_nothing(bot: Bot) -> None:
    await _signed_by_bob_in_a_dm(bot, "visibility count")
    replies = await bot.say("@bob:hs", "forget-me", platform="matrix", room="!r:hs",
                            seen_by_room=True)
    hint = privately(replies, "@bob:hs")
    assert "Nothing was erased" in hint and "!undersign forget-me in a direct message" in hint
    assert "1 signature" not in hint
    assert _redacts_the_command(replies) and not in_rooms(replies)
    assert await _bob_still_signed(bot)
    replies = await bot.say("@bob:hs", "forget-me", platform="matrix", room="!dm:hs",
                            direct=True)
    assert "1 signature erased" in privately(replies, "@bob:hs")


@pytest.mark.parametrize("command", ["sign", "unsign"])
async def test_an_in_room_sign_or_unsign_on_a_closed_private_letter_is_hinted_and_redacted(
    bot: Bot, command: str
) -> None:
    letter = await _signed_by_bob_in_a_dm(bot, "visibility count")
    await bot.say("alice", f"close {letter}", platform="matrix", room="!r:hs")
    replies = await bot.say("@bob:hs", f"{command} {letter}", platform="matrix", room="!r:hs",
                            seen_by_room=True)
    hint = privately(replies, "@bob:hs")
    assert "not acted on" in hint and "closed" in hint and "direct message" in hint
    assert "Usage:" not in hint
    assert _redacts_the_command(replies) and not in_rooms(replies)


async def test_in_room_commands_on_a_public_letter_are_acted_on(bot: Bot) -> None:
    letter = await bot.new(options="visibility public", platform="matrix", room="!r:hs")
    for command, answer in ((f"sign {letter}", "You signed"), (f"unsign {letter}", "You withdrew")):
        replies = await bot.say("@bob:hs", command, platform="matrix", room="!r:hs",
                                seen_by_room=True)
        assert answer in privately(replies, "@bob:hs")
        assert not any(isinstance(r, Redact) for r in replies)
    await bot.say("alice", f"close {letter}", platform="matrix", room="!r:hs")
    replies = await bot.say("@bob:hs", f"sign {letter}", platform="matrix", room="!r:hs",
                            seen_by_room=True)
    assert "is closed" in privately(replies, "@bob:hs")
