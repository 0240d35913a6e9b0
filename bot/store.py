"""The store: one SQLite file, the one source of truth.

One connection does all the writing, and a lock lets one transaction run at a time, so
a command's change, the record of the event that caused it and (through commit-then-
confirm) the reply it earns always agree. Identities are sealed (bot.seal) before they
are written. Migrations are numbered functions run against ``PRAGMA user_version``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sqlite3
import stat
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiosqlite

from bot.events import Room, User
from bot.seal import LEGACY_BINDING, KeyError_, Sealer, binding


def utc_iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def utc_iso_exact(moment: datetime) -> str:
    """Like utc_iso, to the microsecond: a due time is kept exactly as it was asked for."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def from_iso(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


# SQLite's primary result codes for a store that cannot take writes: read-only file or
# connection, disk (or max_page_count) full, an I/O error.
_STORAGE_FAULTS = {sqlite3.SQLITE_READONLY, sqlite3.SQLITE_FULL, sqlite3.SQLITE_IOERR}


def storage_fault(exc: BaseException) -> bool:
    """True when ``exc`` says the database cannot be written now (not a bug in a query)."""
    code = getattr(exc, "sqlite_errorcode", None)
    return isinstance(exc, sqlite3.Error) and code is not None and code & 0xFF in _STORAGE_FAULTS


class StoreError(Exception):
    """The database cannot be used as it is (a newer version, files readable by others)."""


