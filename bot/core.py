"""The core: a neutral event in, replies out, with the store changed in one transaction.

Nothing here awaits a network call, and nothing here knows a command or a platform: the
composition root (bot.app) hands the core its registry of commands (bot.registry) and the
words of each platform (bot.platform). Each event's id is recorded in the same
transaction as the change it causes, so a redelivered event changes nothing and says
nothing. A refused command's transaction is rolled back whole and its event recorded on
its own (refusals are rare; a savepoint on every command cost two round trips to
SQLite), and it is answered privately with its usage.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from bot.config import Config
from bot.context import SYSTEM, Context, RoomContext
from bot.events import Command, Due, Event, Private, Reaction, Reply, Room, Said
from bot.limits import RateLimits
from bot.model import Letter, Scheduled
from bot.platform import PlatformWords
from bot.registry import (
    AnySpec,
    LetterSpec,
    MaybeLetterSpec,
    PlainSpec,
    Registry,
    ReminderSpec,
    Role,
)
from bot.store import Store, storage_fault
from bot.syntax import Token, UsageError, letter_id, reminder_id, shorten, tokenize
from bot.timeparse import TimeError
from bot.tx import Tx

log = logging.getLogger("undersign.core")


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Outcome:
    """What one event produced: replies to send after the transaction committed."""

    replies: list[Reply] = field(default_factory=list)
    erased: bool = False
    timers_changed: bool = False  # reviews, reminders or deadlines changed: re-arm the jobs


class Refused(Exception):
    """A command was refused: its transaction is undone and only this reply is sent."""

    def __init__(self, reply: Private) -> None:
        super().__init__("refused")
        self.reply = reply


class Core:
    def __init__(self, config: Config, store: Store, registry: Registry,
                 platforms: Mapping[str, PlatformWords],
                 clock: Callable[[], datetime] = utc_now) -> None:
        self.config = config
        self.store = store
        self.registry = registry
        self.platforms = platforms
        self.clock = clock
        self.limits = RateLimits(config.bot)

    def _room_context(self, tx: Tx, event: Command | Reaction) -> RoomContext:
        ctx = RoomContext(tx=tx, config=self.config, now=self.clock(), user=event.user,
                          room=event.room, tz=self.config.bot.timezone,
                          platforms=self.platforms, commands=self.registry.commands)
        ctx.standing = event.standing
        if isinstance(event, Command):
            ctx.tz = event.tz or ctx.tz
            ctx.seen_by_room = event.seen_by_room
            ctx.message_ref = event.message_ref
        return ctx

    def _system_context(self, tx: Tx) -> Context:
        return Context(tx=tx, config=self.config, now=self.clock(), user=SYSTEM, room=None,
                       tz=self.config.bot.timezone, platforms=self.platforms,
                       commands=self.registry.commands)

    async def dispatch(self, event: Event) -> Outcome:
        try:
            return await self._dispatch(event)
        except Exception as exc:
            if not (storage_fault(exc) and isinstance(event, Command)
                    and self._reads_only(event.text)):
                raise
            log.warning("the database refuses writes (%s); a read is answered without "
                        "recording its event", type(exc).__name__)
        async with self.store.reading() as tx:
            ctx = self._room_context(tx, event)
            try:
                await self._command(ctx, event.text)
            except Refused as refused:
                return Outcome([refused.reply])
            return Outcome(ctx.replies)

    def _reads_only(self, text: str) -> bool:
        words = text.split(maxsplit=1) or ["help"]
        spec = self.registry.get(words[0].lower())
        return spec is not None and spec.reads_only

    async def _dispatch(self, event: Event) -> Outcome:
        try:
            return await self._change(event)
        except Refused as refused:
            # The refused command's changes went with its transaction; its event is
            # recorded on its own, so that a redelivery is not answered twice.
            async with self.store.transaction(write_first=True) as tx:
                if not await tx.first_sighting(event.event_id, self.clock()):
                    return Outcome()
            return Outcome([refused.reply])

    async def _change(self, event: Event) -> Outcome:
        """The event's whole effect, and the record of its id, in one transaction. A
        refusal (Refused) rolls all of it back."""
        async with self.store.transaction(write_first=True) as tx:
            if not await tx.first_sighting(event.event_id, self.clock()):
                return Outcome()
            ctx: Context
            if isinstance(event, Command):
                ctx = self._room_context(tx, event)
                await self._command(ctx, event.text)
            elif isinstance(event, Reaction):
                ctx = self._room_context(tx, event)
                for react in self.registry.reactions:
                    await react(ctx, event)
            else:
                ctx = self._system_context(tx)
                await self._due(ctx, event)
            return Outcome(ctx.replies, ctx.erased, tx.timers_changed)

    async def _command(self, ctx: RoomContext, text: str) -> None:
        spec: AnySpec | None = None
        try:
            words = text.split(maxsplit=1) or ["help"]
            spec = self.registry.get(words[0].lower())
            if spec is None:
                raise UsageError(f"I don't know '{shorten(words[0])}'.")
            args = tokenize(words[1] if len(words) > 1 else "")
            if spec.not_in_direct is not None and ctx.room.direct:
                raise UsageError(spec.not_in_direct)
            problem = self.limits.problem(ctx.user.key, spec.name, spec.limit, ctx.now)
            if problem is not None:
                raise UsageError(problem)
            await self._run(ctx, spec, args)
            self.limits.note(ctx.user.key, spec.limit, ctx.now)
        except (UsageError, TimeError) as err:
            # A time that cannot be read is a usage error like any other (said once, here).
            problem = err.problem if isinstance(err, UsageError) else str(err)
            prefix = ctx.words().prefix
            usage = (
                f"Usage: {prefix} {spec.usage}" if spec is not None
                else f"Type {prefix} help for the list of commands."
            )
            # A problem may quote what the user typed: it is rendered as user text.
            raise Refused(Private(ctx.user, (Said(problem), f"\n{usage}"), ctx.room,
                                  refused=problem)) from None

    async def _run(self, ctx: RoomContext, spec: AnySpec, args: list[Token]) -> None:
        """Resolve what the command declares it takes, check its role, and run it."""
        if isinstance(spec, PlainSpec) and spec.run is not None:
            await spec.run(ctx, args)
        elif isinstance(spec, LetterSpec) and spec.run is not None:
            letter = await self._letter(ctx, args[0] if args else None, spec.role)
            await spec.run(ctx, letter, args[1:])
        elif isinstance(spec, MaybeLetterSpec) and spec.run is not None:
            maybe = await self._letter(ctx, args[0], spec.role) if args else None
            await spec.run(ctx, maybe, args[1:])
        elif isinstance(spec, ReminderSpec) and spec.run is not None:
            reminder = await self._reminder(ctx, args[0] if args else None, spec.role)
            await spec.run(ctx, reminder, args[1:])

    async def _letter(self, ctx: RoomContext, token: Token | None, role: Role) -> Letter:
        number = letter_id(token)
        unknown = f"There is no letter L{number}."
        letter = await ctx.tx.letter(number)
        if letter is None:
            raise UsageError(unknown)
        ctx.letter = letter
        await self._authorize(ctx, letter.id, role, unknown)
        return letter

    async def _reminder(self, ctx: RoomContext, token: Token | None, role: Role) -> Scheduled:
        """An R<n> argument: its letter decides who may act on it."""
        number = reminder_id(token)
        unknown = f"There is no review or reminder R{number}."
        reminder = await ctx.tx.schedule(number)
        if reminder is None:
            raise UsageError(unknown)
        await self._authorize(ctx, reminder.letter_id, role, unknown)
        return reminder

    @staticmethod
    async def _authorize(ctx: RoomContext, letter_id: int, role: Role, unknown: str) -> None:
        """The one place where a command's declared role is enforced. (Commands open to
        anyone do not pay for the look-up; those that care ask ``ctx.organizes_letter()``.)

        Where the caller may not see the letter (see ``Context.sees``) they are answered
        exactly as for a letter that does not exist (``unknown``): a refusal naming it
        would tell them it exists."""
        if role == "anyone":
            return
        ctx.is_organizer = await ctx.tx.is_organizer(letter_id, ctx.user) or ctx.is_admin
        if ctx.is_organizer:
            return
        if not await ctx.sees(letter_id):
            raise UsageError(unknown)
        if role == "organizer":
            raise UsageError(f"Only the organizers of L{letter_id} can do that.")

    async def _due(self, ctx: Context, event: Due) -> None:
        """The scheduler's events, each to the handler declared for its kind."""
        handler = self.registry.dues.get(event.kind)
        if handler is not None:
            await handler(ctx, event.target)

    async def refresh_counts(self) -> list[Reply]:
        """The count refresh, run now (tests and benchmarks; the scheduler sends a Due)."""
        async with self.store.transaction() as tx:
            ctx = self._system_context(tx)
            await self._due(ctx, Due("", "refresh-counts"))
            return ctx.replies

    async def announced(self, letter_id: int, room: Room, message_ref: str) -> None:
        """The adapter posted an announcement: remember where, to edit it in place later."""
        async with self.store.transaction() as tx:
            await tx.set_announcement_ref(letter_id, room.unthreaded(), message_ref)
