"""Matrix at the edge: the adapter loop. Sync responses in, neutral events out; neutral
replies in, ``m.notice`` messages, edits and redactions out, each through a sender of the
``_senders`` table.

Its parts live beside it: adapters/matrix_session.py logs in and retries every request,
adapters/matrix_digest.py decides without I/O what a sync response asks (events,
gaps to fetch, invitations to answer), adapters/matrix_direct.py knows each person's
direct room, adapters/matrix_translate.py renders and translates,
adapters/matrix_trust.py keeps the bot's cross-signed identity and judges other people's
devices (with adapters/matrix_signing.py, its part without I/O), and
adapters/matrix_screen.py sets aside encrypted events the bot cannot or will not read.

Two tasks run while the adapter is started. The *sync loop* long-polls the homeserver
with jittered exponential back-off and hands each response to a queue; the *worker*
digests the response, carries out what it asks, awaits the handler for each event, and
only then saves the sync position, so a restart neither replays (the core de-duplicates
what little may repeat) nor misses anything. Sending never waits for the worker, so a
reply that needs a new direct room can wait for the sync that reveals it without
dead-locking.

Logs at INFO and WARNING name no user, no room and carry no message text: nio's own
loggers do, so they are raised to ERROR unless the application configured them.
"""

from __future__ import annotations

import asyncio
import functools
import html
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from contextlib import suppress
from pathlib import Path
from typing import Any, Protocol

from nio import (
    AsyncClient,
    ErrorResponse,
    MessageDirection,
    ProfileGetDisplayNameResponse,
    RoomMessagesResponse,
    RoomSendResponse,
    SyncResponse,
)

from adapters.base import Handler, SecretStore, StateStore
from adapters.matrix_digest import Gap, Invitation, digest, may_invite, neutral_events, sources
from adapters.matrix_direct import DirectRooms
from adapters.matrix_screen import Screen
from adapters.matrix_session import SYNC_TIMEOUT_MS, MatrixSession, backoff
from adapters.matrix_translate import edit_content, notice, render
from adapters.matrix_trust import OwnState, Trust
from bot.config import BotConfig, MatrixConfig
from bot.events import Command, Edit, Event, Post, Private, Redact, Reply, Room, User
from bot.logsafe import fault, trace
from bot.observe import AdapterStats

log = logging.getLogger("undersign.matrix")

SYNC_POSITION = "matrix.next_batch"
NEW_ROOM_WAIT_S = 15.0
GAP_PAGES = 20  # how far back a gap in a room's timeline is fetched, in pages of
GAP_PAGE_SIZE = 100
SYNC_FILTER: dict[str, Any] = {
    "presence": {"types": []},
    "account_data": {"types": []},
    "room": {
        "ephemeral": {"types": []},
        "account_data": {"types": []},
        "timeline": {"limit": 100},
    },
}


class MatrixStore(StateStore, SecretStore, Protocol):
    """What the Matrix adapter keeps in the store: its sync position, and sealed, its
    cross-signing keys."""


# --- the adapter ------------------------------------------------------------------------


