"""Sealed identities: user ids encrypted at rest, found again through a blind index.

Each stored identity is AES-GCM encrypted with a random nonce, so two rows for the same
person look unrelated; beside it sits an HMAC-SHA256 of the identity under a second key
(the blind index), which is what look-ups compare. Both keys are derived from one master
key that never enters the database: a copied database file names nobody.
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


class Sealer:
    def __init__(self, master: bytes) -> None:
        if len(master) < 32:
            raise KeyError_("the database key must be at least 32 bytes")
        self._aead = AESGCM(_derive(master, b"undersign seal v1"))
        self._index_key = _derive(master, b"undersign index v1")

    def seal(self, identity: str) -> bytes:
        nonce = os.urandom(_NONCE)
        return nonce + self._aead.encrypt(nonce, identity.encode("utf-8"), b"identity")

    def open(self, blob: bytes) -> str:
        return self._aead.decrypt(blob[:_NONCE], blob[_NONCE:], b"identity").decode("utf-8")

    def index(self, value: str) -> bytes:
        """The blind index: equal inputs give equal outputs, and nothing else leaks."""
        return hmac.new(self._index_key, value.encode("utf-8"), hashlib.sha256).digest()

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


def load_key(database: Path) -> bytes:
    """The master key: from UNDERSIGN_DB_KEY, else from a key file beside the database,
    made on first run with mode 0600. A key file readable by others is refused."""
    if key_from_env():
        return decode_key(os.environ[KEY_ENV])
    path = key_file_for(database)
    if not path.exists():
        write_key_file(path, new_key())
    return read_key_file(path)
