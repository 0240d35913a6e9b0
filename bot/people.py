"""The queries about people: organizers and signatures, each found through the blind
index of (table, letter, person), and their re-sealing under a new key. Part of ``Tx``."""

from __future__ import annotations

from base64 import b64decode, b64encode
from collections.abc import Iterable
from dataclasses import replace
from typing import Any

import aiosqlite

from bot.events import User
from bot.migrations import ORGANIZERS, SIGNATURES
from bot.model import Resealed, Signature, counted_size, user_from_key
from bot.seal import Sealer, binding


class Queries:
    """An open transaction's connection and sealer, and the three ways to ask SQLite."""

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


    # small values sealed under the database key (the Matrix bot's cross-signing keys)

    async def get_secret(self, key: str) -> str | None:
        stored = await self.get_meta(SEALED_META + key)
        return None if stored is None else self.sealer.open(b64decode(stored), _meta_bound(key))

    async def set_secret(self, key: str, value: str) -> None:
        blob = self.sealer.seal(value, _meta_bound(key))
        await self.set_meta(SEALED_META + key, b64encode(blob).decode("ascii"))


SEALED_META = "sealed:"
_SIGNATURE_COLUMNS = ("letter_id, who_index, who_sealed, by_reaction, reaction_index,"
                      " reaction_sealed, version, waiting")


def _meta_bound(key: str) -> bytes:
    return f"undersign:meta:{key}".encode()


def _letter_bound(letter_id: int) -> bytes:
    """What a letter's sealed pledge figure is bound to: its own row."""
    return f"undersign:letters:{letter_id}:pledge_max".encode()


