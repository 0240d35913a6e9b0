"""Matrix cross-signing without a server: which devices the bot judges signed by their
owner, and the bot's own private keys sealed in the database across a key rotation."""

from __future__ import annotations

import io
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st

from adapters.matrix_signing import Identity, SigningKey, canonical, judge, signed_by, unpadded
from bot.config import Config
from bot.keys import rotate_key
from bot.seal import KEY_ENV, Sealer, load_key
from bot.store import Store
from tests.support.storage import db_bytes

ALICE = "@alice:undersign.test"


def device(user: str, device_id: str, key: SigningKey) -> dict[str, Any]:
    """A device's keys as a client uploads them, self-signed by the device's own key."""
    obj = {"user_id": user, "device_id": device_id,
           "algorithms": ["m.olm.v1.curve25519-aes-sha2", "m.megolm.v1.aes-sha2"],
           "keys": {f"curve25519:{device_id}": "c" * 43, f"ed25519:{device_id}": key.public}}
    sig = Ed25519PrivateKey.from_private_bytes(key.seed).sign(canonical(obj))
    return {**obj, "signatures": {user: {f"ed25519:{device_id}": unpadded(sig)}}}


def identity_of(user: str) -> tuple[Identity, dict[str, Any], dict[str, Any]]:
    ident = Identity.generate()
    objects = ident.key_objects(user)
    return ident, objects["master_key"], objects["self_signing_key"]


def test_a_device_signed_through_the_chain_is_trusted_and_no_other_is() -> None:
    ident, master, ssk = identity_of(ALICE)
    phone, laptop, added = SigningKey.generate(), SigningKey.generate(), SigningKey.generate()
    devices = {
        "PHONE": ident.self_signing.sign(device(ALICE, "PHONE", phone), ALICE),
        "LAPTOP": ident.self_signing.sign(device(ALICE, "LAPTOP", laptop), ALICE),
        "ADDED": device(ALICE, "ADDED", added),  # as an admin could add: never cross-signed
    }
    judged = judge(ALICE, master, ssk, devices)
    assert judged.master == ident.master.public
    assert judged.trusts("PHONE", phone.public) and judged.trusts("LAPTOP", laptop.public)
    assert not judged.trusts("ADDED", added.public)
    assert not judged.trusts("PHONE", laptop.public), "a device's key must be the signed one"


def test_a_changed_device_or_a_key_not_signed_by_the_master_breaks_the_chain() -> None:
    ident, master, ssk = identity_of(ALICE)
    phone = SigningKey.generate()
    signed = ident.self_signing.sign(device(ALICE, "PHONE", phone), ALICE)
    tampered = {**signed, "algorithms": ["m.olm.v1.curve25519-aes-sha2"]}
    assert not judge(ALICE, master, ssk, {"PHONE": tampered}).trusts("PHONE", phone.public)
    _, _, other_ssk = identity_of(ALICE)  # a self-signing key of another master
    assert not judge(ALICE, master, other_ssk, {"PHONE": signed}).signed_devices
    assert not judge("@bob:undersign.test", master, ssk, {"PHONE": signed}).signed_devices
    assert judge(ALICE, None, None, {"PHONE": signed}).master is None


def test_signatures_are_the_ones_other_clients_make() -> None:
    """Signed by cryptography's Ed25519 directly over the spec's canonical JSON."""
    raw = Ed25519PrivateKey.generate()
    key = SigningKey(raw.private_bytes_raw())
    obj = {"b": 1, "a": "é", "unsigned": {"x": 1}}
    signed = key.sign(obj, ALICE)
    assert signed_by(signed, ALICE, key.public)
    assert not signed_by({**signed, "b": 2}, ALICE, key.public)
    assert signed_by({**signed, "unsigned": {"y": 2}}, ALICE, key.public), \
        "unsigned is outside the signature"


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner,
                                                                max_size=4),
    max_leaves=20,
)


@given(json_values, json_values, json_values)
def test_whatever_a_homeserver_answers_judging_never_raises(master: Any, ssk: Any,
                                                            devices: Any) -> None:
    judged = judge(ALICE, master, ssk, devices)
    assert not judged.signed_devices


async def test_the_bots_cross_signing_keys_are_sealed_and_survive_a_key_rotation(
    config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(KEY_ENV)  # the key in a file beside the database, which rotation replaces
    ident = Identity.generate()
    db = config.database_path
    store = await Store.open(db, Sealer(load_key(db, create=True)))
    await store.set_secret("matrix.cross_signing", ident.dumps())
    await store.checkpoint()
    await store.close()
    seed = ident.master.seed
    files = db_bytes(db)
    assert seed not in files and ident.dumps().encode() not in files
    assert ident.master.public.encode() not in files
    await rotate_key(db, io.StringIO())
    store = await Store.open(db, Sealer(load_key(db)))
    try:
        kept = await store.get_secret("matrix.cross_signing")
    finally:
        await store.close()
    assert kept is not None and Identity.loads(kept) == ident
