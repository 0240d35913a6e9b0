"""Reading a database file as someone who copied it would: its raw bytes and its rows."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import aiosqlite

from bot.migrations import MIGRATIONS
from bot.seal import Sealer


def db_bytes(db: Path) -> bytes:
    """The raw bytes of the database file and of its ``-wal`` and ``-shm`` where they exist."""
    return b"".join(p.read_bytes() for p in (db, db.with_name(db.name + "-wal"),
                                             db.with_name(db.name + "-shm")) if p.exists())


def query_rows(db: Path, sql: str, *args: object) -> list[tuple[object, ...]]:
    """The rows ``sql`` selects, as tuples, read without the bot."""
    raw = sqlite3.connect(db)
    try:
        return list(raw.execute(sql, args))
    finally:
        raw.close()


def table_rows(db: Path, table: str) -> list[sqlite3.Row]:
    """Every row of ``table``, by column name, read without the bot."""
    raw = sqlite3.connect(db)
    raw.row_factory = sqlite3.Row
    try:
        return list(raw.execute(f"SELECT * FROM {table}"))
    finally:
        raw.close()


async def database_at(db: Path, sealer: Sealer, version: int) -> aiosqlite.Connection:
    """A database as schema ``version`` left it, under ``sealer``'s key check, open for
    the test to fill (then commit and close it)."""
    conn = await aiosqlite.connect(str(db))
    for migration in MIGRATIONS[:version]:
        await migration.run(conn, sealer)
        await conn.execute(f"PRAGMA user_version = {migration.number}")
    await conn.execute("INSERT INTO meta VALUES ('key_check', ?)", (sealer.check_value(),))
    return conn
