"""The Matrix adapter against a real Synapse, with a handler that records neutral events."""

from __future__ import annotations

from typing import Any

import pytest

from bot.events import Command, Post, Reaction, Room, Said, Standing, Strong
from tests.support.matrix_bot import MatrixBotFactory
from tests.support.matrix_people import PersonFactory, content

pytestmark = pytest.mark.matrix




def is_command(text: str) -> Any:
    return lambda e: isinstance(e, Command) and e.text == text


async def test_an_invited_bot_joins_and_a_prefixed_message_becomes_a_command(
    make_bot: MatrixBotFactory, people: PersonFactory
) -> None:
    bot, alice = await make_bot(), await people("alice")
    room = await alice.room_with(bot.id)
    event_id = await alice.say(room, "!undersign   sign L1  ")
    cmd = await bot.wait_for(is_command("sign L1"))
    assert isinstance(cmd, Command)
    assert cmd.event_id == event_id and cmd.message_ref == event_id
    assert cmd.user.platform == "matrix" and cmd.user.id == alice.id
    assert cmd.room == Room("matrix", room, None, direct=False)
    assert cmd.seen_by_room and cmd.tz is None


async def test_an_invitation_from_someone_not_allowed_is_declined(
    make_bot: MatrixBotFactory, people: PersonFactory
) -> None:
    bot = await make_bot(allowed_users=["@friend*:undersign.test"])
    stranger = await people("stranger")
    room = await stranger.create_room([bot.id])
    await stranger.wait_for(
        lambda s: (
            s["room_id"] == room
            and s.get("state_key") == bot.id
            and content(s).get("membership") == "leave"
        ),
        what="declined invite",
    )


async def test_history_from_before_the_bot_joined_is_not_a_command(
    make_bot: MatrixBotFactory, people: PersonFactory
) -> None:
    alice = await people("alice")
    bot = await make_bot()
    room = await alice.create_room([])
    await alice.say(room, "!undersign old")
    await alice.client.room_invite(room, bot.id)
    await alice.joined(bot.id)
    await alice.say(room, "!undersign new")
    await bot.wait_for(is_command("new"))
    assert not [e for e in bot.events if isinstance(e, Command) and e.text == "old"]


async def test_edits_notices_and_other_prefixes_are_never_commands(
    make_bot: MatrixBotFactory, people: PersonFactory
) -> None:
    bot, alice = await make_bot(), await people("alice")
    room = await alice.room_with(bot.id)
    original = await alice.say(room, "!undersign help")
    new = {"msgtype": "m.text", "body": "!undersign sign L9"}
    await alice.say(
        room,
        " * !undersign sign L9",
        **{"m.new_content": new, "m.relates_to": {"rel_type": "m.replace", "event_id": original}},
    )
    await alice.say(room, "* !undersign sign L8")
    await alice.send(room, {"msgtype": "m.notice", "body": "!undersign sign L7"})
    await alice.say(room, "!undersignx sign L6")
    await alice.say(room, "!undersign done")
    await bot.wait_for(is_command("done"))
    assert [e.text for e in bot.events if isinstance(e, Command)] == ["help", "done"]


async def test_a_command_in_a_thread_is_answered_in_that_thread(
    make_bot: MatrixBotFactory, people: PersonFactory
) -> None:
    bot, alice = await make_bot(), await people("alice")
    room = await alice.create_room([bot.id])
    root = await alice.say(room, "a thread about the letter")
    await alice.say(
        room,
        "!undersign status L1",
        **{
            "m.relates_to": {
                "rel_type": "m.thread",
                "event_id": root,
                "is_falling_back": True,
                "m.in_reply_to": {"event_id": root},
            }
        },
    )
    cmd = await bot.wait_for(is_command("status L1"))
    assert isinstance(cmd, Command) and cmd.room.thread == root
    assert bot.adapter is not None
    await bot.adapter.send(Post(cmd.room, ("L1 is open",)))
    answer = await alice.notices(room)
    assert content(answer)["m.relates_to"] == {"rel_type": "m.thread", "event_id": root}


async def test_replies_are_html_notices_where_user_text_cannot_ping_or_inject(
    make_bot: MatrixBotFactory, people: PersonFactory
) -> None:
    bot, alice = await make_bot(), await people("alice")
    room = await alice.room_with(bot.id)
    assert bot.adapter is not None
    title = Said('@room <img src=x onerror="alert(1)"> & you')
    ref = await bot.adapter.send(
        Post(Room("matrix", room), ("New letter ", Strong("L1"), ": ", title))
    )
    got = content(await alice.notices(room))
    assert ref is not None
    assert got["msgtype"] == "m.notice" and got["m.mentions"] == {}
    assert got["format"] == "org.matrix.custom.html"
    assert "<img" not in got["formatted_body"] and "&lt;img" in got["formatted_body"]
    assert "<b>L1</b>" in got["formatted_body"]
    assert "@room" not in got["body"] and "@room" not in got["formatted_body"]
    assert got["body"].startswith("New letter L1: @")


async def test_reactions_and_their_redaction_reach_the_core(
    make_bot: MatrixBotFactory, people: PersonFactory
) -> None:
    bot, alice = await make_bot(), await people("alice")
    room = await alice.room_with(bot.id)
    assert bot.adapter is not None
    announcement = await bot.adapter.send(Post(Room("matrix", room), ("Sign L1 with ✍️",)))
    assert announcement
    reaction = await alice.react(room, announcement, "✍️")
    added = await bot.wait_for(lambda e: isinstance(e, Reaction) and e.added)
    assert added == Reaction(
        reaction,
        added.user,
        Room("matrix", room),
        announcement,
        "✍️",
        added=True,
        reaction_ref=reaction,
        # who may sign, from the sender's server: the bot's own
        standing=Standing(alice.id.partition(":")[2], True),
    )
    assert added.user.id == alice.id
    redaction = await alice.redact(room, reaction)
    removed = await bot.wait_for(lambda e: isinstance(e, Reaction) and not e.added)
    assert removed == Reaction(
        redaction, added.user, Room("matrix", room), "", "", added=False, reaction_ref=reaction,
        standing=added.standing,
    )