class MatrixAdapter:
    platform = "matrix"

    def __init__(
        self,
        config: MatrixConfig,
        bot: BotConfig,
        state: MatrixStore,
        *,
        store_path: Path | None = None,
        cross_sign: bool = True,
    ) -> None:
        self.config = config
        self.bot = bot
        self.state = state
        self.store_path = store_path or Path(config.store_path)
        self.user_id = config.user_id
        self.server = config.user_id.split(":", 1)[1]
        self.session = MatrixSession(config, self.store_path)
        self.direct = DirectRooms(self.session, self._wait_for_room)
        self.trust = Trust(self.session, state, self.store_path, config.trust)
        self.cross_sign = cross_sign  # False only in tests: a device nobody signed
        self.own: OwnState | None = None
        self.screen = Screen(self.trust, self._tell, self.user_id)
        self._handle: Handler | None = None
        # (a sync response, whether it is the first, the token it was asked `since`)
        self._queue: asyncio.Queue[tuple[SyncResponse, bool, str | None]] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []
        self._tick = asyncio.Event()
        self.synced = asyncio.Event()  # set once the first sync has been digested
        self._history_before = 0  # on a first start: ms timestamp before which is history

    @property
    def client(self) -> AsyncClient | None:
        """The session's nio client (None before ``start``)."""
        return self.session.client

    @client.setter
    def client(self, client: AsyncClient | None) -> None:
        self.session.client = client

    @property
    def stats(self) -> AdapterStats:
        """Connected while syncs succeed (bot/ops.py reads it)."""
        return self.session.stats

    @property
    def _c(self) -> AsyncClient:
        return self.session.c

    # --- lifecycle ---

    async def start(self, handle: Handler) -> None:
        self._handle = handle
        nio_log = logging.getLogger("nio")
        if nio_log.level == logging.NOTSET:
            nio_log.setLevel(logging.ERROR)  # nio logs user and room ids at INFO/WARNING
        if self.config.e2ee and self.cross_sign:
            await self.trust.load_identity()
        await self.session.open()
        # The direct rooms are read while the cross-signing is checked: neither needs the other.
        direct = asyncio.create_task(self.direct.load(), name="matrix-direct-rooms")
        try:
            await self._set_up_trust()
            await direct
        finally:
            direct.cancel()  # only if the check failed first
        since = await self.state.get_state(SYNC_POSITION)
        if since is None:
            # Synapse may answer a repeated initial sync from its response cache, with an
            # older position: the clock, not only the position, marks what is history.
            self._history_before = int(time.time() * 1000)
            # First start: what was said before it is not a command. Invites still count.
            first = await self.session.call(
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

    async def _set_up_trust(self) -> None:
        """With E2EE: the pinned identities, and the bot's cross-signing as the homeserver
        has it (uploaded, this device signed), before any sync or send."""
        if not self.config.e2ee:
            return
        self.trust.load_pins()
        if self.cross_sign:
            self.own = await self.trust.set_up()
            level = logging.INFO if self.own.device_signed else logging.WARNING
            log.log(level, "%s", self.own.line(self._c.device_id))

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
        await self.session.close()

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
            except Exception as exc:  # the network, or a response nio could not parse
                failures += 1
                self.stats.connected = False
                delay = backoff(failures)
                log.warning("sync failed (%s), retrying in %.1f s", type(exc).__name__, delay)
                await asyncio.sleep(delay)
                continue
            if not isinstance(resp, SyncResponse):
                failures += 1
                self.stats.connected = False
                limited = isinstance(resp, ErrorResponse) and resp.retry_after_ms
                delay = (
                    resp.retry_after_ms / 1000
                    if limited and resp.retry_after_ms
                    else backoff(failures)
                )
                self.stats.rate_limit_waits += bool(limited)
                code = resp.status_code if isinstance(resp, ErrorResponse) else "?"
                log.warning("sync refused (%s), retrying in %.1f s", code, delay)
                await asyncio.sleep(delay)
                continue
            if failures:
                log.info("sync works again after %d failures", failures)
                self.stats.reconnects += 1
            self.stats.connected = True
            asked_since, failures, full_state, since = since, 0, False, resp.next_batch
            await self._queue.put((resp, False, asked_since))
            if self.config.e2ee:
                await self.session.key_upkeep()
            tick, self._tick = self._tick, asyncio.Event()
            tick.set()  # after the key upkeep: a new room's devices are known by now

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
        await self.screen.to_device(resp.to_device_events)
        if not first:
            for info in resp.rooms.join.values():
                info.timeline.events = await self.screen.timeline(info.timeline.events)
        found = digest(resp, self, first=first, since=since, history_before=self._history_before)
        for invitation in found.invitations:
            await self._answer(invitation)
        for room in found.rooms:
            older = [] if room.gap is None else neutral_events(
                self, room.room_id, await self._gap(room.gap), self._history_before)
            for event in older + room.events:
                await self._dispatch(room.room_id, event)

    async def _gap(self, gap: Gap) -> list[dict[str, Any]]:
        """The events between the previous sync and a limited timeline's start, oldest
        first; at most GAP_PAGES pages, then the rest is logged as skipped."""
        older: list[dict[str, Any]] = []
        token = gap.start
        for _ in range(GAP_PAGES):
            page = await self.session.call("messages", functools.partial(
                self._c.room_messages, gap.room_id, token, end=gap.since,
                direction=MessageDirection.back, limit=GAP_PAGE_SIZE))
            if not isinstance(page, RoomMessagesResponse):
                log.warning("a room's timeline has a gap that could not be fetched")
                break
            older += sources(await self.screen.timeline(page.chunk))
            if not page.chunk or not page.end or page.end == token:
                break
            token = page.end
        else:
            log.warning("a room's timeline gap was longer than %d events; older ones skipped",
                        GAP_PAGES * GAP_PAGE_SIZE)
        older.reverse()
        return older

    async def _dispatch(self, room_id: str, event: Event) -> None:
        if isinstance(event, Command) and event.room.direct:
            self.direct.remember(event.user.id, room_id)
        assert self._handle is not None
        try:
            await self._handle(event)
        except Exception as exc:
            log.error("the handler failed on a %s (%s)", type(event).__name__, fault(exc),
                      exc_info=trace(exc))

    def neutral_room(self, room_id: str, thread: str | None = None) -> Room:
        room = self._c.rooms.get(room_id)
        return Room("matrix", room_id, thread,
                    direct=room is not None and self.direct.is_direct(room))

    def may_invite(self, inviter: str, room_id: str) -> bool:
        return may_invite(self.config, inviter, room_id)

    async def _answer(self, invitation: Invitation) -> None:
        room_id = invitation.room_id
        if not invitation.accept:
            log.info("declined an invitation that the config does not allow")
            await self.session.call("decline invitation", lambda: self._c.room_leave(room_id))
            return
        resp = await self.session.call("join", lambda: self._c.join(room_id))
        if isinstance(resp, ErrorResponse) or resp is None:
            log.warning(
                "could not join a room on invitation (%s)", getattr(resp, "status_code", "gave up")
            )
            return
        log.info("joined a room on invitation")
        if invitation.direct:
            await self.direct.mark(invitation.inviter, room_id)

    async def display_name(self, user: User) -> str | None:
        """The person's display name from their profile, asked each time a signature
        block is sent: never cached or stored (None when the profile cannot be had)."""
        if self.client is None:
            return None
        resp = await self.session.call("profile", lambda: self._c.get_displayname(user.id),
                                       deadline=10)
        return resp.displayname if isinstance(resp, ProfileGetDisplayNameResponse) else None

    # --- sending: one sender per reply type ---

    async def send(self, reply: Reply) -> str | None:
        sender = self._senders.get(type(reply))
        if sender is None:
            log.error("Matrix cannot send a %s", type(reply).__name__)
            return None
        try:
            return await sender(self, reply)
        except Exception as exc:  # send never raises for a platform fault
            log.warning("could not send a %s (%s)", type(reply).__name__, fault(exc),
                        exc_info=trace(exc))
        return None

    async def _post(self, reply: Post) -> str | None:
        plain, rich = render(reply.body)
        content = notice(plain, rich)
        if reply.room.thread:
            content["m.relates_to"] = {"rel_type": "m.thread", "event_id": reply.room.thread}
        return await self._room_send(reply.room.id, content, "room message")

    async def _edit(self, reply: Edit) -> str | None:
        plain, rich = render(reply.body)
        sent = await self._room_send(
            reply.room.id, edit_content(reply.message_ref, plain, rich), "edit"
        )
        return reply.message_ref if sent else None

    async def _redact(self, reply: Redact) -> str | None:
        resp = await self.session.call(
            "redaction",
            lambda: self._c.room_redact(reply.room.id, reply.event_ref, reason=reply.reason),
        )
        if isinstance(resp, ErrorResponse):
            log.info("could not redact an event (%s)", resp.status_code)
        return None

    async def _private(self, reply: Private) -> str | None:
        room_id = await self.direct.room_for(reply.user.id)
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

    async def _tell(self, user_id: str, text: str) -> None:
        await self._private(Private(User("matrix", user_id), (text,)))

    _senders: Mapping[type, Callable[[MatrixAdapter, Any], Awaitable[str | None]]] = {
        Post: _post,
        Edit: _edit,
        Private: _private,
        Redact: _redact,
    }

    async def _room_send(self, room_id: str, content: dict[str, Any], what: str) -> str | None:
        c = self._c
        if c.olm is not None and room_id not in c.rooms:
            await self._wait_for_room(room_id)
        room = c.rooms.get(room_id)
        if c.olm is not None and room is not None and room.encrypted:
            await self.session.query_keys()
            await self.trust.screen(room)
        tx = str(uuid.uuid4())  # one transaction id for every retry: the server de-duplicates
        resp = await self.session.call(
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


__all__ = ["SYNC_POSITION", "MatrixAdapter"]
