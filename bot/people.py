"""The queries about people: organizers and signatures, each found through the blind
index of (table, letter, person), and their re-sealing under a new key. Part of ``Tx``."""

from __future__ import annotations

from base64 import b64decode, b64encode
from collections.abc import Iterable
from typing import Any

import aiosqlite

from bot.events import User
from bot.migrations import ORGANIZERS, SIGNATURES
from bot.model import Resealed, Signature, user_from_key
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
                      " reaction_sealed, version")


def _meta_bound(key: str) -> bytes:
    return f"undersign:meta:{key}".encode()


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
            " reaction_index, reaction_sealed, version) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                letter_id,
                index,
                self.sealer.seal(signature.sealed(), bound),
                int(by_reaction),
                self.sealer.index("reaction:" + reaction_ref) if reaction_ref else None,
                self.sealer.seal(reaction_ref, bound) if reaction_ref else None,
                signature.version,
            ),
        )
        return changed == 1  # a trigger (migration 5) marks the letter for reordering

    async def replace_signature(self, letter_id: int, signature: Signature) -> None:
        """Re-seal a signer's row in place: a confirmation of a new version, or another
        line to be listed by. The row keeps its place (its index) and its reaction."""
        index = self._who(SIGNATURES, letter_id, signature.user)
        await self._run(
            "UPDATE signatures SET who_sealed = ?, version = ? WHERE letter_id = ?"
            " AND who_index = ?",
            (self.sealer.seal(signature.sealed(), binding(SIGNATURES, letter_id, index)),
             signature.version, letter_id, index),
        )

    async def signature_of(self, letter_id: int, user: User) -> Signature | None:
        row = await self._one(
            "SELECT letter_id, who_index, who_sealed, version FROM signatures"
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
                f"INSERT INTO signatures ({_SIGNATURE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)",
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
        return Signature.unsealed(self._opened(SIGNATURES, row), row["version"])

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
        """Signatures of the letter's current version: those of an earlier one count
        toward nothing until their signer confirms the new one."""
        return await self.count_without(letter_id, ())

    async def any_signature(self, letter_id: int) -> bool:
        """Whether anyone has signed the letter, any version."""
        return await self._one("SELECT 1 FROM signatures WHERE letter_id = ? LIMIT 1",
                               (letter_id,)) is not None

    async def count_without(self, letter_id: int, people: Iterable[User]) -> int:
        """The letter's signatures of its current version less those of ``people`` (its
        organizers and the admins, whose own signatures do not open a sealed letter)."""
        indexes = list({self._who(SIGNATURES, letter_id, u) for u in people})
        marks = ", ".join("?" * len(indexes))
        row = await self._one(
            "SELECT COUNT(*) AS n FROM signatures WHERE letter_id = ?"
            " AND version = (SELECT version FROM letters WHERE id = ?)"
            + (f" AND who_index NOT IN ({marks})" if indexes else ""),
            (letter_id, letter_id, *indexes),
        )
        return int(row["n"]) if row else 0

    async def signatures(self, letter_id: int) -> list[Signature]:
        """The letter's signatures, of every version, in the order of their signers' ids,
        never signing order."""
        rows = await self._all(
            "SELECT letter_id, who_index, who_sealed, version FROM signatures"
            " WHERE letter_id = ?",
            (letter_id,),
        )
        return sorted((self._signature(r) for r in rows), key=lambda s: s.user.key)

    async def destroy_signatures(self, letter_id: int) -> int:
        return await self._run("DELETE FROM signatures WHERE letter_id = ?", (letter_id,))

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
