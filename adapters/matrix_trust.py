"""Whom the Matrix bot trusts: its own cross-signed identity, and other people's devices.

**Its own identity.** The bot's master, self-signing and user-signing keys are made once,
sealed in the database under the database key (``SecretStore``), and uploaded with
``/keys/device_signing/upload`` (user-interactive auth with ``MATRIX_PASSWORD`` when the
homeserver asks). Each start signs the current device with the self-signing key if it is
not signed yet, so a lost E2EE store or a new device id means a new signed device, not a
new identity that makes every client warn.

**Other people's devices** (``trust = "cross-signed"``, the default): a device gets room
keys, and so private replies, and what it sends is acted on, only when its owner's
self-signing key signed it and that key is signed by the master key pinned for the owner
on first use. A device without that chain (one an admin added to the account, say) gets
nothing. A changed master key is an identity change: as Element does for a pinned
identity, the bot does not follow it silently; that person's devices get nothing until an
operator accepts the new identity (``undersign matrix-verify --accept-identity``). Pins
live in the E2EE store (which already holds every device's keys by user id), never in the
database. ``trust = "all"`` trusts every device of everyone on first use.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from nio import MatrixRoom

from adapters.base import SecretStore
from adapters.matrix_session import MatrixSession
from adapters.matrix_signing import (
    Identity,
    Judgement,
    as_mapping,
    cross_signing_key,
    judge,
    signed_by,
)
from bot.config import Config, secret

log = logging.getLogger("undersign.matrix")

IDENTITY_SECRET = "matrix.cross_signing"
PINS_FILE = "identities.json"


@dataclass(frozen=True)
class OwnState:
    """The bot's cross-signing, as the homeserver has it after ``set_up``."""

    master: str | None  # the bot's master public key, None if it has none
    device_signed: bool
    problem: str = ""

    def line(self, device_id: str) -> str:
        if self.device_signed and self.master:
            return (f"matrix: device {device_id} is cross-signed by the bot's identity "
                    f"(master key {self.master[:8]}…)")
        return (f"matrix: device {device_id} is NOT cross-signed: {self.problem}; Element "
                "shows its messages as insecure and may not give it keys")


