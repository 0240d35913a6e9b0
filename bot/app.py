"""Wiring and lifecycle: config → store → core → adapters → scheduler, and the road replies
travel.

Adapters hand every event to ``App.handle``; the core answers after its transaction has
committed; ``App.deliver`` routes each reply to the adapter of its platform (so a
signature on Slack also updates the letter's announcement on Matrix). A fault in one
event is logged — without user ids or text — and never stops the bot.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import signal
import time
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

import commands
from adapters import console, matrix_translate, slack_translate
from adapters.base import Adapter
from bot.config import Config
from bot.core import Core, utc_now
from bot.events import (
    Command,
    Due,
    Event,
    Post,
    Private,
    Reaction,
    Redact,
    Reply,
    Roster,
    User,
)
from bot.keys import DatabaseLock, open_store
from bot.logsafe import fault, trace
from bot.observe import Observer
from bot.platform import PlatformWords
from bot.scheduler import Scheduler
from bot.store import Store, storage_fault

if TYPE_CHECKING:
    from bot.ops import Ops

log = logging.getLogger("undersign")

EVENT_KINDS = {Command: "command", Reaction: "reaction", Due: "timer"}

STORAGE_FAULT_ANSWER = (
    "I cannot save anything right now: my database is read-only or full. Nothing was "
    "changed, so please try again later. Reading still works: status, list, help, privacy."
)


def platforms(config: Config) -> dict[str, PlatformWords]:
    """Every platform's words, whichever adapters run: one letter is announced on several,
    so its announcement is written for each (the adapter modules named here import no
    platform library)."""
    return {"console": console.words(), "slack": slack_translate.words(config),
            "matrix": matrix_translate.words(config.matrix)}


class App:
    def __init__(self, config: Config, *, clock: Callable[[], datetime] = utc_now) -> None:
        self.config = config
        self.clock = clock
        self.adapters: dict[str, Adapter] = {}
        self._store: Store | None = None
        self._core: Core | None = None
        self._scheduler: Scheduler | None = None
        self._lock: DatabaseLock | None = None
        self.observer = Observer()  # bot.ops.Metrics when [ops] listen is set
        self._ops: Ops | None = None
        self.stopping = asyncio.Event()

    @property
    def store(self) -> Store:
        assert self._store is not None, "App.open() first"
        return self._store

    @property
    def core(self) -> Core:
        assert self._core is not None, "App.open() first"
        return self._core

    @property
    def scheduler(self) -> Scheduler:
        assert self._scheduler is not None, "App.open() first"
        return self._scheduler

    async def open(self, *, create_key: bool = True) -> None:
        """Open the store under its key; ``create_key=False`` (maintenance commands) never
        makes a key file, so a missing key is reported instead of replaced."""
        path = self.config.database_path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = DatabaseLock(path)
        self._lock.acquire(exclusive=False)
        try:
            self._store = await open_store(path, create_key=create_key)
        except BaseException:
            self._lock.release()
            raise
        self._core = Core(self.config, self._store, commands.registry(), platforms(self.config),
                          self.clock)
        self._scheduler = Scheduler(self.config, self._store, self.handle, self.clock)

    def add_adapter(self, adapter: Adapter) -> None:
        self.adapters[adapter.platform] = adapter

    def build_adapters(self) -> None:
        """The adapters the config enables — importing only their libraries — or the console."""
        if self.config.slack.enabled:
            from adapters.slack import SlackAdapter

            self.add_adapter(SlackAdapter(self.config.slack, self.config.bot))
        if self.config.matrix.enabled:
            from adapters.matrix import MatrixAdapter

            self.add_adapter(MatrixAdapter(
                self.config.matrix, self.config.bot, self.store,
                store_path=self.config.path(self.config.matrix.store_path)))
        if not self.adapters:
            from adapters.console import ConsoleAdapter

            self.add_adapter(ConsoleAdapter(self.store))

    async def handle(self, event: Event) -> None:
        started = time.perf_counter()
        kind = EVENT_KINDS[type(event)]
        platform = "system" if isinstance(event, Due) else event.user.platform
        try:
            await self._handle(event)
        except BaseException:
            self.observer.event(kind, platform, time.perf_counter() - started, False)
            raise
        self.observer.event(kind, platform, time.perf_counter() - started, True)

    async def _handle(self, event: Event) -> None:
        try:
            outcome = await self.core.dispatch(event)
        except Exception as exc:
            if storage_fault(exc):
                log.error("the database refuses writes (%s); an event of kind %s was not "
                          "handled", fault(exc), type(event).__name__, exc_info=trace(exc))
                answer = STORAGE_FAULT_ANSWER
            else:
                log.error("an event of kind %s could not be handled (%s)", type(event).__name__,
                          fault(exc), exc_info=trace(exc))
                answer = "Something went wrong on my side; nothing was changed. Please try again."
            if isinstance(event, Command | Reaction):
                await self.deliver([Private(event.user, (answer,), event.room)])
            return
        if outcome.erased:
            await self.store.checkpoint()
        await self.deliver(outcome.replies)
        if outcome.timers_changed:
            await self.scheduler.sync()

    async def deliver(self, replies: list[Reply]) -> None:
        names: dict[User, str] = {}  # display names, for this delivery only
        for reply in replies:
            reply = await self._named(reply, names)
            adapter = self.adapters.get(reply.platform)
            if adapter is None:
                log.warning("no %s adapter is running; a %s was not sent",
                            reply.platform, type(reply).__name__)
                continue
            try:
                ref = await adapter.send(reply)
            except Exception as exc:
                log.error("a %s could not be sent on %s (%s)", type(reply).__name__,
                          reply.platform, fault(exc), exc_info=trace(exc))
                self.observer.reply(reply.platform, False)
                continue
            self.observer.reply(reply.platform, True)
            if isinstance(reply, Post) and reply.announces is not None and ref:
                await self.core.announced(reply.announces, reply.room, ref)

    async def _named(self, reply: Reply, names: dict[User, str]) -> Reply:
        """The reply with each signature block's names filled in and sorted. Display names
        are the platforms' to know: each signer's adapter is asked now, and the names live
        only in this delivery (never stored, never logged); where one cannot be had, the
        user id stands in."""
        if isinstance(reply, Redact) or not any(isinstance(s, Roster) for s in reply.body):
            return reply
        for seg in reply.body:
            if isinstance(seg, Roster):
                for entry in seg.entries:
                    if entry.line is None and entry.user not in names:
                        names[entry.user] = await self._display_name(entry.user)
        body = tuple(part for seg in reply.body
                     for part in (seg.lines(names) if isinstance(seg, Roster) else (seg,)))
        return dataclasses.replace(reply, body=body)

    async def _display_name(self, user: User) -> str:
        adapter = self.adapters.get(user.platform)
        if adapter is None:
            return user.id
        try:
            name = await adapter.display_name(user)
        except Exception as exc:
            log.warning("a display name could not be had on %s (%s)", user.platform,
                        fault(exc), exc_info=trace(exc))
            return user.id
        return name.strip() if name and name.strip() else user.id

    async def run(self) -> None:
        """Start everything, run until a signal or the console's end of input, stop cleanly."""
        await self.open()
        try:
            self.build_adapters()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGTERM, signal.SIGINT):
                with contextlib.suppress(NotImplementedError, RuntimeError):
                    loop.add_signal_handler(sig, self.stopping.set)
            log.info("Undersign is starting (%s)", ", ".join(self.adapters))
            await self.start_adapters()
            await self.scheduler.start()
            if self.config.ops.listen:
                await self.start_ops(*self.config.ops.address)
            waits = [asyncio.create_task(self.stopping.wait())]
            for adapter in self.adapters.values():
                finished = getattr(adapter, "finished", None)
                if isinstance(finished, asyncio.Event):
                    waits.append(asyncio.create_task(finished.wait()))
            _, pending = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            for task in pending:
                task.cancel()
        finally:
            await self.close()

    async def start_adapters(self) -> None:
        """Start every adapter at once: each one's round trips (a Matrix login and sync,
        Slack's auth.test and Socket Mode link) need nothing from another's. If one fails,
        the others' starts are cancelled and its exception is raised as it was (``run``
        then closes everything)."""
        starts = [asyncio.create_task(adapter.start(self.handle), name=f"{name}-start")
                  for name, adapter in self.adapters.items()]
        try:
            await asyncio.gather(*starts)
        except BaseException:
            for task in starts:
                task.cancel()
            await asyncio.gather(*starts, return_exceptions=True)
            raise

    async def start_ops(self, host: str, port: int) -> Ops:
        """``/healthz`` and ``/metrics`` (bot/ops.py), counting from now on."""
        from bot.ops import Metrics, Ops

        metrics = Metrics(self.adapters)
        self.observer = self.scheduler.observer = metrics
        self._ops = Ops(self, metrics)
        await self._ops.start(host, port)
        return self._ops

    async def close(self) -> None:
        self.stopping.set()
        if self._ops is not None:
            await self._ops.stop()
            self._ops = None
        if self._scheduler is not None:
            await self._scheduler.stop()
        for adapter in self.adapters.values():
            with contextlib.suppress(Exception):
                await adapter.stop()
        if self._store is not None:
            await self._store.close()
            self._store = None
        if self._lock is not None:
            self._lock.release()
            self._lock = None
