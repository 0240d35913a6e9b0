"""Who may do what, and who sees which names: every organizer command × role × letter state."""

from __future__ import annotations

import pytest

from bot.events import Private, plain
from tests.support.bot import Bot, in_rooms, privately

ROLES = ["stranger", "signer", "organizer", "co-organizer", "admin"]
STATES = {
    "open": "visibility count",
    "public": "visibility public",
    "closed": "visibility count",
    "sealed-below": "visibility sealed threshold 3",
    "sealed-above": "visibility sealed threshold 2",
}
ACTOR = {"stranger": "stella", "signer": "sam", "organizer": "olga", "co-organizer": "colin",
         "admin": "root"}
COMMANDS = ["status", "signers", "export", "close", "announce", "organizer add zoe",
            "sign", "unsign"]
ORGANIZER_ONLY = {"signers", "export", "close", "announce", "organizer add zoe"}


async def _letter(bot: Bot, state: str) -> None:
    await bot.say("olga", f'new "Letter" {STATES[state]}')
    await bot.say("olga", "organizer L1 add colin")
    await bot.say("sam", "sign L1")
    if state == "sealed-above":
        await bot.say("tess", "sign L1")
    if state == "closed":
        await bot.say("olga", "close L1")
    await bot.app.core.refresh_counts()
    bot.clear()


def _may_see_names(role: str, command: str, state: str) -> bool:
    if role == "signer" and command in ("sign", "unsign", "status") and state == "public":
        return True
    if command == "status":
        return state == "public"
    if command not in {"signers", "export"} or role in ("stranger", "signer"):
        return False
    return state != "sealed-below"


@pytest.mark.parametrize("state", list(STATES))
@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("command", COMMANDS)
async def test_each_role_may_do_and_see_only_what_it_should(
    bot: Bot, role: str, command: str, state: str
) -> None:
    await _letter(bot, state)
    actor = ACTOR[role]
    parts = command.split(maxsplit=1)
    text = " ".join([parts[0], "L1", *parts[1:]])
    replies = await bot.say(actor, text)
    told = privately(replies, actor) + "".join(
        r.attachment.content.decode() for r in replies
        if isinstance(r, Private) and r.attachment is not None and r.user.id == actor)
    assert told, "every command gets an answer"
    refused = "Only the organizers of L1" in told
    assert refused == (command in ORGANIZER_ONLY and role in ("stranger", "signer"))
    names_seen = ("sam" in told and actor != "sam") or (actor == "sam" and "sam," in told)
    if command == "close" and not refused and state != "closed":
        # the final list goes to the organizers; sealed below threshold: nobody sees it
        assert ("sam" in told) == (state not in ("sealed-below",))
    elif role != "signer":
        assert names_seen == _may_see_names(role, command, state), told
    for reply in in_rooms(replies):
        assert "sam" not in plain(reply.body), "a name was posted in a room"

