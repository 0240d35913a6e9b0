"""What a Matrix sync response asks of the bot, with no I/O: the invitations to answer,
and for each joined room its new neutral events and the gap, if any, to fetch first.

nio's ``AsyncClient.sync`` parses the response and updates its room list; this module
only reads the parsed response, and the adapter loop (adapters/matrix.py) carries out
what it decides. Everything in a response came from a homeserver or from somebody's
client, so nothing here may raise on its contents (tests/matrix/test_digest.py fuzzes it).

What is history is not a command: events before the bot's own join in a room, events of
the first sync after a first start, and events sent before that first start (the clock
``history_before``, as a homeserver may answer a repeated initial sync from its cache).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any

from nio import SyncResponse

from adapters.matrix_translate import Receiver, as_mapping, translate
from bot.config import MatrixConfig
from bot.events import Event


@dataclass(frozen=True)
class Invitation:
    """The bot was invited to ``room_id`` by ``inviter``: join (``accept``) or decline.
    ``direct``: the inviter marked the room as a direct chat (record it in m.direct)."""

    room_id: str
    inviter: str
    accept: bool
    direct: bool


@dataclass(frozen=True)
class Gap:
    """More happened in a room since the previous sync than one timeline holds: the
    events from ``start`` (the timeline's ``prev_batch``) back to ``since`` are missing."""

    room_id: str
    start: str
    since: str


@dataclass(frozen=True)
class RoomEvents:
    """A joined room's new neutral events, oldest first; those of its ``gap`` (digested
    with ``neutral_events`` once fetched) come before them."""

    room_id: str
    events: list[Event]
    gap: Gap | None = None


@dataclass(frozen=True)
class SyncDigest:
    invitations: list[Invitation] = field(default_factory=list)
    rooms: list[RoomEvents] = field(default_factory=list)


def sources(events: Iterable[Any]) -> list[dict[str, Any]]:
    """The raw event dicts of nio's parsed timeline events (``{}`` where there is none)."""
    out: list[dict[str, Any]] = []
    for event in events:
        src = getattr(event, "source", None)
        out.append(src if isinstance(src, dict) else {})
    return out


def own_join(src: Mapping[str, Any], me: str) -> bool:
    """Whether the event is the bot's own join (not a repeat of it, e.g. a name change)."""
    if src.get("type") != "m.room.member" or src.get("state_key") != me:
        return False
    prev = as_mapping(as_mapping(src.get("unsigned")).get("prev_content"))
    return as_mapping(src.get("content")).get("membership") == "join" and prev.get(
        "membership"
    ) != "join"


def sent_at(src: Mapping[str, Any]) -> int:
    """The event's ``origin_server_ts`` in ms, 0 when it has none."""
    ts = src.get("origin_server_ts")
    return ts if isinstance(ts, int) else 0


def may_invite(config: MatrixConfig, inviter: str, room_id: str) -> bool:
    """``allowed_users`` (globs; by default people of the bot's own server) and
    ``allowed_rooms`` (globs; by default any room) must both allow the invitation."""
    users, rooms = config.allowed_users, config.allowed_rooms
    user_ok = (
        any(fnmatchcase(inviter, glob) for glob in users)
        if users
        else inviter.split(":", 1)[-1] == config.user_id.split(":", 1)[-1]
    )
    return user_ok and (not rooms or any(fnmatchcase(room_id, glob) for glob in rooms))


def invitation(room_id: str, invite_state: Sequence[Any], config: MatrixConfig
               ) -> Invitation | None:
    """The decision on an invited room's stripped state, or None when it holds no
    invitation of the bot."""
    me = config.user_id
    mine = [
        e
        for e in invite_state
        if getattr(e, "state_key", None) == me and getattr(e, "membership", None) == "invite"
    ]
    if not mine:
        return None
    inviter = str(getattr(mine[-1], "sender", ""))
    content = as_mapping(getattr(mine[-1], "content", None))
    return Invitation(room_id, inviter, may_invite(config, inviter, room_id),
                      bool(content.get("is_direct")))


def neutral_events(receiver: Receiver, room_id: str, events: Iterable[Mapping[str, Any]],
                   history_before: int = 0) -> list[Event]:
    """Timeline events as neutral events, leaving out what was sent before
    ``history_before`` (ms) and what is not for the bot."""
    out: list[Event] = []
    for src in events:
        if sent_at(src) >= history_before:
            event = translate(receiver, room_id, src)
            if event is not None:
                out.append(event)
    return out


def digest(resp: SyncResponse, receiver: Receiver, *, first: bool = False,
           since: str | None = None, history_before: int = 0) -> SyncDigest:
    """What one sync response asks of the bot. ``first``: the initial sync of a first
    start, of which only invitations count; ``since``: the position this sync was asked
    from, where a gap in a limited timeline ends."""
    invitations = [
        decided
        for room_id, info in resp.rooms.invite.items()
        if (decided := invitation(room_id, info.invite_state, receiver.config)) is not None
    ]
    if first:
        return SyncDigest(invitations)
    rooms: list[RoomEvents] = []
    for room_id, info in resp.rooms.join.items():
        timeline = info.timeline
        events = sources(timeline.events)
        joined_at = [i for i, src in enumerate(events) if own_join(src, receiver.user_id)]
        gap = None
        if joined_at:
            events = events[joined_at[-1] + 1 :]  # what came before we joined is history
        elif timeline.limited and since and isinstance(timeline.prev_batch, str) \
                and timeline.prev_batch:
            gap = Gap(room_id, timeline.prev_batch, since)
        new = neutral_events(receiver, room_id, events, history_before)
        if new or gap is not None:
            rooms.append(RoomEvents(room_id, new, gap))
    return SyncDigest(invitations, rooms)


__all__ = [
    "Gap", "Invitation", "RoomEvents", "SyncDigest", "digest", "invitation", "may_invite",
    "neutral_events", "own_join", "sent_at", "sources",
]
