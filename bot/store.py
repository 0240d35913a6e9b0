"""The store: one SQLite file, the one source of truth.

One connection does all the writing, and a lock lets one transaction run at a time, so
a command's change, the record of the event that caused it and (through commit-then-
confirm) the reply it earns always agree. Identities are sealed (bot.seal) before they
are written. Migrations (bot.migrations) run against ``PRAGMA user_version``; the queries
are ``Tx``'s (bot.tx).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import stat
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path

import aiosqlite

from bot.migrations import MIGRATIONS
from bot.model import Resealed
from bot.seal import KeyError_, Sealer
from bot.tx import Tx

# How long a platform event id is remembered, so that a redelivery changes nothing (the
# `privacy` text reads it too).
DEDUPLICATION = timedelta(hours=48)

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
        await db.executescript(";".join((  # one round trip to SQLite's thread
            "PRAGMA journal_mode=WAL",
            "PRAGMA synchronous=FULL",
            "PRAGMA foreign_keys=ON",
            "PRAGMA secure_delete=ON",
            "PRAGMA temp_store=MEMORY",  # the probes of Tx._letters_where never touch disk
            "PRAGMA busy_timeout=5000",
        )))
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
        for migration in MIGRATIONS[version:]:
            await self._db.execute("BEGIN IMMEDIATE")
            try:
                if version:  # an existing database: its key must open it before a change
                    await self._check_key_in_transaction()
                await migration.run(self._db, self.sealer)
                await self._db.execute(f"PRAGMA user_version = {migration.number}")
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

    async def writable(self) -> bool:
        """Whether the database takes a write now (for ``/healthz``): a write in a
        transaction that is rolled back, so nothing changes."""
        async with self._lock:
            try:
                await self._db.execute("BEGIN IMMEDIATE")
                await self._db.execute(
                    "INSERT OR REPLACE INTO meta (key, value) VALUES ('health', '')")
            except sqlite3.Error:
                return False
            finally:
                if self._db.in_transaction:
                    await self._db.execute("ROLLBACK")
            return True

    # the adapters' StateStore
    async def get_state(self, key: str) -> str | None:
        async with self.transaction() as tx:
            return await tx.get_meta("state:" + key)

    async def set_state(self, key: str, value: str) -> None:
        async with self.transaction() as tx:
            await tx.set_meta("state:" + key, value)

    # the adapters' SecretStore: sealed under the database key, re-sealed by a rotation
    async def get_secret(self, key: str) -> str | None:
        async with self.transaction() as tx:
            return await tx.get_secret(key)

    async def set_secret(self, key: str, value: str) -> None:
        async with self.transaction() as tx:
            await tx.set_secret(key, value)

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
        de-duplication records after ``DEDUPLICATION``; then fold the WAL so nothing lingers."""
        async with self.transaction() as tx:
            letters = await tx.purge_closed_before(now - timedelta(days=retention_days))
            events = await tx.forget_events_before(now - DEDUPLICATION)
        await self.checkpoint()
        return letters, events

    async def close(self) -> None:
        await self._db.close()
