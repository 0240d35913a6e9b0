"""What the Matrix bot does with encrypted events it cannot or will not read.

An event it could not decrypt, or one decrypted from a device its owner has not signed
(with ``trust = "cross-signed"``), is not acted on: it is counted and logged by kind and
reason only, never by room or person. When a person's app withholds a room key from the
bot (``m.room_key.withheld``), or a device of their account the bot does not trust writes
to it, the person is told privately, once while the bot runs, why and what to do. That
private reply goes only to devices the bot trusts: a device an admin added cannot read it.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

from nio import MegolmEvent

from adapters.matrix_signing import as_mapping
from adapters.matrix_trust import Trust

log = logging.getLogger("undersign.matrix")

# A person's app tells the bot it will not give it a room key, and why.
WITHHELD = frozenset({"m.room_key.withheld", "org.matrix.room_key.withheld"})
WITHHELD_CODES = frozenset({"m.blacklisted", "m.unverified", "m.unauthorised", "m.unavailable",
                            "m.no_olm"})
WITHHELD_NOTICE = (
    "I cannot read what you write in encrypted rooms: your app withheld its keys from my "
    "device ({code}). If your app excludes insecure devices, ask whoever runs this bot to "
    "run `undersign matrix-verify`, which cross-signs my device; until then, use a room "
    "without encryption only for public letters."
)
UNSIGNED_NOTICE = (
    "Someone sent me a message from a device on your account that your own identity has not "
    "verified, so I did not act on it. If it was you, verify that session from one of your "
    "other sessions and send it again. If it was not you, someone else can use your account: "
    "tell the organizers you trust. I give that device no keys, so it cannot read my replies."
)


class Screen:
    def __init__(self, trust: Trust, tell: Callable[[str, str], Awaitable[None]],
                 me: str) -> None:
        self.trust = trust
        self._tell = tell  # a private message to a person
        self.me = me
        self.undecryptable: Counter[str] = Counter()  # by reason, never by room or person
        self._withheld: dict[str, str] = {}  # session id -> the code it was withheld with
        self._withheld_told: set[str] = set()
        self._unsigned_told: set[str] = set()

    async def timeline(self, events: list[Any]) -> list[Any]:
        """The timeline events the bot may act on: not one it could not decrypt, nor one
        decrypted from a device the bot does not trust. Both are counted and logged by
        kind and reason only."""
        kept: list[Any] = []
        for event in events:
            if isinstance(event, MegolmEvent):
                code = self._withheld.get(event.session_id)
                self._not_read(f"key withheld ({code})" if code else "no room key")
            elif getattr(event, "decrypted", False) and not await self.trust.sender_trusted(
                    event.sender, getattr(event, "sender_key", None)):
                self._not_read("sent from a device its owner has not signed")
                await self._tell_once(self._unsigned_told, event.sender, UNSIGNED_NOTICE)
            else:
                kept.append(event)
        return kept

    def _not_read(self, reason: str) -> None:
        self.undecryptable[reason] += 1
        log.warning("did not act on an encrypted event: %s (%d so far)", reason,
                    self.undecryptable[reason])

    async def to_device(self, messages: Iterable[Any]) -> None:
        for message in messages:
            if getattr(message, "type", None) in WITHHELD:
                await self._key_withheld(message.sender, as_mapping(message.source))

    async def _key_withheld(self, sender: str, source: Mapping[str, Any]) -> None:
        """A person's client would not give the bot a room key: note why, and tell them
        privately, once while the bot runs, why it cannot read them and what to do."""
        content = as_mapping(source.get("content"))
        code = content.get("code")
        code = code if code in WITHHELD_CODES else "other"
        session_id = content.get("session_id")
        if isinstance(session_id, str):
            self._withheld[session_id] = code
        log.info("a person's app withheld a room key from the bot (%s)", code)
        await self._tell_once(self._withheld_told, sender, WITHHELD_NOTICE.format(code=code))

    async def _tell_once(self, told: set[str], user_id: str, text: str) -> None:
        """Tell a person something privately, once while the bot runs (kept in memory)."""
        if user_id != self.me and user_id not in told:
            told.add(user_id)
            await self._tell(user_id, text)


__all__ = ["UNSIGNED_NOTICE", "WITHHELD_NOTICE", "Screen"]
