"""Sealed identities: user ids encrypted at rest, found again through a blind index.

Each stored identity is AES-GCM encrypted with a random nonce, so two rows for the same
person look unrelated. Its associated data binds it to its table, its letter and its
index: a sealed value copied into another row or letter no longer opens. Beside it sits
the blind index, an HMAC-SHA256 under a second key of the table, the letter and the
identity together, which is what look-ups compare: the same person has unrelated indexes
in two letters, and as organizer and signer of one letter, so no value in the file links
one person across rows. Both keys are derived from one master key that never enters the
database: a copied database file names nobody.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import stat
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

KEY_ENV = "UNDERSIGN_DB_KEY"
NEW_KEY_ENV = "UNDERSIGN_NEW_DB_KEY"
_NONCE = 12


class KeyError_(Exception):
    """The key cannot be had, or it is not the one this database was sealed with."""


def _derive(master: bytes, purpose: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose).derive(master)


# What a sealed value was bound to before migration 5: one constant for every row.
LEGACY_BINDING = b"identity"


def binding(table: str, letter_id: int, index: bytes) -> bytes:
    """The associated data of a row's sealed values: its table, its letter, its index."""
    return f"undersign:{table}:{letter_id}:".encode() + index


class Sealer:
    def __init__(self, master: bytes) -> None:
        if len(master) < 32:
            raise KeyError_("the database key must be at least 32 bytes")
        self._aead = AESGCM(_derive(master, b"undersign seal v1"))
        self._index_key = _derive(master, b"undersign index v1")

    def seal(self, plaintext: str, bound_to: bytes) -> bytes:
        nonce = os.urandom(_NONCE)
        return nonce + self._aead.encrypt(nonce, plaintext.encode("utf-8"), bound_to)

    def open(self, blob: bytes, bound_to: bytes) -> str:
        """The plaintext; ``cryptography``'s InvalidTag when the blob was not sealed for
        ``bound_to`` (copied from another row) or under this key."""
        return self._aead.decrypt(blob[:_NONCE], blob[_NONCE:], bound_to).decode("utf-8")

    def index(self, value: str) -> bytes:
        """A blind index of a value that is unique by itself (an event or reaction id):
        equal inputs give equal outputs, and nothing else leaks."""
        return hmac.new(self._index_key, value.encode("utf-8"), hashlib.sha256).digest()

    def person_index(self, table: str, letter_id: int, identity: str) -> bytes:
        """The blind index of a person in one table of one letter: unrelated to the same
        person's index anywhere else."""
        return self.index(f"{table}\x00{letter_id}\x00{identity}")

    def check_value(self) -> str:
        """Stored once per database so that a wrong key is noticed at start-up."""
        return self.index("undersign key check").hex()


def decode_key(text: str, name: str = KEY_ENV) -> bytes:
    """A key as written in the environment or a key file: URL-safe base64, >= 32 bytes."""
    text = text.strip()
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        if len(raw) >= 32:
            return raw
    except (ValueError, TypeError):
        pass
    raise KeyError_(
        f"{name} must be at least 32 random bytes in base64 "
        "(make one with: python -c 'import secrets; print(secrets.token_urlsafe(32))')"
    )


def encode_key(key: bytes) -> str:
    return base64.urlsafe_b64encode(key).decode("ascii")


def new_key() -> bytes:
    return os.urandom(32)


def key_file_for(database: Path) -> Path:
    return database.with_name(database.name + ".key")


def pending_key_file_for(database: Path) -> Path:
    """Where ``rotate-key`` writes the new key before the database is re-sealed under it."""
    return database.with_name(database.name + ".key.new")


def write_key_file(path: Path, key: bytes) -> None:
    """Create ``path`` with mode 0600 (never wider, whatever the umask) and sync it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(encode_key(key) + "\n")
        f.flush()
        os.fsync(f.fileno())


def read_key_file(path: Path) -> bytes:
    """A key file's key; refused when the file is readable by anyone but its owner."""
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise KeyError_(
            f"key file {path.name} is readable by others (mode {mode:o}); "
            f"run: chmod 600 {path.name}"
        )
    return decode_key(path.read_text(encoding="ascii"), f"key file {path.name}")


def key_from_env() -> bool:
    return bool(os.environ.get(KEY_ENV, "").strip())


def load_key(database: Path, *, create: bool = False) -> bytes:
    """The master key: from UNDERSIGN_DB_KEY, else from a key file beside the database.
    Only ``create`` (``undersign run``) makes one, with mode 0600, and only for a database
    that does not exist yet: other commands, and a database whose key is lost, are told
    which key is missing. A key file readable by others is refused."""
    if key_from_env():
        return decode_key(os.environ[KEY_ENV])
    path = key_file_for(database)
    if not path.exists():
        if not create or database.exists():
            raise KeyError_(
                f"no key for {database.name}: set {KEY_ENV} to the key it was made with, "
                f"or restore the key file {path.name} beside it"
            )
        write_key_file(path, new_key())
    return read_key_file(path)
