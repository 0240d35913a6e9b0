"""Reading a database file as someone who copied it would: its raw bytes and its rows."""

from __future__ import annotations

import sqlite3
from pathlib import Path


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
