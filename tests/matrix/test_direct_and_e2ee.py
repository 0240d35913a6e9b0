"""Private replies, direct rooms, edits, redactions and encrypted rooms on a real Synapse."""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import quote

import pytest

from bot.events import Attachment, Command, Edit, Post, Private, Redact, Room, Said, User
from tests.support.matrix_bot import MatrixBot, MatrixBotFactory
from tests.support.matrix_people import Person, PersonFactory, content

pytestmark = pytest.mark.matrix

# The people here are nio clients, which have no cross-signing: the bot runs with
# trust = "all" (trust on first use). tests/matrix/test_cross_signing.py has the default.
TOFU = {"trust": "all"}




async def joined(person: Person, bot: MatrixBot, room: str) -> None:
    await person.joined(bot.id, room)


async def bot_m_direct(person: Person, bot: MatrixBot) -> dict[str, Any]:
    path = f"/_matrix/client/v3/user/{quote(bot.id, safe='')}/account_data/m.direct"
    resp = await person.client.send(
        "GET", path, headers={"Authorization": f"Bearer {bot.account.access_token}"}
    )
    return dict(await resp.json()) if resp.status == 200 else {}


def notice_with(text: str) -> Any:
    return lambda s: content(s).get("msgtype") == "m.notice" and text in str(content(s).get("body"))


async def test_a_private_reply_opens_an_encrypted_direct_room_marked_in_m_direct(
    make_bot: MatrixBotFactory, people: PersonFactory
) -> None:
    bot, alice = await make_bot(**TOFU), await people("alice", e2ee=True)
    assert bot.adapter is not None
    me = User("matrix", alice.id)
    assert await bot.adapter.send(Private(me, ("Your signature on ", Said("L1"), " is recorded")))
    first = await alice.wait_for(notice_with("is recorded"), within=15, what="private reply")
    dm = first["room_id"]
    assert first["decrypted"] and alice.client.rooms[dm].encrypted
    assert first["room_id"] in alice.invites
    assert (await bot_m_direct(alice, bot)).get(alice.id) == [dm]
    csv = Attachment("L1.csv", b"signer,signed at\n@x:undersign.test,2026-01-01T00:00:00Z\n")
    await bot.adapter.send(Private(me, ("Export of L1",), attachment=csv))
    second = await alice.wait_for(notice_with("Export of L1"), what="export")
    assert second["room_id"] == dm, "a second private reply reuses the direct room"
    assert "<pre><code>signer,signed at" in content(second)["formatted_body"]
    assert content(second)["m.mentions"] == {}


async def test_a_command_in_a_direct_room_is_private_and_answered_there(
    make_bot: MatrixBotFactory, people: PersonFactory
) -> None:
    bot, alice = await make_bot(**TOFU), await people("alice", e2ee=True)
    dm = await alice.create_room([bot.id], direct=True, encrypted=True)
    await joined(alice, bot, dm)
    await alice.say(dm, "!undersign sign L2")
    cmd = await bot.wait_for(lambda e: isinstance(e, Command) and e.text == "sign L2", within=15)
    assert isinstance(cmd, Command)
    assert cmd.room.direct and not cmd.seen_by_room
    assert bot.adapter is not None
    await bot.adapter.send(Private(cmd.user, ("You signed L2",), context=cmd.room))
    reply = await alice.wait_for(notice_with("You signed L2"), within=15, what="reply")
    assert reply["room_id"] == dm and reply["decrypted"]


async def test_an_encrypted_group_room_round_trip(
    make_bot: MatrixBotFactory, people: PersonFactory
) -> None:
    bot = await make_bot(**TOFU)
    alice, bob = await people("alice", e2ee=True), await people("bob", e2ee=True)
    room = await alice.create_room([bot.id, bob.id], encrypted=True)
    await joined(alice, bot, room)
    await bob.wait_for(
        lambda s: (
            s["room_id"] == room
            and s.get("state_key") == bob.id
            and content(s).get("membership") == "join"
        ),
        what="bob join",
    )
    await alice.say(room, "!undersign list")
    cmd = await bot.wait_for(lambda e: isinstance(e, Command) and e.text == "list", within=15)
    assert isinstance(cmd, Command) and not cmd.room.direct and cmd.seen_by_room
    assert bot.adapter is not None
    await bot.adapter.send(Post(cmd.room, ("No open letters here",)))
    for person in (alice, bob):
        got = await person.wait_for(notice_with("No open letters"), within=15, what="notice")
        assert got["decrypted"]


async def test_an_announcement_is_edited_in_place(
    make_bot: MatrixBotFactory, people: PersonFactory
) -> None:
    bot, alice = await make_bot(), await people("alice")
    room = await alice.create_room([bot.id])
    await joined(alice, bot, room)
    assert bot.adapter is not None
    where = Room("matrix", room)
    ref = await bot.adapter.send(Post(where, ("L1: 0 signed",), announces=1))
    assert ref
    assert await bot.adapter.send(Edit(where, ref, ("L1: 1 signed",), announces=1)) == ref
    edit = await alice.wait_for(
        lambda s: content(s).get("m.relates_to", {}).get("rel_type") == "m.replace", what="edit"
    )
    c = content(edit)
    assert c["m.relates_to"]["event_id"] == ref
    assert c["m.new_content"]["body"] == "L1: 1 signed" and c["body"] == "* L1: 1 signed"
    assert c["m.new_content"]["msgtype"] == "m.notice"


async def test_the_bot_redacts_where_its_power_level_allows_and_shrugs_where_not(
    make_bot: MatrixBotFactory, people: PersonFactory, caplog: pytest.LogCaptureFixture
) -> None:
    bot, alice = await make_bot(), await people("alice")
    moderated = await alice.create_room([bot.id], bot_power=50)
    plain = await alice.create_room([bot.id])
    await joined(alice, bot, moderated)
    await joined(alice, bot, plain)
    assert bot.adapter is not None
    for room in (moderated, plain):
        said = await alice.say(room, "!undersign sign L3")
        await bot.adapter.send(Redact(Room("matrix", room), said))
        if room == moderated:
            await alice.wait_for(
                lambda s, said=said: (
                    s.get("type") == "m.room.redaction"
                    and s.get("redacts", content(s).get("redacts")) == said
                ),
                what="redaction",
            )
    forbidden = [r for r in caplog.records if "could not redact" in r.getMessage()]
    assert len(forbidden) == 1 and forbidden[0].levelno == logging.INFO
    assert alice.id not in forbidden[0].getMessage()
