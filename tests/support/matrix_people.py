"""Real nio clients playing the people who use the bot on the test Synapse."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
from nio import (
    AsyncClient,
    AsyncClientConfig,
    ErrorResponse,
    InviteMemberEvent,
    LocalProtocolError,
    RoomCreateResponse,
    RoomPreset,
    RoomSendResponse,
    SyncResponse,
)

from tests.support.homeserver import Account, Synapse

Pred = Callable[[dict[str, Any]], bool]
MEGOLM = {
    "type": "m.room.encryption",
    "state_key": "",
    "content": {"algorithm": "m.megolm.v1.aes-sha2"},
}


T = TypeVar("T")


async def first_seen(changed: asyncio.Condition, seen: list[T], pred: Callable[[T], bool],
                     within: float, failure: str) -> T:
    """The first of ``seen`` that ``pred`` accepts, waiting on ``changed`` (notified as
    ``seen`` grows) up to ``within`` seconds; else an AssertionError saying ``failure``."""
    deadline = time.monotonic() + within
    async with changed:
        while True:
            for item in seen:
                if pred(item):
                    return item
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(failure)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(left):
                    await changed.wait()


async def upkeep(client: AsyncClient) -> None:
    """What nio's sync_forever does between syncs for E2EE (nothing without it)."""
    if client.olm is None:
        return
    if client.outgoing_to_device_messages:
        await client.send_to_device_messages()
    if client.should_upload_keys:
        await client.keys_upload()
    if client.should_query_keys:
        await client.keys_query()
    if client.should_claim_keys:
        await client.keys_claim(client.get_users_for_key_claiming())


class RateLimited(AssertionError):
    """A 429 reached a test client: the homeserver config is not doing its job."""

def content(src: dict[str, Any]) -> dict[str, Any]:
    return dict(src.get("content") or {})


def check(resp: Any, what: str) -> Any:
    if isinstance(resp, ErrorResponse):
        if resp.status_code == "M_LIMIT_EXCEEDED":
            raise RateLimited(f"{what}: {resp}")
        raise AssertionError(f"{what}: {resp}")
    return resp


