"""People on an independent client stack: Element's own, matrix-js-sdk with its Rust
crypto, one Node process per device (tests/js/person.mjs), driven over JSON lines.

A person made by ``JsPeople`` is cross-signed at login as Element does, and excludes
insecure devices (``OnlySignedDevicesIsolationMode``): it gives room keys only to devices
their owner signed, and decrypts nothing from others. ``another_device`` adds a device to
a person's account as an admin could: logged in with the password, never cross-signed.

The harness comes from ``npm ci`` in tests/js (``make test`` runs it). Without it, or
without Node, these tests skip with the reason, except under CI=true, where they fail.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import shutil
from pathlib import Path
from typing import Any, TypedDict

from tests.support.homeserver import Account, Synapse
from tests.support.matrix_people import first_seen, unique
from tests.support.processes import ROOT, without_proxies

JS_DIR = ROOT / "tests" / "js"
INSTALLED = JS_DIR / "node_modules" / ".installed"  # `make test` touches it after `npm ci`
START_WITHIN_S = 30.0  # a device's login, crypto and first sync
ANSWER_WITHIN_S = 30.0


class Shield(TypedDict):
    colour: str  # "none", "grey" or "red", as Element draws it
    reason: str | None  # EventShieldReason's name, None without a shield


class SeenEvent(TypedDict):
    """A timeline event as one device sees it, decrypted where it can."""

    event_id: str
    sender: str
    room_id: str
    type: str
    state_key: str | None
    membership: str | None
    body: str | None
    relates_to: dict[str, Any] | None
    encrypted: bool
    decryption_error: str | None  # matrix-js-sdk's DecryptionFailureCode, None if clear
    shield: Shield


class UserStatus(TypedDict):
    verified: bool
    needs_user_approval: bool  # the pinned identity changed: Element shows a warning


class DeviceStatus(TypedDict):
    signed_by_owner: bool
    cross_signing_verified: bool


def require_harness() -> None:
    """Skip the test when Node or the harness is missing, except under CI=true, where a
    missing harness is a failure."""
    import pytest

    if shutil.which("node") is None:
        reason = "Node is not installed: the matrix-js-sdk people need it"
    elif not INSTALLED.exists():
        reason = "the matrix-js-sdk harness is not installed: run `make test` (npm ci in tests/js)"
    else:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(reason)
    pytest.skip(reason)


class JsPerson:
    """One device of a person, in its own Node process."""

    def __init__(self, account: Account, name: str, log: Path) -> None:
        self.account = account
        self.id = account.user_id
        self.name = name  # the account's localpart, to log in another device
        self.device_id = account.device_id
        self._log = log
        self._proc: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None
        self._answers: dict[int, asyncio.Future[Any]] = {}
        self._ids = itertools.count(1)
        self._seen: list[SeenEvent] = []
        self._by_id: dict[str, SeenEvent] = {}
        self._position: dict[str, int] = {}  # event id -> its place in _seen
        self._changed = asyncio.Condition()

    async def start(self, hs: Synapse, *, cross_sign: bool, isolation: str) -> None:
        with self._log.open("ab") as log:
            self._proc = await asyncio.create_subprocess_exec(
                "node", str(JS_DIR / "person.mjs"), cwd=JS_DIR, env=without_proxies(os.environ),
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=log,
                limit=2**22)
        self._reader = asyncio.create_task(self._read())
        await self._ask("login", within=START_WITHIN_S, homeserver=hs.url, user_id=self.id,
                        device_id=self.device_id, access_token=self.account.access_token,
                        password=self.account.password, cross_sign=cross_sign,
                        isolation=isolation)

    async def stop(self) -> None:
        if self._proc is None:
            return
        proc, self._proc = self._proc, None
        if proc.stdin is not None:
            proc.stdin.close()
        try:
            async with asyncio.timeout(5):
                await proc.wait()
        except TimeoutError:
            proc.kill()
            await proc.wait()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader

    async def _read(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        async for raw in self._proc.stdout:
            try:
                message = json.loads(raw)
            except ValueError:
                continue  # not the protocol: whatever it was, the log has the story
            if "seen" in message:
                await self._record(message["seen"])
            elif (answer := self._answers.pop(message.get("id"), None)) is None:
                continue
            elif answer.done():
                continue  # its asker gave up waiting
            elif "error" in message:
                answer.set_exception(AssertionError(f"{self.id}: {message['error']}"))
            else:
                answer.set_result(message["result"])
        ended = AssertionError(f"{self.id}'s process ended:\n{self.log_tail()}")
        for answer in self._answers.values():
            if not answer.done():
                answer.set_exception(ended)

    async def _record(self, event: SeenEvent) -> None:
        async with self._changed:
            known = self._by_id.get(event["event_id"])
            if known is None:
                self._by_id[event["event_id"]] = event
                self._position[event["event_id"]] = len(self._seen)
                self._seen.append(event)
            else:  # decrypted later: the same event, now readable
                known.update(event)
            self._changed.notify_all()

    async def _ask(self, op: str, *, within: float = ANSWER_WITHIN_S, **args: Any) -> Any:
        assert self._proc is not None and self._proc.stdin is not None, "not started"
        number = next(self._ids)
        answer = self._answers[number] = asyncio.get_running_loop().create_future()
        self._proc.stdin.write(json.dumps({"id": number, "op": op, **args}).encode() + b"\n")
        try:
            async with asyncio.timeout(within):
                return await answer
        except TimeoutError:
            raise AssertionError(f"{self.id}: no answer to {op} within {within} s:\n"
                                 f"{self.log_tail()}") from None

    def log_tail(self, n: int = 30) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self._log.read_text(errors="replace").splitlines()[-n:])
        return ""

    # --- acting ---

    async def create_room(self, invite: list[str], *, encrypted: bool = False,
                          direct: bool = False) -> str:
        return str(await self._ask("create_room", invite=invite, encrypted=encrypted,
                                   direct=direct))

    async def say(self, room_id: str, text: str) -> str:
        return str(await self._ask("say", room_id=room_id, body=text))

    async def react(self, room_id: str, event_id: str, key: str) -> str:
        """A reaction, sent as Element sends it: unencrypted, even in an encrypted room."""
        return str(await self._ask("react", room_id=room_id, event_id=event_id, key=key))

    async def redact(self, room_id: str, event_id: str) -> str:
        return str(await self._ask("redact", room_id=room_id, event_id=event_id))

    # --- seeing ---

    async def events(self) -> list[SeenEvent]:
        async with self._changed:
            return [event.copy() for event in self._seen]

    async def wait_for(self, *, sender: str | None = None, contains: str | None = None,
                       room_id: str | None = None, within: float = 20,
                       undecryptable: bool = False, after: str | None = None,
                       kind: str | None = None) -> SeenEvent:
        """The first event (after the event ``after``, if given) of type ``kind`` from
        ``sender`` in ``room_id`` whose clear body has ``contains``; with
        ``undecryptable``, the first that this device could not decrypt instead."""
        # Not seen yet, ``after`` is later than anything seen so far.
        start = 0 if after is None else self._position.get(after, len(self._seen) - 1) + 1

        def wanted(event: SeenEvent) -> bool:
            if self._position[event["event_id"]] < start:
                return False
            if any(want is not None and got != want for got, want in (
                    (event["sender"], sender), (event["room_id"], room_id),
                    (event["type"], kind))):
                return False
            if undecryptable:
                return event["decryption_error"] is not None
            return event["decryption_error"] is None and (
                contains is None or contains in (event["body"] or ""))

        what = "an undecryptable event" if undecryptable else f"an event with {contains!r}"
        return await first_seen(self._changed, self._seen, wanted, within,
                                f"{self.id} ({self.device_id}) saw no {what} within {within} s")

    async def wait_joined(self, room_id: str, user_id: str, within: float = 20) -> None:
        await first_seen(
            self._changed, self._seen,
            lambda e: (e["room_id"] == room_id and e["type"] == "m.room.member"
                       and e["state_key"] == user_id and e["membership"] == "join"),
            within, f"{self.id} did not see {user_id} join within {within} s")

    async def user_master_key(self, user_id: str) -> str | None:
        """The cross-signing master key this device sees for ``user_id``."""
        key = await self._ask("user_master_key", user=user_id)
        return None if key is None else str(key)

    async def user_status(self, user_id: str) -> UserStatus:
        """How this device judges ``user_id``'s identity (Element warns when it changed)."""
        status = await self._ask("user_status", user=user_id)
        return UserStatus(verified=bool(status["verified"]),
                          needs_user_approval=bool(status["needs_user_approval"]))

    async def device_status(self, user_id: str, device_id: str) -> DeviceStatus | None:
        """How this device judges another (None: it does not know it)."""
        status = await self._ask("device_status", user=user_id, device=device_id)
        if status is None:
            return None
        return DeviceStatus(signed_by_owner=bool(status["signed_by_owner"]),
                            cross_signing_verified=bool(status["cross_signing_verified"]))


class JsPeople:
    """Makes people as a test needs them, each a cross-signed device; stops them all."""

    def __init__(self, hs: Synapse, logs: Path) -> None:
        self.hs = hs
        self.logs = logs
        self.made: list[JsPerson] = []

    async def __call__(self, stem: str = "person") -> JsPerson:
        name = unique(stem)
        return await self._start(self.hs.register(name), name, cross_sign=True,
                                 isolation="signed")

    async def another_device(self, person: JsPerson, *, isolation: str = "all") -> JsPerson:
        """A new device on ``person``'s account that their identity never signed, as an
        admin of the homeserver could add (log in with the password, or a reset one)."""
        account = self.hs.login(person.name, person.account.password,
                                unique("ADDED").upper())
        return await self._start(account, person.name, cross_sign=False, isolation=isolation)

    async def _start(self, account: Account, name: str, *, cross_sign: bool,
                     isolation: str) -> JsPerson:
        person = JsPerson(account, name, self.logs / f"{account.device_id}.log")
        self.made.append(person)
        await person.start(self.hs, cross_sign=cross_sign, isolation=isolation)
        return person

    async def stop(self) -> None:
        for person in self.made:
            await person.stop()
