"""The Matrix direct-room registry: which room is a person's direct room with the bot.

A room counts as direct when it is in the bot's ``m.direct`` account data, has the bot and
one person, and nobody can join it by themselves (with E2EE on, it must be encrypted too).
Which room serves which person is kept in memory only, never in the store; a person
without one gets a new room, recorded in ``m.direct``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from urllib.parse import quote

from nio import MatrixRoom, RoomCreateResponse, RoomPreset

from adapters.matrix_session import MatrixSession

log = logging.getLogger("undersign.matrix")

MEGOLM = {
    "type": "m.room.encryption",
    "state_key": "",
    "content": {"algorithm": "m.megolm.v1.aes-sha2"},
}

# Wait until a sync has shown a room (and, if named, that member in it).
RoomWaiter = Callable[[str, str | None], Awaitable[None]]


class DirectRooms:
    def __init__(self, session: MatrixSession, wait_for_room: RoomWaiter) -> None:
        self._session = session
        self._wait_for_room = wait_for_room
        self._by_user: dict[str, str] = {}  # user id -> direct room id, in memory only
        self._locks: dict[str, asyncio.Lock] = {}
        self.marked: set[str] = set()  # rooms in the bot's m.direct

    async def load(self) -> None:
        """Read which rooms ``m.direct`` marks (at start)."""
        self.marked = {r for rooms in (await self.read()).values() for r in rooms}

    def is_direct(self, room: MatrixRoom) -> bool:
        """A room marked direct (m.direct) with the bot and one person, which nobody else
        can join by themselves. A two-member group room is not direct: others may be
        invited later and read its history."""
        return bool(
            room.room_id in self.marked
            and room.member_count == 2
            and room.join_rule != "public"
        )

    def usable(self, user_id: str, room_id: str) -> bool:
        room = self._session.c.rooms.get(room_id)
        return (
            room is not None
            and user_id in room.users
            and self.is_direct(room)
            and (room.encrypted or not self._session.config.e2ee)
        )

    def remember(self, user_id: str, room_id: str) -> None:
        """A person wrote to the bot in ``room_id``: if it is a usable direct room, it is
        where their private replies go from now on, so a command typed in a second DM is
        answered in that DM and not in an older one they may no longer look at."""
        if self.usable(user_id, room_id):
            self._by_user[user_id] = room_id

    async def room_for(self, user_id: str) -> str | None:
        """The person's direct room: the one they last wrote in, else the most recent one
        in m.direct still joined by both, else a new one (once a sync shows the person
        invited to it), or None if none can be made."""
        lock = self._locks.setdefault(user_id, asyncio.Lock())
        async with lock:
            known = self._by_user.get(user_id)
            if known and self.usable(user_id, known):
                return known
            for room_id in reversed((await self.read()).get(user_id, [])):
                if self.usable(user_id, room_id):
                    self._by_user[user_id] = room_id
                    return room_id
            c = self._session.c
            resp = await self._session.call(
                "create direct room",
                lambda: c.room_create(
                    is_direct=True,
                    invite=[user_id],
                    preset=RoomPreset.trusted_private_chat,
                    initial_state=[MEGOLM] if self._session.config.e2ee else [],
                ),
            )
            if not isinstance(resp, RoomCreateResponse):
                return None
            self._by_user[user_id] = resp.room_id
            await self.mark(user_id, resp.room_id)
            await self._wait_for_room(resp.room_id, user_id)
            return str(resp.room_id)

    # --- m.direct ---

    def _url(self) -> str:
        user = quote(self._session.user_id, safe="")
        return f"/_matrix/client/v3/user/{user}/account_data/m.direct"

    async def read(self) -> dict[str, list[str]]:
        """The bot's ``m.direct`` account data: user id -> direct room ids."""
        answer = await self._session.api("read m.direct", "GET", self._url())
        if answer is None or answer[0] != 200 or not isinstance(answer[1], dict):
            return {}
        return {k: [r for r in v if isinstance(r, str)]
                for k, v in answer[1].items() if isinstance(v, list)}

    async def mark(self, user_id: str, room_id: str) -> None:
        """Record ``room_id`` as a direct room with ``user_id`` in ``m.direct``."""
        self.marked.add(room_id)
        data = await self.read()
        if room_id in data.get(user_id, []):
            return
        data.setdefault(user_id, []).append(room_id)
        answer = await self._session.api("write m.direct", "PUT", self._url(), data)
        if answer is None or answer[0] != 200:
            log.warning("could not record a direct room in m.direct")


__all__ = ["MEGOLM", "DirectRooms"]
