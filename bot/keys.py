"""The database key over time: opening the store under it, and ``undersign rotate-key``.

A rotation re-seals every identity under a new key in one transaction (``Store.rotate``).
With a key file it is made crash-safe in three steps, each of which leaves a state that
start-up can read:

1. the new key is written to ``<db>.key.new`` (mode 0600) and synced;
2. the database is re-sealed and its key check replaced, in one transaction;
3. ``<db>.key.new`` is renamed over ``<db>.key``.

A crash before 2 committed leaves the database under the old key: start-up deletes the
unused ``.key.new``. A crash between 2 and 3 leaves the old key file refused by the key
check: start-up finds that ``.key.new`` matches and finishes the rename.

With ``UNDERSIGN_DB_KEY`` in the environment nothing is written to disk: the new key is
printed once, before the commit, for the operator to put in the environment.

Every running bot holds a shared lock on ``<db>.lock``; a rotation needs it alone, so it
never re-seals a database under a bot that still holds the old key in memory.
"""

from __future__ import annotations

import fcntl
import logging
import os
from pathlib import Path
from typing import TextIO

from bot.model import Resealed
from bot.seal import (
    KEY_ENV,
    NEW_KEY_ENV,
    KeyError_,
    Sealer,
    decode_key,
    encode_key,
    key_file_for,
    key_from_env,
    load_key,
    new_key,
    pending_key_file_for,
    read_key_file,
    write_key_file,
)
from bot.store import Store

log = logging.getLogger("undersign.keys")


class DatabaseBusy(Exception):
    """Another process holds the database: a running bot, or a key rotation under way."""


class DatabaseLock:
    """An advisory lock beside the database: shared by running bots, alone for rotate-key."""

    def __init__(self, database: Path) -> None:
        self.path = database.with_name(database.name + ".lock")
        self._fd: int | None = None

    def acquire(self, *, exclusive: bool, doing: str = "rotating the key") -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise DatabaseBusy(
                f"Undersign is running on this database: stop it before {doing}"
                if exclusive else
                "a key rotation is under way on this database: start again when it is done"
            ) from None
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor releases the lock
            self._fd = None


def _sync_folder(path: Path) -> None:
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def begin_rotation(database: Path, key: bytes) -> None:
    """Step 1: the new key on disk beside the old, before anything is sealed under it."""
    pending = pending_key_file_for(database)
    pending.unlink(missing_ok=True)  # left by a rotation that never committed
    write_key_file(pending, key)
    _sync_folder(pending)


def finish_rotation(database: Path) -> None:
    """Step 3: the new key replaces the old one, atomically."""
    os.replace(pending_key_file_for(database), key_file_for(database))
    _sync_folder(database)


async def open_store(database: Path, *, create_key: bool = False) -> Store:
    """The store under its key, after finishing or undoing an interrupted rotation. With
    ``create_key`` a new database gets a new key file (see ``load_key``)."""
    key = load_key(database, create=create_key)
    pending = pending_key_file_for(database)
    try:
        store = await Store.open(database, Sealer(key))
    except KeyError_:
        if key_from_env() or not pending.exists():
            raise
        try:
            store = await Store.open(database, Sealer(read_key_file(pending)))
        except KeyError_:
            raise KeyError_(
                "this database was sealed with another key, and neither the key file nor "
                f"{pending.name} opens it"
            ) from None
        finish_rotation(database)
        log.warning("finished a key rotation that had stopped after its commit")
        return store
    if pending.exists() and not key_from_env():
        pending.unlink()
        log.warning("removed the new key of a key rotation that had stopped before its commit")
    return store


ENV_INSTRUCTIONS = """\
A new database key was made. From now on Undersign opens this database only with it:

{name}={key}

Put it where {name} is set for the bot, in place of the old key, then start the bot.
It is shown only this once. Keep it apart from the database and its backups; backups
made before now still need the old key.
"""


async def rotate_key(database: Path, out: TextIO) -> Resealed:
    """``undersign rotate-key``: re-seal everything under a new key (from
    UNDERSIGN_NEW_DB_KEY, else freshly made) and put the key where the old one was."""
    lock = DatabaseLock(database)
    lock.acquire(exclusive=True)
    try:
        store = await open_store(database)
        from_env = key_from_env()
        given = os.environ.get(NEW_KEY_ENV, "").strip()
        try:
            key = decode_key(given, NEW_KEY_ENV) if given else new_key()
            sealer = Sealer(key)
            if sealer.check_value() == store.sealer.check_value():
                raise KeyError_(f"{NEW_KEY_ENV} is the key already in use")
            if not from_env:
                begin_rotation(database, key)
            elif not given:
                out.write(ENV_INSTRUCTIONS.format(name=KEY_ENV, key=encode_key(key)))
                out.flush()  # before the commit: a crash after it must not lose the key
            done = await store.rotate(sealer)
        finally:
            await store.close()
        if not from_env:
            finish_rotation(database)
    finally:
        lock.release()
    where = (f"set {KEY_ENV} to the new key before starting the bot" if from_env
             else f"the key file {key_file_for(database).name} now holds the new key")
    out.write(
        f"Key rotated: {done.identities} sealed identities and {done.reactions} reaction ids "
        f"re-sealed, {done.events_dropped} de-duplication records dropped; {where}.\n"
    )
    if done.reactions_dropped:
        out.write(f"{done.reactions_dropped} reactions from before this version can no longer "
                  "be matched to their redaction; unsign still withdraws them.\n")
    return done