class Trust:
    def __init__(self, session: MatrixSession, secrets: SecretStore, store_path: Path,
                 mode: str) -> None:
        self.session = session
        self.secrets = secrets
        self.mode = mode
        self.me = session.user_id
        self._pins_path = store_path / PINS_FILE
        self._pins: dict[str, str] = {}
        self._judged: dict[str, Judgement] = {}
        self._changed_told: set[str] = set()
        self.identity: Identity | None = None
        session.keys_changed = self.forget

    # --- the bot's own identity ---

    async def load_identity(self) -> Identity:
        """The bot's identity, made once and sealed before anything is uploaded. Called
        before the session opens: the device's keys go up already signed by it."""
        stored = await self.secrets.get_secret(IDENTITY_SECRET)
        identity = Identity.loads(stored) if stored else None
        if identity is None:
            identity = Identity.generate()
            await self.secrets.set_secret(IDENTITY_SECRET, identity.dumps())  # before upload
        self.identity = identity
        self._pins[self.me] = identity.master.public
        self.session.sign_device = lambda keys: identity.self_signing.sign(keys, self.me)
        return identity

    async def set_up(self) -> OwnState:
        """Upload the bot's cross-signing keys if the homeserver lacks them, and sign this
        device if its keys went up unsigned (by an older version, say)."""
        keys = await self._query([self.me])
        if keys is None:
            return OwnState(None, False, "the homeserver did not answer a key query")
        identity = self.identity or await self.load_identity()
        on_server = cross_signing_key(as_mapping(keys.get("master_keys")).get(self.me),
                                      self.me, "master")
        if on_server != identity.master.public:
            problem = await self._upload(identity)
            if problem:
                return OwnState(on_server, False, problem)
        device_id = self.session.c.device_id
        device = as_mapping(as_mapping(as_mapping(keys.get("device_keys")).get(self.me))
                            .get(device_id))
        if not device:
            return OwnState(identity.master.public, False,
                            "the homeserver does not have this device's keys")
        if not signed_by(device, self.me, identity.self_signing.public):
            problem = await self._sign_device(identity, device_id, device)
            if problem:
                return OwnState(identity.master.public, False, problem)
        return OwnState(identity.master.public, True)

    async def _upload(self, identity: Identity) -> str:
        """Upload the identity's public keys; "" or what went wrong."""
        body: dict[str, Any] = identity.key_objects(self.me)
        path = "/_matrix/client/v3/keys/device_signing/upload"
        answer = await self.session.api("upload cross-signing keys", "POST", path, body)
        if answer is not None and answer[0] == 401 and isinstance(answer[1], dict):
            password = secret("MATRIX_PASSWORD")
            if not password:
                return ("the homeserver asks for the account's password to replace its "
                        "cross-signing keys: set MATRIX_PASSWORD and run undersign "
                        "matrix-verify")
            body["auth"] = {"type": "m.login.password", "password": password,
                            "identifier": {"type": "m.id.user", "user": self.me},
                            "session": answer[1].get("session")}
            answer = await self.session.api("upload cross-signing keys", "POST", path, body)
        if answer is None or answer[0] != 200:
            status = "no answer" if answer is None else f"HTTP {answer[0]}"
            return f"the homeserver refused the cross-signing keys ({status})"
        log.info("matrix: uploaded the bot's cross-signing keys")
        return ""

    async def _sign_device(self, identity: Identity, device_id: str,
                           device: Mapping[str, Any]) -> str:
        signed = identity.self_signing.sign(device, self.me)
        answer = await self.session.api("sign this device", "POST",
                                        "/_matrix/client/v3/keys/signatures/upload",
                                        {self.me: {device_id: signed}})
        if answer is None or answer[0] != 200 or as_mapping(answer[1]).get("failures"):
            return "the homeserver refused this device's signature"
        log.info("matrix: signed this device with the bot's self-signing key")
        return ""

    # --- other people's devices ---

    def load_pins(self) -> None:
        try:
            data = json.loads(self._pins_path.read_text())
        except (OSError, ValueError):
            return
        if isinstance(data, dict):
            self._pins.update({u: m for u, m in data.items()
                               if isinstance(u, str) and isinstance(m, str)})

    def _save_pins(self) -> None:
        tmp = self._pins_path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump({u: m for u, m in self._pins.items() if u != self.me}, f)
        os.replace(tmp, self._pins_path)

    def accept_identity(self, user_id: str) -> bool:
        """Forget the pin of ``user_id``, so their current identity is pinned next; whether
        there was one."""
        self.load_pins()
        had = self._pins.pop(user_id, None) is not None
        self._judged.pop(user_id, None)
        self._save_pins()
        return had

    def forget(self, users: Iterable[str]) -> None:
        """Their device lists changed: judge them anew next time."""
        for user in users:
            self._judged.pop(user, None)

    async def judgements(self, users: Iterable[str]) -> dict[str, Judgement]:
        """The judgement of each user's devices, asking the homeserver for those not known."""
        wanted = set(users)
        missing = sorted(u for u in wanted if u not in self._judged)
        if missing:
            keys = await self._query(missing)
            for user in missing:
                self._judged[user] = self._judge(user, keys or {})
        return {u: self._judged[u] for u in wanted}

    def _judge(self, user: str, keys: Mapping[str, Any]) -> Judgement:
        found = judge(user, as_mapping(keys.get("master_keys")).get(user),
                      as_mapping(keys.get("self_signing_keys")).get(user),
                      as_mapping(keys.get("device_keys")).get(user))
        pinned = self._pins.get(user)
        if found.master is None or pinned == found.master:
            return found
        if pinned is None:
            self._pins[user] = found.master
            self._save_pins()
            return found
        if user not in self._changed_told:
            self._changed_told.add(user)
            log.warning("matrix: a person's cross-signing identity changed; their devices get "
                        "no keys until an operator accepts it (undersign matrix-verify "
                        "--accept-identity)")
        return Judgement(found.master, {})

    async def _query(self, users: list[str]) -> Mapping[str, Any] | None:
        answer = await self.session.api("keys query (cross-signing)", "POST",
                                        "/_matrix/client/v3/keys/query",
                                        {"device_keys": {u: [] for u in users}})
        if answer is None or answer[0] != 200:
            return None
        return as_mapping(answer[1])

    async def screen(self, room: MatrixRoom) -> None:
        """Mark each device in ``room`` trusted or not in nio's store before the bot shares
        a room key there: nio gives keys to verified devices and never to blacklisted ones."""
        c = self.session.c
        users = list(room.users)
        judged = await self.judgements(users) if self.mode == "cross-signed" else {}
        for user in users:
            for device in c.device_store.active_user_devices(user):
                if user == self.me and device.id == c.device_id:
                    continue
                ok = self.mode == "all" or judged[user].trusts(device.id, device.ed25519)
                if ok and device.blacklisted:
                    c.unblacklist_device(device)
                if ok and not device.verified:
                    c.verify_device(device)
                elif not ok and not device.blacklisted:
                    c.blacklist_device(device)

    async def sender_trusted(self, user: str, sender_key: str | None) -> bool:
        """Whether the device that encrypted an event (by its Curve25519 key) is one the
        bot trusts."""
        if self.mode == "all":
            return True
        c = self.session.c
        if user == self.me and c.olm is not None and (
                sender_key == c.olm.account.identity_keys["curve25519"]):
            return True  # the bot's own device: nio's device store never lists it
        judged = (await self.judgements([user]))[user]
        for attempt in range(2):
            for device in c.device_store.active_user_devices(user):
                if device.curve25519 == sender_key:
                    return judged.trusts(device.id, device.ed25519)
            if attempt == 0 and c.olm is not None:  # a device nio does not know yet: ask once
                c.olm.users_for_key_query.add(user)
                await self.session.query_keys()
                judged = (await self.judgements([user]))[user]
        return False


async def matrix_verify(config: Config, accept: str | None, out: TextIO) -> bool:
    """``undersign matrix-verify``: set up or repair the bot's cross-signing, optionally
    accept a person's new identity, and say where things stand. The bot must be stopped:
    its E2EE store is not shared."""
    from bot.keys import DatabaseLock, open_store

    if not (config.matrix.enabled and config.matrix.e2ee):
        out.write("matrix-verify: [matrix] is not enabled with e2ee = true in this config\n")
        return False
    lock = DatabaseLock(config.database_path)
    lock.acquire(exclusive=True)
    try:
        store = await open_store(config.database_path)
        store_path = config.path(config.matrix.store_path)
        session = MatrixSession(config.matrix, store_path)
        try:
            trust = Trust(session, store, store_path, config.matrix.trust)
            await trust.load_identity()
            await session.open()
            trust.load_pins()
            if accept:
                had = trust.accept_identity(accept)
                out.write(f"{accept}: " + ("their current identity is pinned at their next "
                                           "message" if had else "no identity was pinned")
                          + "\n")
            own = await trust.set_up()
            device_id = session.c.device_id
        finally:
            await session.close()
            await store.close()
    finally:
        lock.release()
    out.write(own.line(device_id) + "\n")
    return own.device_signed


__all__ = ["IDENTITY_SECRET", "OwnState", "Trust", "matrix_verify"]
