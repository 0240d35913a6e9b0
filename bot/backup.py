"""Online backups and restores of the database: ``undersign backup`` / ``restore`` and the
daily backup job.

A backup is made with SQLite's online backup API from a connection of its own, so it is
one consistent snapshot even while the bot writes (a file copy of a live WAL database is
not: the newest commits sit in the ``-wal`` file). The copy is made 0600 beside its target,
turned into a single file (no WAL), integrity-checked and checked to open under the
current key before it takes its name. It holds what the database holds — identities
sealed — and never the key: keep the key apart from the backups.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from bot.migrations import MIGRATIONS
from bot.seal import KeyError_, Sealer

BACKUP_GLOB = "undersign-*.db"


class BackupError(Exception):
    """A backup or a restore that was refused or failed; the message says why."""


@dataclass(frozen=True)
class Snapshot:
    """What a backup file holds, as far as can be said without opening a sealed value."""

    path: Path
    schema: int
    letters: int


def _connect(path: Path) -> sqlite3.Connection:
    # isolation_level=None: no implicit transactions around the PRAGMAs below
    return sqlite3.connect(str(path), isolation_level=None)


def _new_private_file(path: Path) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.close(fd)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _remove_with_sidecars(path: Path) -> None:
    for suffix in ("-wal", "-shm", ""):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def inspect(path: Path, sealer: Sealer) -> Snapshot:
    """Check a database file as a restore would: sound, of a schema this code knows, and
    sealed under ``sealer``'s key."""
    if not path.is_file():
        raise BackupError(f"{path} does not exist")
    db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        try:
            verdict = db.execute("PRAGMA integrity_check").fetchone()
            schema = int(db.execute("PRAGMA user_version").fetchone()[0])
        except sqlite3.DatabaseError as exc:
            raise BackupError(f"{path} is not an Undersign database ({exc})") from None
        if verdict is None or verdict[0] != "ok":
            raise BackupError(f"{path} fails SQLite's integrity check")
        if schema > len(MIGRATIONS):
            raise BackupError(
                f"{path} was made by a newer Undersign (schema {schema}; this one knows "
                f"{len(MIGRATIONS)}): restore it with that version or a newer one")
        try:
            row = db.execute("SELECT value FROM meta WHERE key = 'key_check'").fetchone()
            letters = int(db.execute("SELECT count(*) FROM letters").fetchone()[0])
        except sqlite3.DatabaseError:
            raise BackupError(f"{path} is not an Undersign database") from None
    finally:
        db.close()
    if row is None or row[0] != sealer.check_value():
        raise KeyError_(
            f"{path} was sealed with another key than this database's: it cannot be opened "
            "with the key in use (UNDERSIGN_DB_KEY or the key file)")
    return Snapshot(path, schema, letters)


def _copy(source: Path, partial: Path) -> None:
    """SQLite's online backup from ``source`` into a new 0600 file, as one step: a single
    read transaction, so the copy is one consistent state of the database."""
    _new_private_file(partial)
    src, dst = _connect(source), _connect(partial)
    try:
        src.backup(dst)
        dst.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
    finally:
        dst.close()
        src.close()
    _fsync(partial)


def backup(database: Path, target: Path, sealer: Sealer) -> Snapshot:
    """Copy the live database to ``target`` (which must not exist), checked before it
    takes that name."""
    if not database.is_file():
        raise BackupError(f"there is no database at {database}")
    if target.exists():
        raise BackupError(f"{target} exists already: name a new file")
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    partial = target.with_name(target.name + ".partial")
    _remove_with_sidecars(partial)  # left by a backup that was interrupted
    try:
        _copy(database, partial)
        snapshot = inspect(partial, sealer)
        os.link(partial, target)  # fails, rather than overwrites, if target appeared
    finally:
        _remove_with_sidecars(partial)
    _fsync(target.parent)
    return Snapshot(target, snapshot.schema, snapshot.letters)


def restore(source: Path, database: Path, sealer: Sealer) -> Snapshot:
    """Put the backup ``source`` in place of ``database`` (the bot stopped). The backup is
    checked before anything is touched; the database it replaces is removed."""
    snapshot = inspect(source, sealer)
    database.parent.mkdir(parents=True, exist_ok=True)
    partial = database.with_name(database.name + ".restoring")
    _remove_with_sidecars(partial)
    try:
        _copy(source, partial)
        # The old database's WAL must go before the new file takes its name: SQLite would
        # replay it into the restored file.
        for suffix in ("-wal", "-shm"):
            Path(f"{database}{suffix}").unlink(missing_ok=True)
        os.replace(partial, database)
    finally:
        _remove_with_sidecars(partial)
    _fsync(database.parent)
    return Snapshot(database, snapshot.schema, snapshot.letters)


def daily_name(now: datetime) -> str:
    return f"undersign-{now:%Y-%m-%dT%H%M%SZ}.db"


def rotate_backups(folder: Path, keep: int) -> list[Path]:
    """Remove all but the ``keep`` newest daily backups in ``folder``; returns the removed."""
    made = sorted(folder.glob(BACKUP_GLOB))  # the names sort by time
    removed = made[:-keep] if keep else made
    for old in removed:
        with contextlib.suppress(FileNotFoundError):
            old.unlink()
    return removed
