"""edit L<n>: in place before the first signature, versions after it, the re-confirmation
of earlier signers, and privacy that only tightens once anyone has signed."""

from __future__ import annotations

import pytest

from bot.events import Edit, Private, plain
from tests.support.bot import Bot, in_rooms, privately


async def _letter(bot: Bot, options: str = "") -> None:
    await bot.say("alice", f'new "Pay letter" link https://example.org/v1 {options}')


async def _status(bot: Bot, who: str = "alice") -> str:
    return privately(await bot.say(who, "status L1"), who)


async def test_before_the_first_signature_an_edit_changes_the_letter_in_place(bot: Bot) -> None:
    await _letter(bot)
    replies = await bot.say("alice", 'edit L1 threshold 3 visibility sealed title "Pay, v2" '
                                     "link https://example.org/v2 deadline 2026-12-20 17:00")
    told = privately(replies, "alice")
    assert "L1 edited: title “Pay letter” → “Pay, v2”; link https://example.org/v1 → " \
           "https://example.org/v2" in told
    assert "version" not in told.lower()
    status = await _status(bot)
    assert "Pay, v2" in status and "https://example.org/v2" in status
    assert "Version" not in status and "sealed" in status and "2026-12-20 17:00" in status
    [edit] = [r for r in replies if isinstance(r, Edit)]
    assert "Pay, v2" in plain(edit.body) and "Version" not in plain(edit.body)
    # and back again: before anyone signed, nothing is one-way
    told = privately(await bot.say("alice", "edit L1 visibility public deadline none"), "alice")
    assert "visibility public" in told and "deadline none" in told
    assert "public" in await _status(bot)


async def test_a_title_change_after_a_signature_makes_version_2_and_tells_only_v1_signers(
    bot: Bot,
) -> None:
    await _letter(bot, "visibility public")
    await bot.say("bob", "sign L1")
    await bot.say("carol", "sign L1", platform="slack")
    await bot.say("alice", "organizer L1 add dave")
    bot.clear()
    replies = await bot.say("alice", 'edit L1 title "Pay letter, corrected"')
    told = privately(replies, "alice")
    assert "This is version 2" in told and "2 were told privately" in told
    for who in ("bob", "carol"):
        [note] = [r for r in replies if isinstance(r, Private) and r.user.id == who]
        text = plain(note.body)
        assert "L1 changed since you signed it: title “Pay letter” → “Pay letter, corrected”" \
            in text
        assert "no longer counts" in text and "sign L1" in text
        assert note.sensitive and note.fallback is not None
    assert {r.user.id for r in replies if isinstance(r, Private)} == {"alice", "bob", "carol"}
    assert "/undersign sign L1" in privately(replies, "carol")  # in the signer's platform words
    # v1 signers count toward nothing until they sign again
    status = await _status(bot)
    assert "Version: 2" in status and "Count: 0 signatures" in status and "bob" not in status
    signers = privately(await bot.say("alice", "signers L1"), "alice")
    assert "L1 — 0 signatures" in signers
    assert "Signed an earlier version (not counted until they sign version 2): bob, carol" \
        in signers
    assert "You signed version 1, which no longer counts" in await _status(bot, "bob")
    # re-signing confirms the new version; nobody is told twice
    confirmed = await bot.say("bob", "sign L1")
    assert "You confirmed version 2 of L1 Pay letter, corrected" in privately(confirmed, "bob")
    assert "Count: 1 signature" in await _status(bot)
    assert [r.user.id for r in confirmed if isinstance(r, Private)] == ["bob"]
    # a link change makes version 3; carol was told at version 2, bob now
    replies = await bot.say("alice", "edit L1 link https://example.org/v3")
    assert {r.user.id for r in replies if isinstance(r, Private)} == {"alice", "bob"}
    assert "link https://example.org/v1 → https://example.org/v3" in privately(replies, "bob")


async def test_link_none_before_a_signature_removes_the_link_in_place(bot: Bot) -> None:
    await _letter(bot)
    replies = await bot.say("alice", "edit L1 link none")
    told = privately(replies, "alice")
    assert "L1 edited: link https://example.org/v1 → none." in told
    assert "version" not in told.lower()
    [edit] = [r for r in replies if isinstance(r, Edit)]
    assert "example.org" not in plain(edit.body) and "Version" not in plain(edit.body)
    status = await _status(bot)
    assert "Link:" not in status and "Version" not in status
    # a link can be given again, and removing none is nothing to change
    assert "link none → https://example.org/v2" in privately(
        await bot.say("alice", "edit L1 link https://example.org/v2"), "alice")
    await bot.say("alice", "edit L1 link none")
    assert "nothing was changed" in privately(await bot.say("alice", "edit L1 link none"), "alice")


