"""Timers: APScheduler 3 with a memory job store, every job derived from our own tables.

SQLite stays the one source of truth. ``plan`` reads what is due when — each review or
reminder row at its ``next_at``, each open letter at its deadline — and ``sync`` makes the
scheduler's jobs match it: at start, and whenever the core says a transaction changed a
timer. Nothing is pickled, so nothing can disagree with the store after a crash.

A job only hands the core a ``Due`` event. Its id is derived from the row and its due
time (``schedule:7:2026-12-01T09:00:00.000000Z``), and the core records event ids in the
same transaction as the change they cause, so a due time fires at most once however often
a job runs, and also across restarts. A row that fell due while the bot was down is fired
at start (``catch_up``); the core decides whether it is within the grace period.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger

from bot.backup import backup, daily_name, rotate_backups
from bot.config import Config
from bot.events import Due, Event
from bot.logsafe import fault, trace
from bot.model import utc_iso_exact
from bot.observe import Observer
from bot.store import Store

log = logging.getLogger("undersign.scheduler")
# APScheduler names jobs and times at INFO; ours say what is needed, without content.
logging.getLogger("apscheduler").setLevel(logging.WARNING)

AT_PREFIX = "at:"
PURGE_EVERY = timedelta(days=1)
FIRST_PURGE_AFTER = timedelta(minutes=1)
FIRST_BACKUP_AFTER = timedelta(minutes=5)
STOP_WAIT_SECONDS = 5.0


@dataclass(frozen=True)
class Planned:
    """One timer the store asks for: a job id, when, and the event to hand the core."""

    job_id: str
    at: datetime
    event: Due


async def plan(store: Store) -> list[Planned]:
    """Every timer the store asks for, soonest first."""
    async with store.transaction() as tx:
        rows = await tx.schedules()
        letters = await tx.open_letters_with_deadlines()
    planned = [
        Planned(f"schedule:{row.id}", row.next_at,
                Due(f"schedule:{row.id}:{utc_iso_exact(row.next_at)}", "schedule", row.id))
        for row in rows
    ]
    planned += [
        Planned(f"deadline:{letter.id}", letter.deadline,
                Due(f"deadline:{letter.id}:{utc_iso_exact(letter.deadline)}", "deadline",
                    letter.id))
        for letter in letters if letter.deadline is not None
    ]
    return sorted(planned, key=lambda p: (p.at, p.job_id))


Handle = Callable[[Event], Coroutine[Any, Any, None]]


class Scheduler:
    """The bot's timers. ``start`` catches up on what fell due while it was down, then arms
    a job per planned timer, the count refresh and the daily purge."""

    def __init__(self, config: Config, store: Store, handle: Handle,
                 clock: Callable[[], datetime]) -> None:
        self.config = config
        self.store = store
        self.handle = handle
        self.clock = clock
        self._aps = AsyncIOScheduler(
            timezone=UTC,
            # Our rows say when; APScheduler must never drop a late run on its own.
            job_defaults={"coalesce": True, "misfire_grace_time": None, "max_instances": 1},
        )
        self._sync_lock = asyncio.Lock()
        self._sync_wanted = False
        self._firing_batches = 0
        self._firing: set[asyncio.Task[None]] = set()
        self.started = False
        self.observer = Observer()

    async def start(self) -> None:
        fired = await self.catch_up()
        self._aps.start()
        self.started = True
        self._aps.add_job(
            self._refresh_counts, IntervalTrigger(minutes=self.config.bot.count_refresh_minutes),
            id="refresh-counts",
        )
        self._aps.add_job(self._purge, IntervalTrigger(seconds=PURGE_EVERY.total_seconds()),
                          id="purge", next_run_time=self.clock() + FIRST_PURGE_AFTER)
        if self.config.bot.backup_dir:
            self._aps.add_job(self._backup, IntervalTrigger(days=1), id="backup",
                              next_run_time=self.clock() + FIRST_BACKUP_AFTER)
        armed = await self.sync()
        log.info("scheduler started: %d timer(s) caught up, %d armed", fired, armed)

    async def catch_up(self) -> int:
        """Hand the core every timer already due by the clock, oldest first (at start, the
        ones that fell due while the bot was down; in tests, after moving the clock)."""
        count = 0
        for planned in await plan(self.store):
            if planned.at > self.clock():
                break
            await self.handle(planned.event)
            count += 1
        return count

    async def sync(self) -> int:
        """Make the jobs match the store: add, move or remove; return how many are armed.

        Many timers due together each ask for a sync as they fire. A sync reads every
        planned timer, so they are coalesced: a request that finds a sync or a batch of
        firings under way leaves it to that one, which syncs once more when it is done,
        and returns at once (answering 0)."""
        if not self.started:
            return 0
        self._sync_wanted = True
        if self._sync_lock.locked() or self._firing_batches:
            return 0
        armed = 0
        async with self._sync_lock:
            while self._sync_wanted:
                self._sync_wanted = False
                armed = await self._sync_once()
        return armed

    async def _sync_once(self) -> int:
        """One job per instant, carrying every timer due then: APScheduler's own work on a
        wake-up grows with the jobs it runs, so a hundred reminders due in one second are
        one job, fired in order, not a hundred."""
        planned = await plan(self.store)
        instants: dict[datetime, list[Due]] = {}
        for timer in planned:
            instants.setdefault(timer.at, []).append(timer.event)
        wanted = {f"{AT_PREFIX}{utc_iso_exact(at)}": (at, tuple(events))
                  for at, events in instants.items()}
        for job in self._aps.get_jobs():
            if job.id.startswith(AT_PREFIX) and job.id not in wanted:
                job.remove()
        for job_id, (at, events) in wanted.items():
            job = self._aps.get_job(job_id)
            if job is not None and job.args == (events,):
                continue
            self._aps.add_job(self._fire, DateTrigger(run_date=at), args=(events,),
                              kwargs={"due": at}, id=job_id, replace_existing=True)
        return len(planned)

    async def _fire(self, events: tuple[Due, ...], due: datetime | None = None) -> None:
        """Run the events in a task of our own, so that stopping waits for a firing under
        way instead of cancelling it between its commit and its message."""
        if due is not None:
            self.observer.timer((self.clock() - due).total_seconds())
        task = asyncio.create_task(self._fire_in_order(events), name="due")
        self._firing.add(task)
        task.add_done_callback(self._firing.discard)

    async def _fire_in_order(self, events: tuple[Due, ...]) -> None:
        self._firing_batches += 1
        try:
            for event in events:
                await self.handle(event)
        finally:
            self._firing_batches -= 1
        if self._sync_wanted and not self._firing_batches:
            await self.sync()

    async def _refresh_counts(self) -> None:
        await self._fire((Due(f"refresh-counts:{uuid.uuid4()}", "refresh-counts"),))

    async def _purge(self) -> None:
        try:
            letters, events = await self.store.purge(self.clock(),
                                                     self.config.bot.retention_days)
        except Exception as exc:
            log.error("the retention purge failed (%s); it is tried again tomorrow", fault(exc),
                      exc_info=trace(exc))
            return
        log.info("purged %d closed letter(s) and %d old event record(s)", letters, events)

    async def _backup(self) -> None:
        """The daily backup, made off the event loop (SQLite's backup API blocks), then the
        oldest beyond ``backup_keep`` removed. A failure is logged and tried tomorrow."""
        assert self.config.bot.backup_dir is not None
        folder = self.config.path(self.config.bot.backup_dir)
        try:
            made = await asyncio.to_thread(
                backup, self.config.database_path, folder / daily_name(self.clock()),
                self.store.sealer)
            removed = await asyncio.to_thread(rotate_backups, folder,
                                              self.config.bot.backup_keep)
        except Exception as exc:
            log.error("the daily backup failed (%s); it is tried again tomorrow", fault(exc),
                      exc_info=trace(exc))
            return
        log.info("daily backup made (%d letter(s)); %d old backup(s) removed", made.letters,
                 len(removed))

    @property
    def running(self) -> bool:
        return self.started and bool(self._aps.running)

    def next_runs(self) -> dict[str, datetime]:
        """Armed timers (``schedule:<id>``, ``deadline:<id>``, ``refresh-counts``, ``purge``)
        and when they run next, for tests and diagnostics."""
        runs: dict[str, datetime] = {}
        for job in self._aps.get_jobs():
            if job.id.startswith(AT_PREFIX):
                runs.update({f"{event.kind}:{event.target}": job.next_run_time
                             for event in job.args[0]})
            else:
                runs[job.id] = job.next_run_time
        return runs

    async def stop(self) -> None:
        if self.started:
            self._aps.shutdown(wait=False)
            self.started = False
        if self._firing:
            await asyncio.wait(set(self._firing), timeout=STOP_WAIT_SECONDS)
