"""Matrix at the edge: nio sync responses in, neutral events out; neutral replies in,
``m.notice`` messages, edits and redactions out.

Two tasks run while the adapter is started. The *sync loop* long-polls the homeserver
with jittered exponential back-off and hands each response to a queue; the *worker*
turns the response into neutral events, awaits the handler for each, and only then saves
the sync position, so a restart neither replays (the core de-duplicates what little may
repeat) nor misses anything. Sending never waits for the worker, so a reply that needs a
new direct room can wait for the sync that reveals it without dead-locking.

Logs at INFO and WARNING name no user, no room and carry no message text: nio's own
loggers do, so they are raised to ERROR unless the application configured them.
"""

from __future__ import annotations

import asyncio
import functools
import html
import json
import logging
import random
import stat
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from contextlib import suppress
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

import aiohttp
from nio import (
    AsyncClient,
    AsyncClientConfig,
    ErrorResponse,
    LocalProtocolError,
    MatrixRoom,
    MessageDirection,
    RoomCreateResponse,
    RoomMessagesResponse,
    RoomPreset,
    RoomSendResponse,
    SyncResponse,
    WhoamiResponse,
)

from adapters.base import Handler, StateStore
from adapters.matrix_translate import (
    _map,
    edit_content,
    notice,
    render,
    translate,
)
from bot.config import BotConfig, MatrixConfig, secret
from bot.events import (
    Command,
    Edit,
    Post,
    Private,
    Redact,
    Reply,
    Room,
)
from bot.logsafe import fault, trace

log = logging.getLogger("undersign.matrix")

SYNC_POSITION = "matrix.next_batch"
SYNC_TIMEOUT_MS = 30_000
BACKOFF_CAP_S = 30.0
SEND_DEADLINE_S = 120.0
NEW_ROOM_WAIT_S = 15.0
GAP_PAGES = 20  # how far back a gap in a room's timeline is fetched, in pages of
GAP_PAGE_SIZE = 100
MEGOLM = {
    "type": "m.room.encryption",
    "state_key": "",
    "content": {"algorithm": "m.megolm.v1.aes-sha2"},
}
SYNC_FILTER: dict[str, Any] = {
    "presence": {"types": []},
    "account_data": {"types": []},
    "room": {
        "ephemeral": {"types": []},
        "account_data": {"types": []},
        "timeline": {"limit": 100},
    },
}
TRANSIENT = (aiohttp.ClientError, asyncio.TimeoutError, OSError)

R = TypeVar("R")


def backoff(attempt: int) -> float:
    """Full-jitter exponential back-off: 0.5 s, 1 s, 2 s ... capped at BACKOFF_CAP_S."""
    return random.uniform(0.5, 1.0) * min(BACKOFF_CAP_S, 0.5 * 2.0 ** max(0, attempt - 1))


def _own_join(src: Mapping[str, Any], me: str) -> bool:
    if src.get("type") != "m.room.member" or src.get("state_key") != me:
        return False
    prev = _map(_map(src.get("unsigned")).get("prev_content"))
    return _map(src.get("content")).get("membership") == "join" and prev.get(
        "membership"
    ) != "join"


def _sent_at(src: Mapping[str, Any]) -> int:
    ts = src.get("origin_server_ts")
    return ts if isinstance(ts, int) else 0


# --- the adapter ------------------------------------------------------------------------