async def test_link_none_after_a_signature_makes_version_2_and_tells_its_signers(
    bot: Bot,
) -> None:
    await _letter(bot, "visibility public")
    await bot.say("bob", "sign L1")
    bot.clear()
    replies = await bot.say("alice", "edit L1 link none")
    told = privately(replies, "alice")
    assert "L1 edited: link https://example.org/v1 → none." in told
    assert "This is version 2" in told and "1 was told privately" in told
    [note] = [r for r in replies if isinstance(r, Private) and r.user.id == "bob"]
    text = plain(note.body)
    assert "L1 changed since you signed it: link https://example.org/v1 → none." in text
    assert "sign L1" in text and note.sensitive
    [edit] = [r for r in replies if isinstance(r, Edit)]
    assert "example.org" not in plain(edit.body) and "Version 2" in plain(edit.body)
    status = await _status(bot)
    assert "Link:" not in status and "Version: 2" in status
    assert 'link "none"' not in told  # a quoted none is a link, refused as one:
    assert "is not a web link" in privately(await bot.say("alice", 'edit L1 link "none"'), "alice")


async def test_an_earlier_version_signer_can_withdraw(bot: Bot) -> None:
    await _letter(bot)
    await bot.say("bob", "sign L1")
    await bot.say("alice", 'edit L1 title "New"')
    told = privately(await bot.say("bob", "unsign L1"), "bob")
    assert "You withdrew from L1" in told
    assert "Nobody has signed L1 yet." in privately(await bot.say("alice", "signers L1"), "alice")


async def test_a_deadline_change_makes_no_version_and_may_not_move_into_the_past(
    bot: Bot,
) -> None:
    await _letter(bot, "deadline 2026-12-01 12:00")
    await bot.say("bob", "sign L1")
    bot.clear()
    replies = await bot.say("alice", "edit L1 deadline 2026-12-10 12:00")
    assert "deadline Thu 2026-12-10 12:00 UTC" in privately(replies, "alice")
    assert "version" not in privately(replies, "alice").lower()
    assert not [r for r in replies if isinstance(r, Private) and r.user.id == "bob"]
    refused = privately(await bot.say("alice", "edit L1 deadline 2026-11-01 12:00"), "alice")
    assert "past" in refused and "Usage:" in refused
    assert "2026-12-10 12:00" in await _status(bot)


async def test_announcements_are_updated_in_every_room_and_on_both_platforms(bot: Bot) -> None:
    await _letter(bot)
    await bot.say("alice", "announce L1", room="second")
    bot.app.config.bot.admins += ["slack:UADMIN", "matrix:@admin:example.org"]
    await bot.say("UADMIN", "announce L1", platform="slack", room="C1")
    await bot.say("@admin:example.org", "announce L1", platform="matrix",
                  room="!room:example.org")
    replies = await bot.say("alice", 'edit L1 title "Renamed"')
    edits = {(r.room.platform, r.room.id) for r in in_rooms(replies)
             if isinstance(r, Edit) and "Renamed" in plain(r.body)}
    assert edits == {("console", "general"), ("console", "second"), ("slack", "C1"),
                     ("matrix", "!room:example.org")}


DOWNGRADES = [
    ("visibility public", "visibility count", None),
    ("visibility public", "visibility sealed threshold 5", None),
    ("visibility count", "visibility public", "visibility can only become more private"),
    ("visibility sealed threshold 5", "visibility count", "visibility can only become more private"),
    ("visibility sealed threshold 5", "visibility public", "visibility can only become more private"),
    ("visibility sealed threshold 5", "threshold 4", "threshold can only be raised"),
    ("visibility sealed threshold 5", "threshold 9", None),
    ("visibility count", "visibility sealed threshold 2", None),
]


@pytest.mark.parametrize(("start", "change", "refusal"), DOWNGRADES)
async def test_once_signed_privacy_only_tightens_and_before_anything_goes(
    bot: Bot, start: str, change: str, refusal: str | None
) -> None:
    await _letter(bot, start)
    before = await _status(bot)
    # before anyone signed, every change is allowed
    assert "edited" in privately(await bot.say("alice", f"edit L1 {change}"), "alice")
    await bot.say("alice", 'new "Second" ' + start)
    await bot.say("bob", "sign L2")
    told = privately(await bot.say("alice", f"edit L2 {change}"), "alice")
    if refusal is None:
        assert "L2 edited" in told
        if "visibility" in change:
            assert "What was already shown stays known to whoever saw it" in told
        return
    assert refusal in told and "Nothing was changed" in told and "Usage:" in told
    after = privately(await bot.say("alice", "status L2"), "alice")
    assert after.replace("L2", "L1").replace("Second", "Pay letter") \
        .split("Count")[0] == before.split("Count")[0].replace(
            "Link: https://example.org/v1\n", "")