class Person:
    """A user with a nio client that syncs in the background and records every timeline
    event (decrypted where it can) as its source dict plus ``room_id``."""

    def __init__(self, hs: Synapse, account: Account, store: Path | None = None) -> None:
        self.hs = hs
        self.account = account
        self.id = account.user_id
        cfg = AsyncClientConfig(
            max_limit_exceeded=0,
            max_timeouts=0,
            store_sync_tokens=False,
            encryption_enabled=store is not None,
        )
        if store is not None:
            store.mkdir(parents=True, exist_ok=True)
        self.client = AsyncClient(
            hs.url, account.user_id, account.device_id, store_path=str(store or ""), config=cfg
        )
        self.client.restore_login(account.user_id, account.device_id, account.access_token)
        self.events: list[dict[str, Any]] = []
        self.invites: set[str] = set()
        self._changed = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        first = check(await self.client.sync(timeout=0, full_state=True), "first sync")
        await self._record(first)
        if self.client.olm and self.client.should_upload_keys:
            check(await self.client.keys_upload(), "keys upload")  # a person's device is set up
        self._task = asyncio.create_task(self._loop())

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.client.close()

    async def _loop(self) -> None:
        c = self.client
        while True:
            try:
                resp = await c.sync(timeout=500)
                await upkeep(c)
            except (TimeoutError, aiohttp.ClientError, OSError, LocalProtocolError):
                await asyncio.sleep(0.2)
                continue
            if isinstance(resp, SyncResponse):
                await self._record(resp)
            else:
                check(resp, "sync")
                await asyncio.sleep(0.2)

    async def _record(self, resp: SyncResponse) -> None:
        for room_id, info in resp.rooms.invite.items():
            if any(
                isinstance(e, InviteMemberEvent) and e.state_key == self.id
                for e in info.invite_state
            ):
                self.invites.add(room_id)
                check(await self.client.join(room_id), "join")
        async with self._changed:
            for room_id, info in resp.rooms.join.items():
                for event in info.timeline.events:
                    src = dict(getattr(event, "source", {}) or {})
                    src["room_id"] = room_id
                    src["decrypted"] = bool(getattr(event, "decrypted", False))
                    self.events.append(src)
            self._changed.notify_all()

    async def wait_for(self, pred: Pred, within: float = 10, what: str = "event") -> dict[str, Any]:
        return await first_seen(self._changed, self.events, pred, within,
                                f"{self.id} saw no {what} within {within} s")

    async def room_with(self, user_id: str, **options: Any) -> str:
        """A new room that ``user_id`` (the bot) was invited to and has joined."""
        room = await self.create_room([user_id], **options)
        await self.joined(user_id, room)
        return room

    async def joined(self, user_id: str, room_id: str | None = None,
                     within: float = 10) -> None:
        """Wait until ``user_id`` has joined ``room_id`` (any room when None)."""
        await self.wait_for(
            lambda s: (
                (room_id is None or s["room_id"] == room_id)
                and s.get("state_key") == user_id
                and content(s).get("membership") == "join"
            ),
            within=within,
            what="join",
        )

    async def notices(self, room_id: str, within: float = 10) -> dict[str, Any]:
        """The next bot notice in a room not returned before."""
        seen = self.__dict__.setdefault("_seen_notices", set())

        def fresh(src: dict[str, Any]) -> bool:
            return (
                src["room_id"] == room_id
                and src.get("event_id") not in seen
                and (src.get("content") or {}).get("msgtype") == "m.notice"
            )

        src = await self.wait_for(fresh, within, "notice")
        seen.add(src["event_id"])
        return src

    # --- acting ---

    async def create_room(
        self,
        invite: list[str],
        *,
        encrypted: bool = False,
        direct: bool = False,
        bot_power: int | None = None,
    ) -> str:
        power = {"users": {u: bot_power for u in invite}} if bot_power is not None else None
        resp = check(
            await self.client.room_create(
                invite=invite,
                is_direct=direct,
                initial_state=[MEGOLM] if encrypted else [],
                preset=RoomPreset.trusted_private_chat if direct else RoomPreset.private_chat,
                power_level_override=power,
            ),
            "create room",
        )
        assert isinstance(resp, RoomCreateResponse)
        await self.wait_for(lambda s: s["room_id"] == resp.room_id, what="own room")
        return str(resp.room_id)

    async def send(
        self, room_id: str, content: dict[str, Any], event_type: str = "m.room.message"
    ) -> str:
        if self.client.olm and room_id in self.client.rooms:
            room = self.client.rooms[room_id]
            for user in list(room.users):
                for device in self.client.device_store.active_user_devices(user):
                    if not device.verified:
                        self.client.verify_device(device)
        resp = check(
            await self.client.room_send(
                room_id, event_type, content, ignore_unverified_devices=True
            ),
            "send",
        )
        assert isinstance(resp, RoomSendResponse)
        return str(resp.event_id)

    async def say(self, room_id: str, body: str, **extra: Any) -> str:
        return await self.send(room_id, {"msgtype": "m.text", "body": body, **extra})

    async def react(self, room_id: str, event_id: str, key: str) -> str:
        rel = {"rel_type": "m.annotation", "event_id": event_id, "key": key}
        return await self.send(room_id, {"m.relates_to": rel}, "m.reaction")

    async def redact(self, room_id: str, event_id: str) -> str:
        resp = check(await self.client.room_redact(room_id, event_id), "redact")
        return str(resp.event_id)

    async def account_data(self, kind: str) -> dict[str, Any]:
        from urllib.parse import quote

        path = f"/_matrix/client/v3/user/{quote(self.id, safe='')}/account_data/{kind}"
        resp = await self.client.send(
            "GET", path, headers={"Authorization": f"Bearer {self.account.access_token}"}
        )
        return dict(json.loads(await resp.text())) if resp.status == 200 else {}


_names = itertools.count(1)
_run = os.urandom(3).hex()


def unique(stem: str) -> str:
    """A user name no other test (or earlier run on the same server) has taken."""
    return f"{stem}{next(_names)}x{_run}"


PersonFactory = Callable[..., Awaitable[Person]]


@contextlib.asynccontextmanager
async def gathering(hs: Synapse, stores: Path | None) -> AsyncIterator[PersonFactory]:
    """Make people as a test needs them (``stores``: where E2EE people keep their keys);
    stop them all at the end."""
    made: list[Person] = []

    async def make(stem: str = "person", *, e2ee: bool = False) -> Person:
        account = hs.register(unique(stem))
        if e2ee and stores is None:
            raise ValueError("an E2EE person needs a folder for keys")
        store = stores / f"store-{account.device_id}" if e2ee and stores else None
        person = Person(hs, account, store)
        await person.start()
        made.append(person)
        return person

    try:
        yield make
    finally:
        for person in made:
            await person.stop()
