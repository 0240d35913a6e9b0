"""The typed model: what the store's rows mean, with the rules that read them.

Rows come out of the store as frozen dataclasses whose fields are enums, and every rule
about a letter or a schedule (is it public, may it be signed now, does a count show) is a
method here, so that no command compares the strings the database keeps.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from bot.events import Room, User


def utc_iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def utc_iso_exact(moment: datetime) -> str:
    """Like utc_iso, to the microsecond: a due time is kept exactly as it was asked for."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def from_iso(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _maybe_time(text: str | None) -> datetime | None:
    return from_iso(text) if text else None


class Visibility(StrEnum):
    PUBLIC = "public"
    COUNT = "count"
    SEALED = "sealed"

    def rank(self) -> int:
        """How private: an edit may only raise it once someone has signed."""
        return list(Visibility).index(self)


class State(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class Audience(StrEnum):
    ROOM = "room"
    SIGNERS = "signers"
    ORGANIZERS = "organizers"


class Kind(StrEnum):
    REVIEW = "review"
    REMINDER = "reminder"


Row = Any  # an aiosqlite.Row: read by column name


@dataclass(frozen=True)
class Letter:
    id: int
    title: str
    link: str | None
    deadline: datetime | None
    visibility: Visibility
    threshold: int | None
    state: State
    created_at: datetime
    closed_at: datetime | None
    shown_count: int
    opened: bool = False  # a sealed list was shown: it stays open for good
    version: int = 1  # raised by an edit of the title or link once someone has signed
    counted: int = 0  # the counted set's size (signatures and pledges that count), live
    pledged: int = 0  # pledges of the current version waiting, live
    waiting_min: int | None = None  # the smallest condition among them
    reach: int | None = None  # no waiting pledge can join while this exceeds ``counted``
    pledge_max: bytes | None = None  # sealed: the largest condition of a counted pledge
    shown_pledged: int = 0  # the waiting pledges as the count refresh last showed them
    shown_waiting: int | None = None
    only: tuple[str, ...] = ()  # who may sign: Slack team ids, Matrix servers; () anyone

    @property
    def ref(self) -> str:
        return f"L{self.id}"

    @property
    def is_open(self) -> bool:
        return self.state is State.OPEN

    @property
    def is_public(self) -> bool:
        return self.visibility is Visibility.PUBLIC

    @property
    def is_sealed(self) -> bool:
        return self.visibility is Visibility.SEALED

    def past_deadline(self, now: datetime) -> bool:
        return self.deadline is not None and self.deadline <= now

    def signable(self, now: datetime) -> bool:
        """Open, and its deadline (if any) not yet come."""
        return self.is_open and not self.past_deadline(now)

    def closed_problem(self, now: datetime) -> str | None:
        """Why it can no longer be signed or withdrawn from, or None while it can."""
        if not self.is_open:
            return f"{self.ref} is closed; it can no longer be signed or withdrawn from."
        if self.past_deadline(now):
            return f"{self.ref}'s deadline has passed; it is closing."
        return None

    @classmethod
    def from_row(cls, row: Row) -> Letter:
        return cls(
            id=row["id"],
            title=row["title"],
            link=row["link"],
            deadline=_maybe_time(row["deadline"]),
            visibility=Visibility(row["visibility"]),
            threshold=row["threshold"],
            state=State(row["state"]),
            created_at=from_iso(row["created_at"]),
            closed_at=_maybe_time(row["closed_at"]),
            shown_count=row["shown_count"],
            opened=bool(row["opened"]),
            version=row["version"],
            counted=row["counted"],
            pledged=row["pledged"],
            waiting_min=row["waiting_min"],
            reach=row["reach"],
            pledge_max=row["pledge_max"],
            shown_pledged=row["shown_pledged"],
            shown_waiting=row["shown_waiting"],
            only=tuple(row["only"].split(",")) if row["only"] else (),
        )

    def joins_possible(self, size: int, condition: int = 1) -> bool:
        """Whether, once a new signature with ``condition`` is added (counted when plain,
        waiting otherwise), a waiting pledge might join a counted set of ``size`` (the
        ``reach`` bound as the triggers will have lowered it)."""
        if condition == 1:
            return bool(self.pledged) and (self.reach is None or self.reach <= size)
        size -= 1  # a pledge is written as waiting
        if not self.pledged or self.reach is None:
            return condition - 1 <= size
        return min(self.reach - 1, condition - self.pledged - 1) <= size

    def may_sign(self, home: str | None) -> bool:
        """Whether someone from ``home`` (a Slack team, a Matrix server) may sign it."""
        return not self.only or (home is not None and home.lower() in self.only)


@dataclass(frozen=True)
class Repetition:
    """How a recurring reminder repeats: its spec and the zone *name* it is read in, so
    09:00 stays 09:00 across daylight saving."""

    spec: str
    tz: str


@dataclass(frozen=True)
class Schedule:
    """A review or a reminder, R<n>."""

    id: int
    letter_id: int
    next_at: datetime
    text: str | None
    # Where it was scheduled, and where a review or a reminder to the room is posted. None
    # for a reminder to signers or organizers scheduled from a direct room: no direct room's
    # id is stored (the row holds empty platform and room).
    room: Room | None
    created_at: datetime

    @property
    def ref(self) -> str:
        return f"R{self.id}"

    @staticmethod
    def from_row(row: Row) -> Review | Reminder:
        common = {
            "id": row["id"], "letter_id": row["letter_id"], "next_at": from_iso(row["next_at"]),
            "text": row["text"], "created_at": from_iso(row["created_at"]),
            "room": Room(row["platform"], row["room"]) if row["room"] else None,
        }
        if Kind(row["kind"]) is Kind.REVIEW:
            return Review(**common, review_at=from_iso(row["review_at"]))
        repeats = Repetition(row["recurrence"], row["tz"]) if row["recurrence"] else None
        return Reminder(**common, audience=Audience(row["audience"]), repeats=repeats)


@dataclass(frozen=True)
class Review(Schedule):
    """A review of the draft, announced in the room, with heads-ups before it."""

    review_at: datetime
    kind: Kind = Kind.REVIEW
    audience: Audience = Audience.ROOM
    text_for_organizers_only = False


@dataclass(frozen=True)
class Reminder(Schedule):
    audience: Audience
    repeats: Repetition | None
    kind: Kind = Kind.REMINDER

    @property
    def text_for_organizers_only(self) -> bool:
        return self.audience is not Audience.ROOM


Scheduled = Review | Reminder  # what the store hands out as R<n>


@dataclass(frozen=True)
class Announcement:
    letter_id: int
    room: Room
    message_ref: str | None


# A sealed signature is padded to a multiple of this many bytes, so that the length of
# its blob tells how long a line its signer chose to be listed by only to within this.
# (Larger blocks would hide more, but rows spilling over more pages than a refresh keeps
# in order; see test_at_rest.)
_SEALED_BLOCK = 32


@dataclass(frozen=True)
class Signature:
    """One signature. ``version`` is the letter's version it was given to (kept beside
    it, to count); ``listing`` the line its signer wants in the signature block, None for
    their platform display name (looked up when the block is made, never stored);
    ``anonymous``: count me, do not name me."""

    user: User
    signed_at: datetime
    listing: str | None = None
    anonymous: bool = False
    version: int = 1
    condition: int = 1  # sign … if N: counts only once N, its signer included, are counted
    told: bool = False  # its pledger was told it counts (once; it may have been seen since)
    counted: bool = True  # in the letter's counted set (always, for a plain signature)

    def sealed(self) -> str:
        """What a signature row seals: who, exactly when (for ``export``) and how they are
        listed; the file keeps no time beside a signature. Padded with spaces, which
        JSON ignores, to a multiple of ``_SEALED_BLOCK`` bytes."""
        found: dict[str, object] = {"who": self.user.key, "at": utc_iso(self.signed_at)}
        if self.anonymous:
            found["anon"] = True
        elif self.listing is not None:
            found["as"] = self.listing
        if self.condition > 1:
            found["if"] = self.condition
        if self.told:
            found["told"] = True
        text = json.dumps(found, separators=(",", ":"), ensure_ascii=False)
        return text + " " * (-len(text.encode("utf-8")) % _SEALED_BLOCK)

    @classmethod
    def unsealed(cls, text: str, version: int = 1, counted: bool = True) -> Signature:
        found = json.loads(text)
        return cls(user_from_key(found["who"]), from_iso(found["at"]), found.get("as"),
                   bool(found.get("anon")), version, int(found.get("if", 1)),
                   bool(found.get("told")), counted)

    @property
    def is_pledge(self) -> bool:
        return self.condition > 1

    def current(self, letter: Letter) -> bool:
        """Given to the letter's current version: only such signatures count."""
        return self.version == letter.version


MAX_CONDITION = 100_000  # sign … if N: the largest N


def counted_size(conditions: Iterable[int]) -> int:
    """The size of the counted set: the largest k such that k of the conditions are at
    most k (sorted ascending, the largest k with the k-th condition <= k). Every
    condition at most that size is counted, and no other."""
    size = 0
    for k, condition in enumerate(sorted(conditions), start=1):
        if condition <= k:
            size = k
    return size


@dataclass(frozen=True)
class Resealed:
    """What a key rotation re-encrypted (identities, reaction ids) or had to drop
    (reaction indexes without a sealed id, de-duplication records)."""

    identities: int
    reactions: int
    reactions_dropped: int
    events_dropped: int


def user_from_key(key: str) -> User:
    platform, _, ident = key.partition(":")
    return User(platform, ident)