class MatrixAdapter:
    platform = "matrix"

    def __init__(
        self,
        config: MatrixConfig,
        bot: BotConfig,
        state: StateStore,
        *,
        store_path: Path | None = None,
    ) -> None:
        self.config = config
        self.bot = bot
        self.state = state
        self.store_path = store_path or Path(config.store_path)
        self.user_id = config.user_id
        self.server = config.user_id.split(":", 1)[1]
        self.client: AsyncClient | None = None
        self._handle: Handler | None = None
        # (a sync response, whether it is the first, the token it was asked `since`)
        self._queue: asyncio.Queue[tuple[SyncResponse, bool, str | None]] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []
        self._tick = asyncio.Event()
        self._direct: dict[str, str] = {}  # user id -> direct room id, in memory only
        self._direct_locks: dict[str, asyncio.Lock] = {}
        self._direct_rooms: set[str] = set()  # rooms in the bot's m.direct
        self._keys_lock = asyncio.Lock()
        self.synced = asyncio.Event()  # set once the first sync has been digested
        self._history_before = 0  # on a first start: ms timestamp before which is history

    # --- lifecycle ---

    async def start(self, handle: Handler) -> None:
        self._handle = handle
        nio_log = logging.getLogger("nio")
        if nio_log.level == logging.NOTSET:
            nio_log.setLevel(logging.ERROR)  # nio logs user and room ids at INFO/WARNING
        if self.config.e2ee:
            self.store_path.mkdir(mode=0o700, parents=True, exist_ok=True)
            mode = stat.S_IMODE(self.store_path.stat().st_mode)
            if mode & 0o077:  # it holds the device's private keys
                raise RuntimeError(f"matrix: the E2EE store {self.store_path.name} can be read "
                                   f"by others (mode {mode:o}); run: chmod 700 "
                                   f"{self.store_path.name}")
        cfg = AsyncClientConfig(
            max_limit_exceeded=0,
            max_timeouts=0,
            request_timeout=SYNC_TIMEOUT_MS / 1000 + 15,
            encryption_enabled=self.config.e2ee,
            store_sync_tokens=False,
        )
        self.client = AsyncClient(
            self.config.homeserver,
            self.user_id,
            self.config.device_id,
            store_path=str(self.store_path) if self.config.e2ee else "",
            config=cfg,
        )
        await self._login()
        self._direct_rooms = {r for rooms in (await self._direct_map()).values() for r in rooms}
        since = await self.state.get_state(SYNC_POSITION)
        if since is None:
            # Synapse may answer a repeated initial sync from its response cache, with an
            # older position: the clock, not only the position, marks what is history.
            self._history_before = int(time.time() * 1000)
            # First start: what was said before it is not a command. Invites still count.
            first = await self._call(
                "initial sync",
                lambda: self._c.sync(timeout=0, sync_filter=SYNC_FILTER, full_state=True),
            )
            if not isinstance(first, SyncResponse):
                raise RuntimeError("matrix: the initial sync failed")
            self._queue.put_nowait((first, True, None))
            since = first.next_batch
        self._tasks = [
            asyncio.create_task(self._sync_loop(since), name="matrix-sync"),
            asyncio.create_task(self._worker(), name="matrix-worker"),
        ]

    async def stop(self) -> None:
        """Stop syncing, let the worker finish what was received (bounded), then close."""
        tasks, self._tasks = self._tasks, []
        for task in tasks[:1]:
            task.cancel()
            with suppress(asyncio.CancelledError):
                await task
        for task in tasks[1:]:
            with suppress(TimeoutError):
                async with asyncio.timeout(10):
                    await self._queue.join()
            task.cancel()
            with suppress(asyncio.CancelledError):
                await task
        if self.client is not None:
            await self.client.close()

    @property
    def _c(self) -> AsyncClient:
        assert self.client is not None, "MatrixAdapter.start() first"
        return self.client

    async def _login(self) -> None:
        token, password = secret("MATRIX_ACCESS_TOKEN"), secret("MATRIX_PASSWORD")
        if token:
            self._c.access_token = token
            who = await self._call("whoami", self._c.whoami)
            if not isinstance(who, WhoamiResponse) or who.user_id != self.user_id:
                raise RuntimeError(
                    "matrix: MATRIX_ACCESS_TOKEN was refused or belongs to another user"
                )
            device = who.device_id or self.config.device_id
            if device != self.config.device_id:
                log.warning(
                    "the access token belongs to another device than matrix.device_id; using it"
                )
            self._c.restore_login(self.user_id, device, token)
        elif password:
            resp = await self._call(
                "login", lambda: self._c.login(password, device_name="Undersign")
            )
            if isinstance(resp, ErrorResponse) or resp is None:
                raise RuntimeError("matrix: login with MATRIX_PASSWORD failed")
        else:
            raise RuntimeError("matrix: set MATRIX_ACCESS_TOKEN or MATRIX_PASSWORD")
        if self.config.e2ee and self._c.should_upload_keys:
            await self._call("keys upload", self._c.keys_upload)

    # --- requests with retries ---

    async def _call(
        self, what: str, request: Callable[[], Awaitable[R]], deadline: float = SEND_DEADLINE_S
    ) -> R | None:
        """Run one nio request, retrying connection faults with back-off and 429s after
        ``retry_after_ms``. Returns the response (maybe an ErrorResponse), or None after
        giving up, which is logged at WARNING."""
        loop = asyncio.get_running_loop()
        started, attempt = loop.time(), 0
        while True:
            attempt += 1
            try:
                resp = await request()
            except TRANSIENT as exc:
                delay, why = backoff(attempt), type(exc).__name__
            else:
                status = getattr(getattr(resp, "transport_response", None), "status", 200)
                if isinstance(resp, ErrorResponse) and (
                    resp.status_code == "M_LIMIT_EXCEEDED" or status == 429
                ):
                    delay, why = (resp.retry_after_ms or 1000) / 1000, "rate limited (429)"
                    log.warning(
                        "%s: rate limited by the homeserver, retrying in %.1f s", what, delay
                    )
                elif isinstance(resp, ErrorResponse) and status >= 500:
                    delay, why = backoff(attempt), f"HTTP {status}"
                else:
                    return resp
            if loop.time() - started + delay > deadline:
                log.warning("%s: gave up after %d attempts (%s)", what, attempt, why)
                return None
            await asyncio.sleep(delay)

    # --- receiving ---

    async def _sync_loop(self, since: str) -> None:
        failures, full_state = 0, True  # full state once, so nio knows every room after a restart
        while True:
            try:
                resp = await self._c.sync(
                    timeout=SYNC_TIMEOUT_MS,
                    since=since,
                    sync_filter=SYNC_FILTER,
                    full_state=full_state,
                )
            except TRANSIENT as exc:
                failures += 1
                delay = backoff(failures)
                log.warning("sync failed (%s), retrying in %.1f s", type(exc).__name__, delay)
                await asyncio.sleep(delay)
                continue
            if not isinstance(resp, SyncResponse):
                failures += 1
                limited = isinstance(resp, ErrorResponse) and resp.retry_after_ms
                delay = (
                    resp.retry_after_ms / 1000
                    if limited and resp.retry_after_ms
                    else backoff(failures)
                )
                code = resp.status_code if isinstance(resp, ErrorResponse) else "?"
                log.warning("sync refused (%s), retrying in %.1f s", code, delay)
                await asyncio.sleep(delay)
                continue
            if failures:
                log.info("sync works again after %d failures", failures)
            asked_since, failures, full_state, since = since, 0, False, resp.next_batch
            await self._queue.put((resp, False, asked_since))
            if self.config.e2ee:
                await self._key_upkeep()
            tick, self._tick = self._tick, asyncio.Event()
            tick.set()  # after the key upkeep: a new room's devices are known by now

    async def _key_upkeep(self) -> None:
        """What nio's sync_forever does between syncs for E2EE."""
        c = self._c
        steps: list[tuple[bool, Callable[[], Awaitable[Any]]]] = [
            (bool(c.outgoing_to_device_messages), c.send_to_device_messages),
            (c.should_upload_keys, c.keys_upload),
            (c.should_query_keys, self._query_keys),
            (c.should_claim_keys, lambda: c.keys_claim(c.get_users_for_key_claiming())),
        ]
        for needed, step in steps:
            if needed:
                with suppress(LocalProtocolError, *TRANSIENT):
                    await step()

    async def _query_keys(self) -> None:
        """Learn the devices of the people in encrypted rooms before a group session is
        shared, or they could never read what the bot says."""
        async with self._keys_lock:
            if self._c.should_query_keys:
                await self._call("keys query", self._c.keys_query)

    async def _worker(self) -> None:
        while True:
            resp, first, since = await self._queue.get()
            try:
                await self._digest(resp, first, since)
                await self.state.set_state(SYNC_POSITION, resp.next_batch)
            except Exception as exc:
                log.error("could not digest a sync response (%s)", fault(exc),
                          exc_info=trace(exc))
            finally:
                self._queue.task_done()
            if self._queue.empty():
                self.synced.set()

    async def _digest(self, resp: SyncResponse, first: bool, since: str | None) -> None:
        for room_id, info in resp.rooms.invite.items():
            await self._on_invite(room_id, info.invite_state)
        if first:
            return
        for room_id, info in resp.rooms.join.items():
            events = [getattr(e, "source", None) or {} for e in info.timeline.events]
            joined_at = [i for i, src in enumerate(events) if _own_join(src, self.user_id)]
            if joined_at:
                events = events[joined_at[-1] + 1 :]  # what came before we joined is history
            elif info.timeline.limited and since and info.timeline.prev_batch:
                # More happened since the last sync than one timeline holds: fetch the
                # gap, so that a command sent while the bot was away is not lost.
                events = await self._gap(room_id, info.timeline.prev_batch, since) + events
            for src in events:
                if _sent_at(src) >= self._history_before:
                    await self._dispatch(room_id, src)

    async def _gap(self, room_id: str, start: str, since: str) -> list[dict[str, Any]]:
        """The events between the previous sync (``since``) and a limited timeline's
        start, oldest first; at most GAP_PAGES pages, then the rest is logged as skipped."""
        older: list[dict[str, Any]] = []
        token = start
        for _ in range(GAP_PAGES):
            page = await self._call("messages", functools.partial(
                self._c.room_messages, room_id, token, end=since,
                direction=MessageDirection.back, limit=GAP_PAGE_SIZE))
            if not isinstance(page, RoomMessagesResponse):
                log.warning("a room's timeline has a gap that could not be fetched")
                break
            older += [getattr(e, "source", None) or {} for e in page.chunk]
            if not page.chunk or not page.end or page.end == token:
                break
            token = page.end
        else:
            log.warning("a room's timeline gap was longer than %d events; older ones skipped",
                        GAP_PAGES * GAP_PAGE_SIZE)
        older.reverse()
        return older

    async def _dispatch(self, room_id: str, src: dict[str, Any]) -> None:
        event = translate(self, room_id, src)
        if event is None:
            return
        if isinstance(event, Command) and event.room.direct:
            self._remember_direct(event.user.id, room_id)
        assert self._handle is not None
        try:
            await self._handle(event)
        except Exception as exc:
            log.error("the handler failed on a %s (%s)", type(event).__name__, fault(exc),
                      exc_info=trace(exc))

    def neutral_room(self, room_id: str, thread: str | None = None) -> Room:
        room = self._c.rooms.get(room_id)
        return Room("matrix", room_id, thread, direct=room is not None and self._is_direct(room))

    def _is_direct(self, room: MatrixRoom) -> bool:
        """A room marked direct (m.direct) with the bot and one person, which nobody else
        can join by themselves. A two-member group room is not direct: others may be
        invited later and read its history."""
        return bool(
            room.room_id in self._direct_rooms
            and room.member_count == 2
            and room.join_rule != "public"
        )

    def may_invite(self, inviter: str, room_id: str) -> bool:
        users, rooms = self.config.allowed_users, self.config.allowed_rooms
        user_ok = (
            any(fnmatchcase(inviter, glob) for glob in users)
            if users
            else inviter.split(":", 1)[-1] == self.server
        )
        return user_ok and (not rooms or any(fnmatchcase(room_id, glob) for glob in rooms))

    async def _on_invite(self, room_id: str, invite_state: list[Any]) -> None:
        mine = [
            e
            for e in invite_state
            if getattr(e, "state_key", None) == self.user_id
            and getattr(e, "membership", None) == "invite"
        ]
        if not mine:
            return
        inviter = str(getattr(mine[-1], "sender", ""))
        if not self.may_invite(inviter, room_id):
            log.info("declined an invitation that the config does not allow")
            await self._call("decline invitation", lambda: self._c.room_leave(room_id))
            return
        resp = await self._call("join", lambda: self._c.join(room_id))
        if isinstance(resp, ErrorResponse) or resp is None:
            log.warning(
                "could not join a room on invitation (%s)", getattr(resp, "status_code", "gave up")
            )
            return
        log.info("joined a room on invitation")
        content = getattr(mine[-1], "content", None) or {}
        if content.get("is_direct"):
            await self._mark_direct(inviter, room_id)

    # --- sending ---

    async def send(self, reply: Reply) -> str | None:
        try:
            if isinstance(reply, Post):
                plain, rich = render(reply.body)
                content = notice(plain, rich)
                if reply.room.thread:
                    content["m.relates_to"] = {
                        "rel_type": "m.thread",
                        "event_id": reply.room.thread,
                    }
                return await self._room_send(reply.room.id, content, "room message")
            if isinstance(reply, Private):
                return await self._private(reply)
            if isinstance(reply, Edit):
                plain, rich = render(reply.body)
                sent = await self._room_send(
                    reply.room.id, edit_content(reply.message_ref, plain, rich), "edit"
                )
                return reply.message_ref if sent else None
            if isinstance(reply, Redact):
                await self._redact(reply)
                return None
        except Exception as exc:  # send never raises for a platform fault
            log.warning("could not send a %s (%s)", type(reply).__name__, fault(exc),
                        exc_info=trace(exc))
        return None

    async def _room_send(self, room_id: str, content: dict[str, Any], what: str) -> str | None:
        c = self._c
        if c.olm is not None and room_id not in c.rooms:
            await self._wait_for_room(room_id)
        room = c.rooms.get(room_id)
        if c.olm is not None and room is not None and room.encrypted:
            await self._query_keys()
            self._trust_devices(room)
        tx = str(uuid.uuid4())  # one transaction id for every retry: the server de-duplicates
        resp = await self._call(
            what,
            lambda: c.room_send(
                room_id, "m.room.message", content, tx_id=tx, ignore_unverified_devices=True
            ),
        )
        if isinstance(resp, RoomSendResponse):
            return str(resp.event_id)
        if resp is not None:
            log.warning(
                "%s not delivered (%s)", what, getattr(resp, "status_code", type(resp).__name__)
            )
        return None

    def _trust_devices(self, room: MatrixRoom) -> None:
        """Trust on first use: nio has no cross-signing, so the bot trusts every device of
        the people in a room it writes to (see the README's E2EE section)."""
        c = self._c
        for user in list(room.users):
            for device in c.device_store.active_user_devices(user):
                if not device.verified and not device.blacklisted:
                    c.verify_device(device)

    async def _wait_for_room(self, room_id: str, member: str | None = None) -> None:
        """Wait until a sync has shown the room (and ``member`` in it). A sync can show a
        new room before its invites: a session shared then would leave them out."""

        def known() -> bool:
            room = self._c.rooms.get(room_id)
            return room is not None and (member is None or member in room.users)

        with suppress(TimeoutError):
            async with asyncio.timeout(NEW_ROOM_WAIT_S):
                while not known():
                    await self._tick.wait()

    async def _redact(self, reply: Redact) -> None:
        resp = await self._call(
            "redaction",
            lambda: self._c.room_redact(reply.room.id, reply.event_ref, reason=reply.reason),
        )
        if isinstance(resp, ErrorResponse):
            log.info("could not redact an event (%s)", resp.status_code)

    async def _private(self, reply: Private) -> str | None:
        room_id = await self._direct_room(reply.user.id)
        if room_id is None:
            log.warning("a private reply was not delivered: no direct room")
            return None
        plain, rich = render(reply.body)
        if reply.attachment is not None:
            text = reply.attachment.content.decode("utf-8", "replace")
            name = html.escape(reply.attachment.filename, quote=False)
            plain += f"\n\n{reply.attachment.filename}:\n{text}"
            rich += f"<br><br>{name}:<pre><code>{html.escape(text, quote=False)}</code></pre>"
        return await self._room_send(room_id, notice(plain, rich), "private reply")

    # --- direct rooms ---

    def _usable_direct(self, user_id: str, room_id: str) -> bool:
        room = self._c.rooms.get(room_id)
        return (
            room is not None
            and user_id in room.users
            and self._is_direct(room)
            and (room.encrypted or not self.config.e2ee)
        )

    def _remember_direct(self, user_id: str, room_id: str) -> None:
        if user_id not in self._direct and self._usable_direct(user_id, room_id):
            self._direct[user_id] = room_id

    async def _direct_room(self, user_id: str) -> str | None:
        lock = self._direct_locks.setdefault(user_id, asyncio.Lock())
        async with lock:
            known = self._direct.get(user_id)
            if known and self._usable_direct(user_id, known):
                return known
            for room_id in (await self._direct_map()).get(user_id, []):
                if self._usable_direct(user_id, room_id):
                    self._direct[user_id] = room_id
                    return room_id
            resp = await self._call(
                "create direct room",
                lambda: self._c.room_create(
                    is_direct=True,
                    invite=[user_id],
                    preset=RoomPreset.trusted_private_chat,
                    initial_state=[MEGOLM] if self.config.e2ee else [],
                ),
            )
            if not isinstance(resp, RoomCreateResponse):
                return None
            self._direct[user_id] = resp.room_id
            await self._mark_direct(user_id, resp.room_id)
            await self._wait_for_room(resp.room_id, member=user_id)
            return str(resp.room_id)

    def _direct_url(self) -> str:
        return f"/_matrix/client/v3/user/{quote(self.user_id, safe='')}/account_data/m.direct"

    async def _direct_map(self) -> dict[str, list[str]]:
        """The bot's ``m.direct`` account data: user id -> direct room ids."""

        async def get() -> aiohttp.ClientResponse:
            resp: aiohttp.ClientResponse = await self._c.send(
                "GET", self._direct_url(), headers=self._auth()
            )
            return resp

        resp = await self._call("read m.direct", get)
        if resp is None or resp.status != 200:
            return {}
        data = await resp.json()
        if not isinstance(data, dict):
            return {}
        return {
            k: [r for r in v if isinstance(r, str)] for k, v in data.items() if isinstance(v, list)
        }

    async def _mark_direct(self, user_id: str, room_id: str) -> None:
        self._direct_rooms.add(room_id)
        data = await self._direct_map()
        if room_id in data.get(user_id, []):
            return
        data.setdefault(user_id, []).append(room_id)

        async def put() -> aiohttp.ClientResponse:
            resp: aiohttp.ClientResponse = await self._c.send(
                "PUT", self._direct_url(), json.dumps(data), self._auth()
            )
            return resp

        resp = await self._call("write m.direct", put)
        if resp is None or resp.status != 200:
            log.warning("could not record a direct room in m.direct")

    def _auth(self) -> dict[str, str]:
        return {
            "Authorization": f"Bearer {self._c.access_token}",
            "Content-Type": "application/json",
        }


__all__ = ["MatrixAdapter"]