class PeopleQueries(Queries):
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
        return sorted((user_from_key(self._opened(ORGANIZERS, r)) for r in rows),
                      key=lambda u: u.key)

    async def letters_organized_by(self, user: User) -> list[int]:
        return await self._letters_where(ORGANIZERS, user)

    # signatures

    async def add_signature(
        self, letter_id: int, signature: Signature, *, reaction_ref: str | None = None,
        by_reaction: bool = False,
    ) -> bool:
        index = self._who(SIGNATURES, letter_id, signature.user)
        bound = binding(SIGNATURES, letter_id, index)
        changed = await self._run(
            "INSERT OR IGNORE INTO signatures (letter_id, who_index, who_sealed, by_reaction,"
            " reaction_index, reaction_sealed, version, waiting) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                letter_id,
                index,
                self.sealer.seal(signature.sealed(), bound),
                int(by_reaction),
                self.sealer.index("reaction:" + reaction_ref) if reaction_ref else None,
                self.sealer.seal(reaction_ref, bound) if reaction_ref else None,
                signature.version,
                None if signature.counted else signature.condition,
            ),
        )
        # A trigger (migration 7) marks the letter for reordering and keeps its counts.
        return changed == 1

    async def replace_signature(self, letter_id: int, signature: Signature) -> None:
        """Re-seal a signer's row in place: a confirmation of a new version, or another
        line to be listed by, or another condition. The row keeps its place (its index)
        and its reaction."""
        index = self._who(SIGNATURES, letter_id, signature.user)
        await self._run(
            "UPDATE signatures SET who_sealed = ?, version = ?, waiting = ? WHERE letter_id = ?"
            " AND who_index = ?",
            (self.sealer.seal(signature.sealed(), binding(SIGNATURES, letter_id, index)),
             signature.version, None if signature.counted else signature.condition,
             letter_id, index),
        )

    async def signature_of(self, letter_id: int, user: User) -> Signature | None:
        row = await self._one(
            "SELECT letter_id, who_index, who_sealed, version, waiting FROM signatures"
            " WHERE letter_id = ? AND who_index = ?",
            (letter_id, self._who(SIGNATURES, letter_id, user)),
        )
        return self._signature(row) if row else None

    async def reorder_signatures(self) -> int:
        """Rewrite the rows of every letter signed since the last call in the order of
        their blind index. SQLite places a new row's bytes by when it was written, so
        between two calls the file orders the signatures made meanwhile; after one, no
        longer (the caller then folds the WAL, which holds the pages as written)."""
        done = 0
        for letter in await self._all("SELECT id FROM letters WHERE reorder = 1"):
            rows = await self._all(
                f"SELECT {_SIGNATURE_COLUMNS} FROM signatures WHERE letter_id = ?"
                " ORDER BY who_index",
                (letter["id"],),
            )
            await self._run("DELETE FROM signatures WHERE letter_id = ?", (letter["id"],))
            await self.db.executemany(
                f"INSERT INTO signatures ({_SIGNATURE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
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
        counted = "waiting" not in row.keys() or row["waiting"] is None  # noqa: SIM118
        return Signature.unsealed(self._opened(SIGNATURES, row), row["version"], counted)

    async def signature_by_reaction(self, reaction_ref: str) -> tuple[int, User] | None:
        row = await self._one(
            "SELECT letter_id, who_index, who_sealed, version FROM signatures"
            " WHERE reaction_index = ?",
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
        """The letter's counted set: signatures of its current version (those of an
        earlier one count toward nothing until their signer confirms the new one), pledges
        among them only when they count. Cached on the letter by triggers."""
        row = await self._one("SELECT counted FROM letters WHERE id = ?", (letter_id,))
        return int(row["counted"]) if row else 0

    async def any_signature(self, letter_id: int) -> bool:
        """Whether anyone has signed the letter, any version."""
        return await self._one("SELECT 1 FROM signatures WHERE letter_id = ? LIMIT 1",
                               (letter_id,)) is not None

    async def count_without(self, letter_id: int, people: Iterable[User]) -> int:
        """The letter's counted set less the signatures of ``people`` (its organizers and
        the admins, whose own signatures do not open a sealed letter)."""
        indexes = list({self._who(SIGNATURES, letter_id, u) for u in people})
        marks = ", ".join("?" * len(indexes))
        row = await self._one(
            "SELECT l.counted - (SELECT COUNT(*) FROM signatures s WHERE s.letter_id = l.id"
            " AND s.version = l.version AND s.waiting IS NULL"
            + (f" AND s.who_index IN ({marks})" if indexes else " AND 0") + ") AS n"
            " FROM letters l WHERE l.id = ?",
            (*indexes, letter_id),
        )
        return int(row["n"]) if row else 0

    async def signatures(self, letter_id: int) -> list[Signature]:
        """The letter's signatures that may be shown, of every version, in the order of
        their signers' ids, never signing order. A pledge that does not count is sealed
        from everyone: it is never among them."""
        rows = await self._all(
            "SELECT letter_id, who_index, who_sealed, version FROM signatures"
            " WHERE letter_id = ? AND waiting IS NULL",
            (letter_id,),
        )
        return sorted((self._signature(r) for r in rows), key=lambda s: s.user.key)

    async def destroy_signatures(self, letter_id: int) -> int:
        return await self._run("DELETE FROM signatures WHERE letter_id = ?", (letter_id,))

    async def destroy_waiting(self, letter_id: int) -> int:
        """Erase the letter's pledges that do not count, unseen (at its close)."""
        return await self._run("DELETE FROM signatures WHERE letter_id = ? AND waiting"
                               " IS NOT NULL", (letter_id,))

    async def mark_told(self, letter_id: int, signature: Signature) -> Signature:
        """Its pledger has been told that the pledge counts: never again."""
        told = replace(signature, told=True)
        index = self._who(SIGNATURES, letter_id, signature.user)
        await self._run(
            "UPDATE signatures SET who_sealed = ? WHERE letter_id = ? AND who_index = ?",
            (self.sealer.seal(told.sealed(), binding(SIGNATURES, letter_id, index)),
             letter_id, index))
        return told

    async def raise_pledge_max(self, letter_id: int, sealed: bytes | None,
                               condition: int) -> None:
        """A pledge joins the counted set directly: keep ``pledge_max`` a bound of it."""
        bound = _letter_bound(letter_id)
        if sealed is None or int(self.sealer.open(sealed, bound)) < condition:
            await self._run("UPDATE letters SET pledge_max = ? WHERE id = ?",
                            (self.sealer.seal(str(condition), bound), letter_id))

    async def settle(self, letter_id: int) -> list[Signature]:
        """Recompute the letter's counted set after a change, in the same transaction:
        the largest set of its current version's signatures in which every condition is
        at most the set's size. Returns the pledges that have just started to count.

        The cached counts (triggers) make the usual case free: the counted set still
        supports itself when no counted pledge's condition exceeds its size (the sealed
        ``pledge_max`` bounds them), and no waiting pledge can join while ``reach``
        exceeds it. Otherwise a withdrawal opens the counted rows (their conditions are
        sealed), and joins are found in SQL over the waiting rows' conditions, which
        also makes ``reach`` exact again."""
        row = await self._one("SELECT counted, pledged, reach, pledge_max, version"
                              " FROM letters WHERE id = ?", (letter_id,))
        if row is None:
            return []
        version = int(row["version"])
        bound = _letter_bound(letter_id)
        most = int(self.sealer.open(row["pledge_max"], bound)) if row["pledge_max"] else 0
        before = most
        if most > row["counted"]:
            most = await self._shrink(letter_id, version, int(row["counted"]))
            row = await self._one("SELECT counted, pledged, reach FROM letters"
                                  " WHERE id = ?", (letter_id,))
            assert row is not None
        joined: list[Signature] = []
        size, waiting = int(row["counted"]), int(row["pledged"])
        if waiting and (row["reach"] is None or row["reach"] <= size):
            # Waiting pledges above ``limit`` are bounded, not read: condition - rank
            # >= limit + 1 - waiting for them.
            limit = size + 2 * waiting + 1024
            found = await self._one(
                "WITH w AS (SELECT waiting, ROW_NUMBER() OVER (ORDER BY waiting) AS rn"
                "  FROM signatures WHERE letter_id = ? AND version = ?"
                "  AND waiting IS NOT NULL AND waiting <= ?),"
                " j AS (SELECT COALESCE(MAX(rn), 0) AS n FROM w WHERE waiting <= ? + rn)"
                " SELECT j.n AS n, (SELECT MAX(waiting) FROM w WHERE rn <= j.n) AS last,"
                " (SELECT MIN(waiting - rn) FROM w WHERE rn > j.n) + j.n AS reach FROM j",
                (letter_id, version, limit, size))
            assert found is not None
            n = int(found["n"])
            reach = limit + 1 - (waiting - n)
            if found["reach"] is not None:
                reach = min(reach, int(found["reach"]))
            if n:
                rows = await self._all(
                    "UPDATE signatures SET waiting = NULL WHERE letter_id = ? AND version = ?"
                    " AND waiting IS NOT NULL AND waiting <= ?"
                    " RETURNING letter_id, who_index, who_sealed, version",
                    (letter_id, version, int(found["last"])))
                joined = [self._signature(r) for r in rows]
                most = max(most, int(found["last"]))
            await self._run("UPDATE letters SET reach = ? WHERE id = ?", (reach, letter_id))
        if most != before:
            await self._run("UPDATE letters SET pledge_max = ? WHERE id = ?",
                            (self.sealer.seal(str(most), bound) if most else None, letter_id))
        return joined

    async def _shrink(self, letter_id: int, version: int, size: int) -> int:
        """A counted pledge may have lost its support: open the counted rows, recompute
        the counted set with the waiting ones, and let go of those it no longer holds.
        The largest condition of a pledge that still counts."""
        rows = await self._all(
            "SELECT letter_id, who_index, who_sealed, version FROM signatures"
            " WHERE letter_id = ? AND version = ? AND waiting IS NULL", (letter_id, version))
        counted = [(r["who_index"], self._signature(r).condition) for r in rows]
        waiting = [int(r["waiting"]) for r in await self._all(
            "SELECT waiting FROM signatures WHERE letter_id = ? AND version = ?"
            " AND waiting IS NOT NULL", (letter_id, version))]
        keep = counted_size([c for _, c in counted] + waiting)
        leaving = [(c, letter_id, index) for index, c in counted if c > keep]
        if leaving:
            await self.db.executemany(
                "UPDATE signatures SET waiting = ? WHERE letter_id = ? AND who_index = ?",
                leaving)
        return max((c for _, c in counted if 1 < c <= keep), default=0)

    async def letters_signed_by(self, user: User) -> list[int]:
        return await self._letters_where(SIGNATURES, user)

    async def erase_signatures_of(self, user: User) -> list[int]:
        """Remove every signature of ``user``; the letters they were on."""
        letter_ids = await self.letters_signed_by(user)
        for letter_id in letter_ids:
            await self.remove_signature(letter_id, user)
        return letter_ids

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
            index = new.person_index(SIGNATURES, letter_id, Signature.unsealed(payload).user.key)
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
        for row in await self._all("SELECT id, pledge_max FROM letters"
                                   " WHERE pledge_max IS NOT NULL"):
            bound = _letter_bound(row["id"])
            await self._run("UPDATE letters SET pledge_max = ? WHERE id = ?",
                            (new.seal(self.sealer.open(row["pledge_max"], bound), bound),
                             row["id"]))
        names = [str(row["key"])[len(SEALED_META):] for row in await self._all(
            "SELECT key FROM meta WHERE key LIKE ?", (SEALED_META + "%",))]
        opened = {name: await self.get_secret(name) for name in names}
        events = await self._run("DELETE FROM seen_events")
        await self.set_meta("key_check", new.check_value())
        self.sealer = new
        for key, value in opened.items():
            if value is not None:
                await self.set_secret(key, value)
        return Resealed(people, reactions, dropped, events)
