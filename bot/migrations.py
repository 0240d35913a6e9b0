"""Schema migrations: each a small function with a number and a one-line description,
run in order against ``PRAGMA user_version``, each in its own transaction (bot.store)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import aiosqlite

from bot.model import Signature, from_iso, user_from_key
from bot.seal import LEGACY_BINDING, Sealer, binding

ORGANIZERS = "organizers"
SIGNATURES = "signatures"

Run = Callable[[aiosqlite.Connection, Sealer], Awaitable[None]]


@dataclass(frozen=True)
class Migration:
    number: int
    description: str
    run: Run


MIGRATIONS: list[Migration] = []


def migration(number: int, description: str) -> Callable[[Run], Run]:
    """Register the migration to schema version ``number``: numbered once, in order."""

    def register(run: Run) -> Run:
        if number != len(MIGRATIONS) + 1:
            raise ValueError(f"migration {number} registered out of order")
        MIGRATIONS.append(Migration(number, description, run))
        return run

    return register


async def _script(db: aiosqlite.Connection, sql: str) -> None:
    """Run statements one by one (executescript would commit the migration's transaction)."""
    for statement in sql.split(";"):
        if statement.strip():
            await db.execute(statement)


@migration(1, "letters, announcements, organizers, signatures, seen events")
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


@migration(2, "reviews and reminders (R<n>)")
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


@migration(3, "each signing reaction's id kept sealed, so rotate-key can re-index it")
async def _m3_sealed_reaction_refs(db: aiosqlite.Connection, _: Sealer) -> None:
    """Keep each signing reaction's id sealed beside its blind index. An HMAC cannot be
    recomputed under a new key from itself; with the sealed id, ``rotate-key`` can.
    Rows signed before this migration keep only the index (rotation drops it: a later
    redaction of such a reaction then withdraws nothing, ``unsign`` still does)."""
    await db.execute("ALTER TABLE signatures ADD COLUMN reaction_sealed BLOB")


@migration(4, "partial indexes for the scheduler and the count refresh")
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


@migration(5, "per-letter blind indexes, bound sealed values, no clear signing time or order")
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
            letter_id, index,
            sealer.seal(Signature(user_from_key(who), from_iso(row[2])).sealed(), bound),
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
    # A signature marks its letter for reordering in the same statement (no round trip more).
    await db.execute(
        "CREATE TRIGGER signatures_mark_reorder AFTER INSERT ON signatures"
        " WHEN (SELECT reorder FROM letters WHERE id = NEW.letter_id) = 0"
        " BEGIN UPDATE letters SET reorder = 1 WHERE id = NEW.letter_id; END"
    )



@migration(6, "letter versions: each letter's version and the version each signature was given to")
async def _m6_versions(db: aiosqlite.Connection, _: Sealer) -> None:
    """A letter's title or link changed after its first signature makes a new version;
    a signature counts only for the version it was given to. The line a signer wants in
    the signature block needs no column: it is sealed inside the signature, with the
    identity (``Signature.sealed``)."""
    await _script(
        db,
        """
        ALTER TABLE letters ADD COLUMN version INTEGER NOT NULL DEFAULT 1;
        ALTER TABLE signatures ADD COLUMN version INTEGER NOT NULL DEFAULT 1
        """,
    )


@migration(7, "conditional pledges: which signatures wait, each letter's counted set cached;"
              " who may sign a letter")
async def _m7_pledges(db: aiosqlite.Connection, _: Sealer) -> None:
    """``sign L<n> if N``. A pledge's condition is sealed inside its signature, with the
    identity. Only while a pledge waits (is not counted) does its row carry the condition
    in the clear, in ``waiting``, so that the counted set can be recomputed in SQL; it is
    emptied (NULL) the moment the pledge counts. A counted row says nothing in the clear
    about whether it was a pledge.

    Each letter caches its counted set's size (``counted``), its waiting pledges
    (``pledged``) and their smallest condition (``waiting_min``), kept by triggers in the
    statement that changes a signature, and the largest condition of a counted pledge,
    sealed (``pledge_max``), so that a withdrawal knows at once whether anyone else's
    pledge may lose its support. ``shown_pledged`` and ``shown_waiting`` are the public
    figures as the count refresh last showed them. ``reach`` is a lower bound of
    min(condition - rank) over the waiting pledges in ascending order: while it exceeds
    the counted set's size, no waiting pledge can join it, and a signature needs no
    look at them (kept by the triggers as a bound, made exact by ``Tx.settle``). ``only``
    narrows who may sign."""
    await _script(
        db,
        """
        ALTER TABLE signatures ADD COLUMN waiting INTEGER;
        ALTER TABLE letters ADD COLUMN counted INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE letters ADD COLUMN pledged INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE letters ADD COLUMN waiting_min INTEGER;
        ALTER TABLE letters ADD COLUMN pledge_max BLOB;
        ALTER TABLE letters ADD COLUMN shown_pledged INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE letters ADD COLUMN shown_waiting INTEGER;
        ALTER TABLE letters ADD COLUMN reach INTEGER;
        ALTER TABLE letters ADD COLUMN only TEXT;
        UPDATE letters SET counted = (SELECT COUNT(*) FROM signatures s
            WHERE s.letter_id = letters.id AND s.version = letters.version);
        CREATE INDEX signatures_waiting ON signatures(letter_id, version, waiting)
            WHERE waiting IS NOT NULL;
        DROP TRIGGER signatures_mark_reorder
        """,
    )
    # One UPDATE of the letter per changed signature, in the statement's own step: the
    # reordering mark (migration 5) and the cached counts.
    await db.execute(
        "CREATE TRIGGER signatures_insert AFTER INSERT ON signatures BEGIN"
        " UPDATE letters SET reorder = 1,"
        "  counted = counted + (version = NEW.version AND NEW.waiting IS NULL),"
        "  pledged = pledged + (version = NEW.version AND NEW.waiting IS NOT NULL),"
        "  waiting_min = CASE WHEN version = NEW.version AND NEW.waiting IS NOT NULL"
        "   AND (waiting_min IS NULL OR NEW.waiting < waiting_min) THEN NEW.waiting"
        "   ELSE waiting_min END,"
        "  reach = CASE WHEN version != NEW.version OR NEW.waiting IS NULL THEN reach"
        "   WHEN pledged = 0 THEN NEW.waiting - 1"
        "   ELSE MIN(reach - 1, NEW.waiting - pledged - 1) END"
        " WHERE id = NEW.letter_id; END"
    )
    await db.execute(
        "CREATE TRIGGER signatures_delete AFTER DELETE ON signatures BEGIN"
        " UPDATE letters SET"
        "  counted = counted - (OLD.waiting IS NULL),"
        "  pledged = pledged - (OLD.waiting IS NOT NULL),"
        "  waiting_min = CASE WHEN OLD.waiting IS NULL THEN waiting_min ELSE"
        "   (SELECT MIN(waiting) FROM signatures WHERE letter_id = OLD.letter_id"
        "    AND version = OLD.version AND waiting IS NOT NULL) END"
        " WHERE id = OLD.letter_id AND version = OLD.version; END"
    )
    await db.execute(
        "CREATE TRIGGER signatures_update AFTER UPDATE OF waiting, version ON signatures BEGIN"
        " UPDATE letters SET counted = counted - (OLD.waiting IS NULL),"
        "  pledged = pledged - (OLD.waiting IS NOT NULL)"
        " WHERE id = OLD.letter_id AND version = OLD.version;"
        " UPDATE letters SET counted = counted + (NEW.waiting IS NULL),"
        "  pledged = pledged + (NEW.waiting IS NOT NULL),"
        "  reach = CASE WHEN NEW.waiting IS NULL THEN reach WHEN pledged = 0"
        "   THEN NEW.waiting - 1 ELSE MIN(reach - 1, NEW.waiting - pledged - 1) END"
        " WHERE id = NEW.letter_id AND version = NEW.version;"
        " UPDATE letters SET waiting_min = (SELECT MIN(waiting) FROM signatures"
        "  WHERE letter_id = NEW.letter_id AND version = letters.version"
        "  AND waiting IS NOT NULL) WHERE id = NEW.letter_id; END"
    )
