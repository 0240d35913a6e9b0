"""Matrix cross-signing without I/O: keys, signatures, and the judgement of a device.

A Matrix account's identity is its *master* key; the master key signs a *self-signing*
key, which signs each of the account's devices (and a *user-signing* key, which signs
other people's master keys). A device is "signed by its owner" when a chain of valid
Ed25519 signatures runs from the master key the bot pinned for that person, through their
self-signing key, to the device's keys. Element marks every other device insecure, and in
its "exclude insecure devices" mode neither gives it keys nor reads what it sends.

Signatures are over the object's canonical JSON without ``signatures`` and ``unsigned``
(the Matrix spec's "Signing JSON"), in unpadded base64. Everything in a key object came
from a homeserver: nothing here raises on its contents, it only judges them untrusted.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

USAGES = ("master", "self_signing", "user_signing")


def unpadded(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii").rstrip("=")


def from_unpadded(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)


def canonical(obj: Mapping[str, Any]) -> bytes:
    """The bytes a Matrix signature covers: canonical JSON without signatures/unsigned."""
    body = {k: v for k, v in obj.items() if k not in ("signatures", "unsigned")}
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"), sort_keys=True,
                      allow_nan=False).encode("utf-8")


@dataclass(frozen=True)
class SigningKey:
    """One private Ed25519 key of the bot's own cross-signing identity."""

    seed: bytes

    @classmethod
    def generate(cls) -> SigningKey:
        return cls(Ed25519PrivateKey.generate().private_bytes_raw())

    @property
    def public(self) -> str:
        key = Ed25519PrivateKey.from_private_bytes(self.seed).public_key()
        return unpadded(key.public_bytes(Encoding.Raw, PublicFormat.Raw))

    def sign(self, obj: Mapping[str, Any], user_id: str) -> dict[str, Any]:
        """``obj`` with this key's signature added under ``user_id``."""
        sig = unpadded(Ed25519PrivateKey.from_private_bytes(self.seed).sign(canonical(obj)))
        signed = dict(obj)
        signatures = {u: dict(s) for u, s in as_mapping(obj.get("signatures")).items()}
        signatures.setdefault(user_id, {})[f"ed25519:{self.public}"] = sig
        signed["signatures"] = signatures
        return signed


@dataclass(frozen=True)
class Identity:
    """The bot's own private cross-signing keys, kept sealed in the database."""

    master: SigningKey
    self_signing: SigningKey
    user_signing: SigningKey

    @classmethod
    def generate(cls) -> Identity:
        return cls(SigningKey.generate(), SigningKey.generate(), SigningKey.generate())

    def dumps(self) -> str:
        return json.dumps({u: unpadded(k.seed) for u, k in zip(USAGES, self._keys(),
                                                                strict=True)})

    @classmethod
    def loads(cls, text: str) -> Identity:
        seeds = json.loads(text)
        master, ssk, usk = (SigningKey(from_unpadded(seeds[u])) for u in USAGES)
        return cls(master, ssk, usk)

    def _keys(self) -> tuple[SigningKey, SigningKey, SigningKey]:
        return self.master, self.self_signing, self.user_signing

    def key_objects(self, user_id: str) -> dict[str, dict[str, Any]]:
        """The public key objects for ``/keys/device_signing/upload``: the master key, and
        the self-signing and user-signing keys signed by it."""

        def obj(usage: str, key: SigningKey) -> dict[str, Any]:
            return {"user_id": user_id, "usage": [usage],
                    "keys": {f"ed25519:{key.public}": key.public}}

        return {
            "master_key": obj("master", self.master),
            "self_signing_key": self.master.sign(obj("self_signing", self.self_signing), user_id),
            "user_signing_key": self.master.sign(obj("user_signing", self.user_signing), user_id),
        }


def as_mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def signed_by(obj: Mapping[str, Any], user_id: str, public: str, key_name: str = "") -> bool:
    """Whether ``obj`` carries a valid signature by the Ed25519 key ``public`` of
    ``user_id``, under the key's name: a device's id, or else the public key itself (as
    cross-signing keys are named)."""
    key_id = f"ed25519:{key_name or public}"
    sig = as_mapping(as_mapping(obj.get("signatures")).get(user_id)).get(key_id)
    if not isinstance(sig, str):
        return False
    try:
        key = Ed25519PublicKey.from_public_bytes(from_unpadded(public))
        key.verify(from_unpadded(sig), canonical(obj))
    except (InvalidSignature, ValueError, TypeError, binascii.Error):
        return False
    return True


def cross_signing_key(obj: Any, user_id: str, usage: str) -> str | None:
    """The one Ed25519 public key of a cross-signing key object of ``user_id`` for
    ``usage``, or None when the object is not one."""
    o = as_mapping(obj)
    usages, keys = o.get("usage"), as_mapping(o.get("keys"))
    if o.get("user_id") != user_id or not isinstance(usages, list) or usage not in usages:
        return None
    found = [v for k, v in keys.items() if k.startswith("ed25519:") and isinstance(v, str)
             and k == f"ed25519:{v}"]
    return found[0] if len(found) == 1 else None


@dataclass(frozen=True)
class Judgement:
    """What the bot concluded of one person's keys from a ``/keys/query``: their master
    key, and the Ed25519 key of each device their self-signing key signed."""

    master: str | None
    signed_devices: Mapping[str, str]  # device id -> the device's ed25519 key

    def trusts(self, device_id: str, ed25519: str) -> bool:
        return self.signed_devices.get(device_id) == ed25519


def judge(user_id: str, master_obj: Any, ssk_obj: Any, devices: Any) -> Judgement:
    """Which of ``devices`` (``/keys/query``'s ``device_keys[user_id]``) are signed by
    ``user_id``'s self-signing key, itself signed by their master key."""
    master = cross_signing_key(master_obj, user_id, "master")
    ssk = cross_signing_key(ssk_obj, user_id, "self_signing")
    if master is None or ssk is None or not signed_by(as_mapping(ssk_obj), user_id, master):
        return Judgement(master, {})
    signed: dict[str, str] = {}
    for device_id, obj in as_mapping(devices).items():
        device = as_mapping(obj)
        ed25519 = as_mapping(device.get("keys")).get(f"ed25519:{device_id}")
        if (isinstance(ed25519, str) and device.get("user_id") == user_id
                and device.get("device_id") == device_id
                and signed_by(device, user_id, ed25519, device_id)  # the device's own
                and signed_by(device, user_id, ssk)):
            signed[device_id] = ed25519
    return Judgement(master, signed)


__all__ = ["Identity", "Judgement", "SigningKey", "as_mapping", "canonical",
           "cross_signing_key", "judge", "signed_by", "unpadded"]