def _private_files(path: Path) -> None:
    """The database is made with mode 0600 (SQLite gives its -wal and -shm files the mode
    of the database); an existing one, or its -wal or -shm, that others may read is
    refused, as a key file is."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileExistsError):
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    wide = []
    for file in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        if file.exists() and stat.S_IMODE(file.stat().st_mode) & 0o077:
            wide.append(file.name)
    if wide:
        raise StoreError(
            f"{', '.join(wide)} can be read by others; the database names who signed what "
            f"once its key is known. Run: chmod 600 {' '.join(wide)}"
        )


# --- migrations -------------------------------------------------------------------------

Migration = Callable[[aiosqlite.Connection, Sealer], Awaitable[None]]


async def _script(db: aiosqlite.Connection, sql: str) -> None:
    """Run statements one by one (executescript would commit the migration's transaction)."""
    for statement in sql.split(";"):
        if statement.strip():
            await db.execute(statement)


async def _m1_letters_and_signatures(db: aiosqlite.Connection, _: Sealer) -> None:
    await _script(
        db,
        """
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE letters (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            title TEXT NOT NULL,
            link TEXT,
            deadline TEXT,
            visibility TEXT NOT NULL CHECK (visibility IN ('public', 'count', 'sealed')),
            threshold INTEGER,
            state TEXT NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'closed')),
            created_at TEXT NOT NULL,
            closed_at TEXT,
            shown_count INTEGER NOT NULL DEFAULT 0
        );
        CREATE TABLE announcements (
            letter_id INTEGER NOT NULL REFERENCES letters(id) ON DELETE CASCADE,
            platform TEXT NOT NULL,
            room TEXT NOT NULL,
            message_ref TEXT,
            PRIMARY KEY (letter_id, platform, room)
        );
        CREATE INDEX announcements_by_message ON announcements(platform, room, message_ref);
        CREATE TABLE organizers (
            letter_id INTEGER NOT NULL REFERENCES letters(id) ON DELETE CASCADE,
            who_index BLOB NOT NULL,
            who_sealed BLOB NOT NULL,
            PRIMARY KEY (letter_id, who_index)
        );
        CREATE INDEX organizers_by_who ON organizers(who_index);
        CREATE TABLE signatures (
            letter_id INTEGER NOT NULL REFERENCES letters(id) ON DELETE CASCADE,
            who_index BLOB NOT NULL,
            who_sealed BLOB NOT NULL,
            signed_at TEXT NOT NULL,
            by_reaction INTEGER NOT NULL DEFAULT 0,
            reaction_index BLOB,
            PRIMARY KEY (letter_id, who_index)
        );
        CREATE INDEX signatures_by_who ON signatures(who_index);
        CREATE INDEX signatures_by_reaction ON signatures(reaction_index);
        CREATE TABLE seen_events (event_index BLOB PRIMARY KEY, seen_at TEXT NOT NULL);
        CREATE INDEX seen_events_by_time ON seen_events(seen_at);
        """
    )


async def _m2_schedules(db: aiosqlite.Connection, _: Sealer) -> None:
    """Reviews and reminders (ids R<n>). ``next_at`` is the next moment the row fires (for a
    review: its next heads-up, then the review); a recurring reminder keeps its repetition
    and the zone *name* it is read in, so 09:00 stays 09:00 across daylight saving."""
    await _script(
        db,
        """
        CREATE TABLE schedules (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            letter_id INTEGER NOT NULL REFERENCES letters(id) ON DELETE CASCADE,
            kind TEXT NOT NULL CHECK (kind IN ('review', 'reminder')),
            next_at TEXT NOT NULL,
            recurrence TEXT,
            tz TEXT,
            review_at TEXT,
            text TEXT,
            audience TEXT NOT NULL CHECK (audience IN ('room', 'signers', 'organizers')),
            platform TEXT NOT NULL,
            room TEXT NOT NULL,
            created_at TEXT NOT NULL,
            CHECK ((recurrence IS NULL) = (tz IS NULL)),
            CHECK ((kind = 'review') = (review_at IS NOT NULL))
        );
        CREATE INDEX schedules_by_letter ON schedules(letter_id);
        CREATE INDEX schedules_by_room ON schedules(platform, room)
        """
    )


async def _m3_sealed_reaction_refs(db: aiosqlite.Connection, _: Sealer) -> None:
    """Keep each signing reaction's id sealed beside its blind index. An HMAC cannot be
    recomputed under a new key from itself; with the sealed id, ``rotate-key`` can.
    Rows signed before this migration keep only the index (rotation drops it: a later
    redaction of such a reaction then withdraws nothing, ``unsign`` still does)."""
    await db.execute("ALTER TABLE signatures ADD COLUMN reaction_sealed BLOB")


async def _m4_timer_indexes(db: aiosqlite.Connection, _: Sealer) -> None:
    """The scheduler asks for open letters with a deadline at every timer change, and the
    count refresh for open letters that are not public: index just those."""
    await _script(
        db,
        """
        CREATE INDEX letters_open_deadlines ON letters(deadline)
            WHERE state = 'open' AND deadline IS NOT NULL;
        CREATE INDEX letters_open_unlisted ON letters(id)
            WHERE state = 'open' AND visibility != 'public'
        """,
    )


ORGANIZERS = "organizers"
SIGNATURES = "signatures"


def _signature_payload(user_key: str, signed_at: datetime) -> str:
    """What a signature row seals: who, and exactly when (for ``export``); the file itself
    keeps no time beside a signature."""
    return json.dumps({"who": user_key, "at": utc_iso(signed_at)}, separators=(",", ":"))


async def _m5_per_letter_identities(db: aiosqlite.Connection, sealer: Sealer) -> None:
    """Nothing in the file links one person across letters or orders a letter's signers.
    Organizers and signatures are rebuilt as WITHOUT ROWID tables keyed by a blind index
    of (table, letter, person), with every sealed value bound to its table, letter and
    index; the clear ``signed_at`` goes (the exact time is sealed with the identity), and
    so do the global by-person indexes. Rows are written in index order, not signing
    order, and ``letters.reorder`` marks a letter signed since its rows were last rewritten
in that order (see ``Tx.reorder_signatures``). ``letters.opened`` records that a sealed
list has been shown. The file is
    vacuumed after the commit (``vacuum_pending``) so no old page lingers."""
    await _script(
        db,
        """
        CREATE TABLE organizers_v5 (
            letter_id INTEGER NOT NULL REFERENCES letters(id) ON DELETE CASCADE,
            who_index BLOB NOT NULL,
            who_sealed BLOB NOT NULL,
            PRIMARY KEY (letter_id, who_index)
        ) WITHOUT ROWID;
        CREATE TABLE signatures_v5 (
            letter_id INTEGER NOT NULL REFERENCES letters(id) ON DELETE CASCADE,
            who_index BLOB NOT NULL,
            who_sealed BLOB NOT NULL,
            by_reaction INTEGER NOT NULL DEFAULT 0,
            reaction_index BLOB,
            reaction_sealed BLOB,
            PRIMARY KEY (letter_id, who_index)
        ) WITHOUT ROWID
        """,
    )
    organizers = []
    for row in await db.execute_fetchall("SELECT letter_id, who_sealed FROM organizers"):
        who = sealer.open(row[1], LEGACY_BINDING)
        index = sealer.person_index(ORGANIZERS, row[0], who)
        organizers.append((row[0], index, sealer.seal(who, binding(ORGANIZERS, row[0], index))))
    await db.executemany("INSERT INTO organizers_v5 VALUES (?, ?, ?)", sorted(organizers))
    signatures = []
    for row in await db.execute_fetchall(
        "SELECT letter_id, who_sealed, signed_at, by_reaction, reaction_index, reaction_sealed"
        " FROM signatures"
    ):
        letter_id, who = row[0], sealer.open(row[1], LEGACY_BINDING)
        index = sealer.person_index(SIGNATURES, letter_id, who)
        bound = binding(SIGNATURES, letter_id, index)
        reaction = sealer.open(row[5], LEGACY_BINDING) if row[5] is not None else None
        signatures.append((
            letter_id, index, sealer.seal(_signature_payload(who, from_iso(row[2])), bound),
            row[3], row[4], sealer.seal(reaction, bound) if reaction is not None else None,
        ))
    await db.executemany("INSERT INTO signatures_v5 VALUES (?, ?, ?, ?, ?, ?)",
                         sorted(signatures))
    await _script(
        db,
        """
        DROP TABLE organizers;
        DROP TABLE signatures;
        ALTER TABLE organizers_v5 RENAME TO organizers;
        ALTER TABLE signatures_v5 RENAME TO signatures;
        CREATE INDEX signatures_by_reaction ON signatures(reaction_index)
            WHERE reaction_index IS NOT NULL;
        ALTER TABLE letters ADD COLUMN opened INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE letters ADD COLUMN reorder INTEGER NOT NULL DEFAULT 0;
        INSERT OR REPLACE INTO meta (key, value) VALUES ('vacuum_pending', '1')
        """,
    )


MIGRATIONS: list[Migration] = [_m1_letters_and_signatures, _m2_schedules,
                               _m3_sealed_reaction_refs, _m4_timer_indexes,
                               _m5_per_letter_identities]


# --- rows -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Letter:
    id: int
    title: str
    link: str | None
    deadline: datetime | None
    visibility: str
    threshold: int | None
    state: str
    created_at: datetime
    closed_at: datetime | None
    shown_count: int
    opened: bool = False  # a sealed list was shown: it stays open for good

    @property
    def ref(self) -> str:
        return f"L{self.id}"

    @property
    def is_open(self) -> bool:
        return self.state == "open"

    @classmethod
    def from_row(cls, row: aiosqlite.Row) -> Letter:
        return cls(
            id=row["id"],
            title=row["title"],
            link=row["link"],
            deadline=from_iso(row["deadline"]) if row["deadline"] else None,
            visibility=row["visibility"],
            threshold=row["threshold"],
            state=row["state"],
            created_at=from_iso(row["created_at"]),
            closed_at=from_iso(row["closed_at"]) if row["closed_at"] else None,
            shown_count=row["shown_count"],
            opened=bool(row["opened"]),
        )


@dataclass(frozen=True)
class Schedule:
    """A review or a reminder, R<n>."""

    id: int
    letter_id: int
    kind: str  # "review" or "reminder"
    next_at: datetime
    recurrence: str | None
    tz: str | None
    review_at: datetime | None
    text: str | None
    audience: str  # "room", "signers" or "organizers"
    # Where it was scheduled, and where a review or a reminder to the room is posted. None
    # for a reminder to signers or organizers scheduled from a direct room: no direct room's
    # id is stored (the row holds empty platform and room).
    room: Room | None
    created_at: datetime

    @property
    def ref(self) -> str:
        return f"R{self.id}"

    @classmethod
    def from_row(cls, row: aiosqlite.Row) -> Schedule:
        return cls(
            id=row["id"],
            letter_id=row["letter_id"],
            kind=row["kind"],
            next_at=from_iso(row["next_at"]),
            recurrence=row["recurrence"],
            tz=row["tz"],
            review_at=from_iso(row["review_at"]) if row["review_at"] else None,
            text=row["text"],
            audience=row["audience"],
            room=Room(row["platform"], row["room"]) if row["room"] else None,
            created_at=from_iso(row["created_at"]),
        )


@dataclass(frozen=True)
class Announcement:
    letter_id: int
    room: Room
    message_ref: str | None


@dataclass(frozen=True)
class Signature:
    user: User
    signed_at: datetime


@dataclass(frozen=True)
class Resealed:
    """What a key rotation re-encrypted (identities, reaction ids) or had to drop
    (reaction indexes without a sealed id, de-duplication records)."""

    identities: int
    reactions: int
    reactions_dropped: int
    events_dropped: int


def _user_from_key(key: str) -> User:
    platform, _, ident = key.partition(":")
    return User(platform, ident)


# --- the transaction --------------------------------------------------------------------


class Tx:
    """One open transaction. Every query the commands need lives here, by name."""

    def __init__(self, db: aiosqlite.Connection, sealer: Sealer) -> None:
        self.db = db
        self.sealer = sealer
        # Set by every query that may change what the scheduler must arm (schedules,
        # deadlines, letters opening or closing), so the app knows to re-arm its jobs.
        self.timers_changed = False

    # Each await below is one hop to aiosqlite's thread and back; a cursor opened, read
    # and closed would be three. On the sign-on path that is most of the cost.

    async def _one(self, sql: str, args: Iterable[Any] = ()) -> aiosqlite.Row | None:
        rows = await self._all(sql, args)
        return rows[0] if rows else None

    async def _all(self, sql: str, args: Iterable[Any] = ()) -> list[aiosqlite.Row]:
        return list(await self.db.execute_fetchall(sql, tuple(args)))

    async def _run(self, sql: str, args: Iterable[Any] = ()) -> int:
        cursor = await self.db.execute(sql, tuple(args))
        return cursor.rowcount

    # events

    async def first_sighting(self, event_id: str, now: datetime) -> bool:
        """Record a platform event id; False when it was seen before (a redelivery). The
        time kept is the hour (rounded up, so a record lives at least 48 hours): the
        file does not say to the second when anyone did anything."""
        index = self.sealer.index("event:" + event_id)
        hour = now.replace(minute=0, second=0, microsecond=0)
        changed = await self._run(
            "INSERT OR IGNORE INTO seen_events (event_index, seen_at) VALUES (?, ?)",
            (index, utc_iso(hour if hour == now else hour + timedelta(hours=1))),
        )
        return changed == 1

    async def forget_events_before(self, moment: datetime) -> int:
        return await self._run("DELETE FROM seen_events WHERE seen_at < ?", (utc_iso(moment),))

    # letters

    async def create_letter(
        self,
        *,
        title: str,
        link: str | None,
        deadline: datetime | None,
        visibility: str,
        threshold: int | None,
        now: datetime,
    ) -> int:
        self.timers_changed |= deadline is not None
        async with self.db.execute(
            "INSERT INTO letters (title, link, deadline, visibility, threshold, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (title, link, utc_iso(deadline) if deadline else None, visibility, threshold,
             utc_iso(now)),
        ) as cur:
            assert cur.lastrowid is not None
            return cur.lastrowid

    async def letter(self, letter_id: int) -> Letter | None:
        row = await self._one("SELECT * FROM letters WHERE id = ?", (letter_id,))
        return Letter.from_row(row) if row else None

    async def letters(self, *, state: str | None = None) -> list[Letter]:
        if state is None:
            rows = await self._all("SELECT * FROM letters ORDER BY id")
        else:
            rows = await self._all("SELECT * FROM letters WHERE state = ? ORDER BY id", (state,))
        return [Letter.from_row(r) for r in rows]

    async def open_letters_with_deadlines(self) -> list[Letter]:
        rows = await self._all(
            "SELECT * FROM letters WHERE state = 'open' AND deadline IS NOT NULL ORDER BY id"
        )
        return [Letter.from_row(r) for r in rows]

    async def stale_public_counts(self) -> list[tuple[Letter, int]]:
        """Open letters that are not public whose shown count differs from the live one,
        with the live count: one query, however many letters there are."""
        rows = await self._all(
            "SELECT l.*, c.live FROM letters l JOIN"
            " (SELECT l2.id AS id, (SELECT COUNT(*) FROM signatures s WHERE s.letter_id = l2.id)"
            "  AS live FROM letters l2 WHERE l2.state = 'open' AND l2.visibility != 'public') c"
            " ON c.id = l.id WHERE c.live != l.shown_count ORDER BY l.id"
        )
        return [(Letter.from_row(r), int(r["live"])) for r in rows]

    async def open_letters_in(self, room: Room) -> list[Letter]:
        rows = await self._all(
            "SELECT letters.* FROM letters JOIN announcements a ON a.letter_id = letters.id"
            " WHERE a.platform = ? AND a.room = ? AND letters.state = 'open' ORDER BY letters.id",
            (room.platform, room.id),
        )
        return [Letter.from_row(r) for r in rows]

    async def close_letter(self, letter_id: int, now: datetime) -> None:
        self.timers_changed = True
        await self._run(
            "UPDATE letters SET state = 'closed', closed_at = ? WHERE id = ?",
            (utc_iso(now), letter_id),
        )

    async def set_shown_count(self, letter_id: int, count: int) -> None:
        await self._run("UPDATE letters SET shown_count = ? WHERE id = ?", (count, letter_id))

    async def purge_closed_before(self, moment: datetime) -> int:
        return await self._run(
            "DELETE FROM letters WHERE state = 'closed' AND closed_at < ?", (utc_iso(moment),)
        )

    # schedules (reviews and reminders)

    async def add_schedule(
        self,
        *,
        letter_id: int,
        kind: str,
        next_at: datetime,
        recurrence: str | None,
        tz: str | None,
        review_at: datetime | None,
        text: str | None,
        audience: str,
        room: Room | None,
        now: datetime,
    ) -> int:
        self.timers_changed = True
        assert room is not None or audience != "room", "a reminder to the room needs one"
        assert room is None or not room.direct, "a direct room's id is never stored"
        async with self.db.execute(
            "INSERT INTO schedules (letter_id, kind, next_at, recurrence, tz, review_at, text,"
            " audience, platform, room, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (letter_id, kind, utc_iso_exact(next_at), recurrence, tz,
             utc_iso_exact(review_at) if review_at else None, text, audience,
             room.platform if room else "", room.id if room else "", utc_iso(now)),
        ) as cur:
            assert cur.lastrowid is not None
            return cur.lastrowid

    async def schedule(self, schedule_id: int) -> Schedule | None:
        row = await self._one("SELECT * FROM schedules WHERE id = ?", (schedule_id,))
        return Schedule.from_row(row) if row else None

    async def schedules(self, letter_id: int | None = None) -> list[Schedule]:
        if letter_id is None:
            rows = await self._all("SELECT * FROM schedules ORDER BY next_at, id")
        else:
            rows = await self._all(
                "SELECT * FROM schedules WHERE letter_id = ? ORDER BY next_at, id", (letter_id,)
            )
        return [Schedule.from_row(r) for r in rows]

    async def schedules_for_room(self, room: Room) -> list[Schedule]:
        """Reviews and reminders set in this room or for a letter announced in it."""
        rows = await self._all(
            "SELECT * FROM schedules WHERE (platform = ? AND room = ?) OR letter_id IN"
            " (SELECT letter_id FROM announcements WHERE platform = ? AND room = ?)"
            " ORDER BY next_at, id",
            (room.platform, room.id, room.platform, room.id),
        )
        return [Schedule.from_row(r) for r in rows]

    async def move_schedule(self, schedule_id: int, next_at: datetime) -> None:
        self.timers_changed = True
        await self._run("UPDATE schedules SET next_at = ? WHERE id = ?",
                        (utc_iso_exact(next_at), schedule_id))

    async def delete_schedule(self, schedule_id: int) -> bool:
        self.timers_changed = True
        return await self._run("DELETE FROM schedules WHERE id = ?", (schedule_id,)) == 1

    async def delete_schedules_of(self, letter_id: int) -> int:
        self.timers_changed = True
        return await self._run("DELETE FROM schedules WHERE letter_id = ?", (letter_id,))

    # announcements

    async def add_announcement(self, letter_id: int, room: Room) -> bool:
        changed = await self._run(
            "INSERT OR IGNORE INTO announcements (letter_id, platform, room) VALUES (?, ?, ?)",
            (letter_id, room.platform, room.id),
        )
        return changed == 1

    async def set_announcement_ref(self, letter_id: int, room: Room, message_ref: str) -> None:
        await self._run(
            "UPDATE announcements SET message_ref = ? WHERE letter_id = ? AND platform = ?"
            " AND room = ?",
            (message_ref, letter_id, room.platform, room.id),
        )

    async def announcements(self, letter_id: int) -> list[Announcement]:
        rows = await self._all(
            "SELECT * FROM announcements WHERE letter_id = ? ORDER BY platform, room",
            (letter_id,),
        )
        return [
            Announcement(r["letter_id"], Room(r["platform"], r["room"]), r["message_ref"])
            for r in rows
        ]

    async def letter_announced_by(self, room: Room, message_ref: str) -> int | None:
        row = await self._one(
            "SELECT letter_id FROM announcements WHERE platform = ? AND room = ?"
            " AND message_ref = ?",
            (room.platform, room.id, message_ref),
        )
        return int(row["letter_id"]) if row else None

    # organizers and signatures: every look-up of a person goes through the blind index
    # of (table, letter, person), so the same person's rows in two letters share nothing.

    def _who(self, table: str, letter_id: int, user: User) -> bytes:
        return self.sealer.person_index(table, letter_id, user.key)

    def _opened(self, table: str, row: aiosqlite.Row) -> str:
        """A row's sealed identity, opened under the binding of its table, letter, index."""
        bound = binding(table, row["letter_id"], row["who_index"])
        return self.sealer.open(row["who_sealed"], bound)

    async def _letters_where(self, table: str, user: User) -> list[int]:
        """The letters in which ``user`` has a row of ``table``. No index names a person
        across letters, so each letter's index is computed and probed in a temporary
        table (in memory: ``temp_store``) that is emptied at once."""
        ids = [int(r["id"]) for r in await self._all("SELECT id FROM letters")]
        if not ids:
            return []
        await self._run("CREATE TEMP TABLE IF NOT EXISTS probe (letter_id INTEGER NOT NULL,"
                        " who_index BLOB NOT NULL, PRIMARY KEY (letter_id, who_index))"
                        " WITHOUT ROWID")
        await self.db.executemany("INSERT OR IGNORE INTO temp.probe VALUES (?, ?)",
                                  [(n, self._who(table, n, user)) for n in ids])
        try:
            rows = await self._all(
                f"SELECT t.letter_id FROM {table} t JOIN temp.probe p"
                " ON p.letter_id = t.letter_id AND p.who_index = t.who_index"
                " ORDER BY t.letter_id"
            )
        finally:
            await self._run("DELETE FROM temp.probe")
        return [int(r["letter_id"]) for r in rows]

    async def add_organizer(self, letter_id: int, user: User) -> bool:
        index = self._who(ORGANIZERS, letter_id, user)
        changed = await self._run(
            "INSERT OR IGNORE INTO organizers (letter_id, who_index, who_sealed) VALUES (?, ?, ?)",
            (letter_id, index, self.sealer.seal(user.key, binding(ORGANIZERS, letter_id, index))),
        )
        return changed == 1

    async def remove_organizer(self, letter_id: int, user: User) -> bool:
        changed = await self._run(
            "DELETE FROM organizers WHERE letter_id = ? AND who_index = ?",
            (letter_id, self._who(ORGANIZERS, letter_id, user)),
        )
        return changed == 1

    async def is_organizer(self, letter_id: int, user: User) -> bool:
        row = await self._one(
            "SELECT 1 FROM organizers WHERE letter_id = ? AND who_index = ?",
            (letter_id, self._who(ORGANIZERS, letter_id, user)),
        )
        return row is not None

    async def organizers(self, letter_id: int) -> list[User]:
        rows = await self._all(
            "SELECT letter_id, who_index, who_sealed FROM organizers WHERE letter_id = ?",
            (letter_id,),
        )
        return sorted((_user_from_key(self._opened(ORGANIZERS, r)) for r in rows),
                      key=lambda u: u.key)

    async def letters_organized_by(self, user: User) -> list[int]:
        return await self._letters_where(ORGANIZERS, user)

    # signatures

    async def add_signature(
        self, letter_id: int, user: User, now: datetime, *, reaction_ref: str | None = None,
        by_reaction: bool = False,
    ) -> bool:
        index = self._who(SIGNATURES, letter_id, user)
        bound = binding(SIGNATURES, letter_id, index)
        changed = await self._run(
            "INSERT OR IGNORE INTO signatures (letter_id, who_index, who_sealed, by_reaction,"
            " reaction_index, reaction_sealed) VALUES (?, ?, ?, ?, ?, ?)",
            (
                letter_id,
                index,
                self.sealer.seal(_signature_payload(user.key, now), bound),
                int(by_reaction),
                self.sealer.index("reaction:" + reaction_ref) if reaction_ref else None,
                self.sealer.seal(reaction_ref, bound) if reaction_ref else None,
            ),
        )
        if changed:
            await self._run("UPDATE letters SET reorder = 1 WHERE id = ? AND reorder = 0",
                            (letter_id,))
        return changed == 1

    async def reorder_signatures(self) -> int:
        """Rewrite the rows of every letter signed since the last call in the order of
        their blind index. SQLite places a new row's bytes by when it was written, so
        between two calls the file orders the signatures made meanwhile; after one, no
        longer (the caller then folds the WAL, which holds the pages as written)."""
        done = 0
        for letter in await self._all("SELECT id FROM letters WHERE reorder = 1"):
            rows = await self._all(
                "SELECT letter_id, who_index, who_sealed, by_reaction, reaction_index,"
                " reaction_sealed FROM signatures WHERE letter_id = ? ORDER BY who_index",
                (letter["id"],),
            )
            await self._run("DELETE FROM signatures WHERE letter_id = ?", (letter["id"],))
            await self.db.executemany("INSERT INTO signatures VALUES (?, ?, ?, ?, ?, ?)",
                                      [tuple(r) for r in rows])
            await self._run("UPDATE letters SET reorder = 0 WHERE id = ?", (letter["id"],))
            done += 1
        return done

    async def remove_signature(self, letter_id: int, user: User) -> bool:
        changed = await self._run(
            "DELETE FROM signatures WHERE letter_id = ? AND who_index = ?",
            (letter_id, self._who(SIGNATURES, letter_id, user)),
        )
        return changed == 1

    def _signature(self, row: aiosqlite.Row) -> Signature:
        sealed = json.loads(self._opened(SIGNATURES, row))
        return Signature(_user_from_key(sealed["who"]), from_iso(sealed["at"]))

    async def signature_by_reaction(self, reaction_ref: str) -> tuple[int, User] | None:
        row = await self._one(
            "SELECT letter_id, who_index, who_sealed FROM signatures WHERE reaction_index = ?",
            (self.sealer.index("reaction:" + reaction_ref),),
        )
        if row is None:
            return None
        return int(row["letter_id"]), self._signature(row).user

    async def signed_by_reaction(self, letter_id: int, user: User) -> bool:
        row = await self._one(
            "SELECT by_reaction FROM signatures WHERE letter_id = ? AND who_index = ?",
            (letter_id, self._who(SIGNATURES, letter_id, user)),
        )
        return bool(row and row["by_reaction"])

    async def has_signed(self, letter_id: int, user: User) -> bool:
        row = await self._one(
            "SELECT 1 FROM signatures WHERE letter_id = ? AND who_index = ?",
            (letter_id, self._who(SIGNATURES, letter_id, user)),
        )
        return row is not None

    async def count(self, letter_id: int) -> int:
        row = await self._one("SELECT COUNT(*) AS n FROM signatures WHERE letter_id = ?",
                              (letter_id,))
        return int(row["n"]) if row else 0

    async def count_without(self, letter_id: int, people: Iterable[User]) -> int:
        """The letter's signatures less those of ``people`` (its organizers and the admins,
        whose own signatures do not open a sealed letter)."""
        indexes = list({self._who(SIGNATURES, letter_id, u) for u in people})
        marks = ", ".join("?" * len(indexes))
        row = await self._one(
            "SELECT COUNT(*) AS n FROM signatures WHERE letter_id = ?"
            + (f" AND who_index NOT IN ({marks})" if indexes else ""),
            (letter_id, *indexes),
        )
        return int(row["n"]) if row else 0

    async def signatures(self, letter_id: int) -> list[Signature]:
        """The letter's signatures in the order of their signers' ids, never signing order."""
        rows = await self._all(
            "SELECT letter_id, who_index, who_sealed FROM signatures WHERE letter_id = ?",
            (letter_id,),
        )
        return sorted((self._signature(r) for r in rows), key=lambda s: s.user.key)

    async def destroy_signatures(self, letter_id: int) -> int:
        return await self._run("DELETE FROM signatures WHERE letter_id = ?", (letter_id,))

    async def letters_signed_by(self, user: User) -> list[int]:
        return await self._letters_where(SIGNATURES, user)

    async def erase_signatures_of(self, user: User) -> int:
        erased = 0
        for letter_id in await self.letters_signed_by(user):
            erased += await self.remove_signature(letter_id, user)
        return erased

    async def mark_opened(self, letter_id: int) -> None:
        """A sealed letter's list was shown to someone: from now on it is open for good."""
        await self._run("UPDATE letters SET opened = 1 WHERE id = ?", (letter_id,))

    # key rotation

    async def reseal(self, new: Sealer) -> Resealed:
        """Re-encrypt every sealed value and recompute every blind index under ``new``, and
        store its key check. De-duplication records are HMACs of event ids that are not
        kept, so they cannot be recomputed: they are dropped (see SECURITY.md)."""
        people = reactions = dropped = 0
        for row in await self._all("SELECT letter_id, who_index, who_sealed FROM organizers"):
            who = self._opened(ORGANIZERS, row)
            index = new.person_index(ORGANIZERS, row["letter_id"], who)
            await self._run(
                "UPDATE organizers SET who_index = ?, who_sealed = ?"
                " WHERE letter_id = ? AND who_index = ?",
                (index, new.seal(who, binding(ORGANIZERS, row["letter_id"], index)),
                 row["letter_id"], row["who_index"]),
            )
            people += 1
        for row in await self._all(
            "SELECT letter_id, who_index, who_sealed, reaction_index, reaction_sealed"
            " FROM signatures"
        ):
            letter_id = row["letter_id"]
            old_bound = binding(SIGNATURES, letter_id, row["who_index"])
            payload = self.sealer.open(row["who_sealed"], old_bound)
            index = new.person_index(SIGNATURES, letter_id, json.loads(payload)["who"])
            bound = binding(SIGNATURES, letter_id, index)
            reaction_index = reaction_sealed = None
            if row["reaction_sealed"] is not None:
                ref = self.sealer.open(row["reaction_sealed"], old_bound)
                reaction_index, reaction_sealed = new.index("reaction:" + ref), new.seal(ref, bound)
                reactions += 1
            elif row["reaction_index"] is not None:
                dropped += 1  # signed before migration 3: no sealed id to recompute it from
            await self._run(
                "UPDATE signatures SET who_index = ?, who_sealed = ?, reaction_index = ?,"
                " reaction_sealed = ? WHERE letter_id = ? AND who_index = ?",
                (index, new.seal(payload, bound), reaction_index, reaction_sealed, letter_id,
                 row["who_index"]),
            )
            people += 1
        events = await self._run("DELETE FROM seen_events")
        await self.set_meta("key_check", new.check_value())
        self.sealer = new
        return Resealed(people, reactions, dropped, events)

    # small named values (adapters' positions)

    async def get_meta(self, key: str) -> str | None:
        row = await self._one("SELECT value FROM meta WHERE key = ?", (key,))
        return str(row["value"]) if row else None

    async def set_meta(self, key: str, value: str) -> None:
        await self._run(
            "INSERT INTO meta (key, value) VALUES (?, ?)"
            " ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    # where letters are seen

    async def is_announced_in(self, letter_id: int, room: Room) -> bool:
        """Whether the letter has an announcement in this room (its thread aside)."""
        row = await self._one(
            "SELECT 1 FROM announcements WHERE letter_id = ? AND platform = ? AND room = ?",
            (letter_id, room.platform, room.id),
        )
        return row is not None


class Store:
    """The database file, its one connection and the lock that orders transactions."""

    def __init__(self, db: aiosqlite.Connection, sealer: Sealer) -> None:
        self._db = db
        self.sealer = sealer
        self._lock = asyncio.Lock()

    @classmethod
    async def open(cls, path: Path | str, sealer: Sealer) -> Store:
        path = Path(path)
        _private_files(path)
        # "IMMEDIATE": sqlite3 itself opens a write transaction (BEGIN IMMEDIATE) right
        # before the first INSERT, UPDATE or DELETE outside one, in the same call; see
        # Store.transaction(write_first=True).
        db = await aiosqlite.connect(str(path), isolation_level="IMMEDIATE")
        db.row_factory = aiosqlite.Row
        for pragma in (
            "PRAGMA journal_mode=WAL",
            "PRAGMA synchronous=FULL",
            "PRAGMA foreign_keys=ON",
            "PRAGMA secure_delete=ON",
            "PRAGMA temp_store=MEMORY",  # the probes of Tx._letters_where never touch disk
            "PRAGMA busy_timeout=5000",
        ):
            await db.execute(pragma)
        store = cls(db, sealer)
        try:
            await store._migrate()
            await store._check_key()
            await store._vacuum_if_pending()
        except BaseException:
            await db.close()
            raise
        return store

    async def _migrate(self) -> None:
        async with self._db.execute("PRAGMA user_version") as cur:
            row = await cur.fetchone()
        version = int(row[0]) if row else 0
        if version > len(MIGRATIONS):
            raise StoreError(
                f"this database is at version {version}, newer than this Undersign knows "
                f"({len(MIGRATIONS)}): run the version that made it, or a newer one"
            )
        for number, migration in enumerate(MIGRATIONS, start=1):
            if number <= version:
                continue
            await self._db.execute("BEGIN IMMEDIATE")
            try:
                if version:  # an existing database: its key must open it before a change
                    await self._check_key_in_transaction()
                await migration(self._db, self.sealer)
                await self._db.execute(f"PRAGMA user_version = {number}")
                await self._db.execute("COMMIT")
            except BaseException:
                await self._db.execute("ROLLBACK")
                raise

    async def _check_key_in_transaction(self) -> None:
        tx = Tx(self._db, self.sealer)
        stored = await tx.get_meta("key_check")
        if stored is None:
            await tx.set_meta("key_check", self.sealer.check_value())
        elif stored != self.sealer.check_value():
            raise KeyError_(
                "this database was sealed with another key: set UNDERSIGN_DB_KEY "
                "(or restore the key file) to the key it was made with"
            )

    async def _check_key(self) -> None:
        async with self.transaction():
            await self._check_key_in_transaction()

    async def _vacuum_if_pending(self) -> None:
        """After a migration that rewrote sealed rows: rebuild the file and empty the WAL,
        so that no page of the old layout survives. Flagged in the migration's own
        transaction, so a crash before the vacuum is finished at the next start."""
        async with self.transaction() as tx:
            pending = await tx.get_meta("vacuum_pending")
            if pending:
                await tx.db.execute("DELETE FROM meta WHERE key = 'vacuum_pending'")
        if pending:
            await self._db.execute("VACUUM")
            await self.checkpoint()

    @contextlib.asynccontextmanager
    async def transaction(self, *, write_first: bool = False) -> AsyncIterator[Tx]:
        """One write transaction at a time. With ``write_first`` the caller promises that
        its first statement writes: the transaction then begins with that statement, in
        the same round trip to SQLite's thread, instead of with a BEGIN of its own (the
        event path does this: recording the event id comes first)."""
        async with self._lock:
            if not write_first:
                await self._db.execute("BEGIN IMMEDIATE")
            try:
                yield Tx(self._db, self.sealer)
            except BaseException:
                if self._db.in_transaction:  # SQLite may have rolled back already (disk full)
                    await self._db.execute("ROLLBACK")
                raise
            if self._db.in_transaction:
                await self._db.execute("COMMIT")

    @contextlib.asynccontextmanager
    async def reading(self) -> AsyncIterator[Tx]:
        """A transaction that only reads and is always rolled back, for answering reads
        while the database refuses writes. ``query_only`` makes any write in it fail
        loudly instead of being confirmed and then silently undone."""
        async with self._lock:
            async with self._db.execute("PRAGMA query_only") as cur:
                row = await cur.fetchone()
            was = int(row[0]) if row else 0
            await self._db.execute("PRAGMA query_only = 1")
            try:
                await self._db.execute("BEGIN")
                try:
                    yield Tx(self._db, self.sealer)
                finally:
                    if self._db.in_transaction:
                        await self._db.execute("ROLLBACK")
            finally:
                await self._db.execute(f"PRAGMA query_only = {was}")

    async def checkpoint(self) -> None:
        """Fold the WAL into the main file and truncate it, so erased bytes do not linger."""
        async with self._lock:
            await self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    # the adapters' StateStore
    async def get_state(self, key: str) -> str | None:
        async with self.transaction() as tx:
            return await tx.get_meta("state:" + key)

    async def set_state(self, key: str, value: str) -> None:
        async with self.transaction() as tx:
            await tx.set_meta("state:" + key, value)

    async def rotate(self, new: Sealer) -> Resealed:
        """Re-seal everything under ``new`` in one transaction, then fold the WAL so that
        no page sealed under the old key lingers in it."""
        async with self.transaction() as tx:
            done = await tx.reseal(new)
        self.sealer = new
        await self.checkpoint()
        return done

    async def purge(self, now: datetime, retention_days: int) -> tuple[int, int]:
        """Apply retention: closed letters (with all tied to them) after ``retention_days``,
        de-duplication records after 48 hours; then fold the WAL so nothing lingers."""
        async with self.transaction() as tx:
            letters = await tx.purge_closed_before(now - timedelta(days=retention_days))
            events = await tx.forget_events_before(now - timedelta(hours=48))
        await self.checkpoint()
        return letters, events

    async def close(self) -> None:
        await self._db.close()