async def test_public_to_count_keeps_the_count_that_was_shown(bot: Bot) -> None:
    await _letter(bot, "visibility public")
    for who in ("bob", "carol", "dave"):
        await bot.say(who, "sign L1")
    await bot.say("alice", "edit L1 visibility count")
    assert "Count: 3 signatures" in await _status(bot, "erin")


BAD = [
    ("edit L1", "Say what to change"),
    ("edit L1 colour red", "'colour' is not something I can change"),
    ('edit L1 title ""', "The title is empty"),
    ("edit L1 link ftp://example.org", "is not a web link"),
    ("edit L1 visibility secret", "Visibility is public, count or sealed"),
    ("edit L1 threshold 5", "A threshold applies only to sealed letters"),
    ("edit L1 visibility sealed", "A sealed letter needs a threshold"),
    ("edit L1 deadline yesterday", "Usage:"),
    ('edit L1 title "Pay letter"', "nothing was changed"),
    ("edit L1 title", "'title' needs a value"),
]


@pytest.mark.parametrize(("line", "problem"), BAD)
async def test_a_bad_edit_is_refused_clearly_and_changes_nothing(
    bot: Bot, line: str, problem: str
) -> None:
    await _letter(bot)
    await bot.say("bob", "sign L1")
    before = await _status(bot)
    bot.clear()
    replies = await bot.say("alice", line)
    told = privately(replies, "alice")
    assert problem in told and "Usage:" in told
    assert not in_rooms(replies) and [r.user.id for r in replies if isinstance(r, Private)] == [
        "alice"]
    assert await _status(bot) == before


async def test_only_organizers_may_edit_and_a_closed_letter_cannot_be(bot: Bot) -> None:
    await _letter(bot)
    assert "Only the organizers of L1" in privately(
        await bot.say("alice", "announce L1", room="second") and
        await bot.say("bob", 'edit L1 title "Mine"', room="second"), "bob")
    await bot.say("alice", "close L1")
    assert "closed; it can no longer be edited" in privately(
        await bot.say("alice", 'edit L1 title "Late"'), "alice")


async def test_on_a_sealed_letter_earlier_version_signers_count_toward_no_threshold(
    bot: Bot,
) -> None:
    await bot.say("alice", 'new "Sealed" visibility sealed threshold 2')
    await bot.say("bob", "sign L1")
    await bot.say("carol", "sign L1")
    await bot.say("alice", 'edit L1 title "Sealed, corrected"')
    await bot.say("alice", "sign L1")  # an organizer's own signature opens nothing
    await bot.say("bob", "sign L1")
    refused = privately(await bot.say("alice", "final L1"), "alice")
    assert "is sealed: no name is shown" in refused and "bob" not in refused
    await bot.say("carol", "sign L1")
    block = privately(await bot.say("alice", "final L1"), "alice")
    assert "Signed by 3:\nalice\nbob\ncarol" in block
    # once shown, a list stays open, even when a new version leaves it below the threshold
    await bot.say("alice", 'edit L1 title "Sealed, third"')
    assert "Signed by 0:" in privately(await bot.say("alice", "final L1"), "alice")


async def test_fields_shows_an_organizer_what_edit_changes_and_refuses_everyone_else(
    bot: Bot,
) -> None:
    await _letter(bot, "deadline 2026-12-20 17:00 visibility sealed threshold 4")
    replies = await bot.say("alice", "fields L1", tz="America/Chicago")
    [answer] = [r for r in replies if isinstance(r, Private)]
    assert answer.editable is not None
    assert (answer.editable.title, answer.editable.link, answer.editable.visibility,
            answer.editable.threshold) == ("Pay letter", "https://example.org/v1", "sealed", 4)
    deadline = answer.editable.deadline
    assert deadline is not None and deadline.strftime("%Y-%m-%d %H:%M") == "2026-12-20 11:00"
    text = plain(answer.body)
    assert "title “Pay letter”" in text and "link https://example.org/v1" in text
    assert "visibility sealed" in text and "threshold 4" in text and "edit L1" in text
    # someone who sees the letter is told it is for organizers; elsewhere it does not exist
    refused = [r for r in await bot.say("bob", "fields L1") if isinstance(r, Private)]
    assert [r.refused for r in refused] == ["Only the organizers of L1 can do that."]
    assert refused[0].editable is None and "Pay letter" not in plain(refused[0].body)
    hidden = [r for r in await bot.say("bob", "fields L1", room="second")
              if isinstance(r, Private)]
    assert [r.refused for r in hidden] == ["There is no letter L1."]
    await bot.say("alice", "close L1")
    closed = [r for r in await bot.say("alice", "fields L1") if isinstance(r, Private)]
    assert [r.refused for r in closed] == ["L1 is closed; it can no longer be edited."]
