"""The core: a neutral event in, replies out, with the store changed in one transaction.

Nothing here awaits a network call. Each event's id is recorded in the same transaction
as the change it causes, so a redelivered event changes nothing and says nothing. A
refused command's transaction is rolled back whole and its event recorded on its own
(refusals are rare; a savepoint on every command cost two round trips to SQLite), and it
is answered privately with its usage.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import commands.help
import commands.letters
import commands.privacy
import commands.schedule
import commands.signing
from bot.config import Config
from bot.events import Command, Due, Event, Private, Reaction, Reply, Room, Said, User
from bot.limits import RateLimits
from bot.store import Store, storage_fault
from bot.tx import Tx
from commands import render
from commands.base import REGISTRY, Context
from commands.parser import Token, UsageError, letter_id, reminder_id, shorten, tokenize

SYSTEM = User("undersign", "scheduler")
log = logging.getLogger("undersign.core")


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Outcome:
    replies: list[Reply] = field(default_factory=list)
    erased: bool = False
    timers_changed: bool = False  # reviews, reminders or deadlines changed: re-arm the jobs


class Refused(Exception):
    """A command was refused: its transaction is undone and only this reply is sent."""

    def __init__(self, reply: Private) -> None:
        super().__init__("refused")
        self.reply = reply


class Core:
    def __init__(self, config: Config, store: Store,
                 clock: Callable[[], datetime] = utc_now) -> None:
        self.config = config
        self.store = store
        self.clock = clock
        self.limits = RateLimits(config.bot)

    def _context(self, tx: Tx, user: User, room: Room | None, tz: str | None = None) -> Context:
        return Context(tx=tx, config=self.config, now=self.clock(), user=user, room=room,
                       tz=tz or self.config.bot.timezone)

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
            ctx = self._context(tx, event.user, event.room, event.tz)
            ctx.seen_by_room = event.seen_by_room
            ctx.message_ref = event.message_ref
            try:
                await self._command(ctx, event.text)
            except Refused as refused:
                return Outcome([refused.reply])
            return Outcome(ctx.replies)

    @staticmethod
    def _reads_only(text: str) -> bool:
        words = text.split(maxsplit=1) or ["help"]
        spec = REGISTRY.get(words[0].lower())
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
            if isinstance(event, Command):
                ctx = self._context(tx, event.user, event.room, event.tz)
                ctx.seen_by_room = event.seen_by_room
                ctx.message_ref = event.message_ref
                await self._command(ctx, event.text)
            elif isinstance(event, Reaction):
                ctx = self._context(tx, event.user, event.room)
                await commands.signing.react(ctx, event)
            else:
                ctx = self._context(tx, SYSTEM, None)
                await self._due(ctx, event)
            return Outcome(ctx.replies, ctx.erased, tx.timers_changed)

    async def _command(self, ctx: Context, text: str) -> None:
        spec = None
        try:
            words = text.split(maxsplit=1) or ["help"]
            spec = REGISTRY.get(words[0].lower())
            if spec is None:
                raise UsageError(f"I don't know '{shorten(words[0])}'.")
            args = tokenize(words[1] if len(words) > 1 else "")
            if spec.not_in_direct is not None and ctx.room is not None and ctx.room.direct:
                raise UsageError(spec.not_in_direct)
            if spec.takes_letter and (args or not spec.letter_optional):
                await self._resolve_letter(ctx, args[0] if args else None, spec.role)
                args = args[1:]
            elif spec.takes_reminder:
                await self._resolve_reminder(ctx, args[0] if args else None, spec.role)
                args = args[1:]
            problem = self.limits.problem(ctx.user.key, spec.name, ctx.now)
            if problem is not None:
                raise UsageError(problem)
            await spec.run(ctx, args)
            self.limits.note(ctx.user.key, spec.name, ctx.now)
        except UsageError as err:
            prefix = render.prefix(self.config, ctx.user.platform)
            usage = (
                f"Usage: {prefix} {spec.usage}" if spec is not None
                else f"Type {prefix} help for the list of commands."
            )
            # A problem may quote what the user typed: it is rendered as user text.
            raise Refused(Private(ctx.user, (Said(err.problem), f"\n{usage}"), ctx.room)) from None

    async def _resolve_letter(self, ctx: Context, token: Token | None, role: str) -> None:
        number = letter_id(token)
        unknown = f"There is no letter L{number}."
        letter = await ctx.tx.letter(number)
        if letter is None:
            raise UsageError(unknown)
        ctx.letter = letter
        await self._authorize(ctx, letter.id, role, unknown)

    async def _resolve_reminder(self, ctx: Context, token: Token | None, role: str) -> None:
        """An R<n> argument: its letter decides who may act on it."""
        number = reminder_id(token)
        unknown = f"There is no review or reminder R{number}."
        reminder = await ctx.tx.schedule(number)
        if reminder is None:
            raise UsageError(unknown)
        ctx.reminder = reminder
        await self._authorize(ctx, reminder.letter_id, role, unknown)

    @staticmethod
    async def _authorize(ctx: Context, letter_id: int, role: str, unknown: str) -> None:
        """The one place where a command's declared role is enforced. (Commands open to
        anyone do not pay for the look-up; those that care ask ``ctx.organizes()``.)

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
        """The scheduler's events: ``refresh-counts``, ``schedule:<id>``, ``deadline:<id>``."""
        kind, _, number = event.what.partition(":")
        if kind == "refresh-counts":
            await self._refresh_counts(ctx)
        elif kind == "schedule" and number.isdigit():
            await commands.schedule.fire(ctx, int(number))
        elif kind == "deadline" and number.isdigit():
            await commands.schedule.deadline(ctx, int(number))

    async def _refresh_counts(self, ctx: Context) -> None:
        """Bring the public count of letters that are not public up to date, on a timer,
        so that the moment somebody signed cannot be read from it. The shown count is
        kept up to date silently; an announcement is edited only when its text changes
        (not while it reads "fewer than 3", however many of the first two have signed).
        Letters signed since the last refresh get their rows rewritten in index order."""
        if await ctx.tx.reorder_signatures():
            ctx.erased = True  # fold the WAL: its frames hold the rows as first written
        for letter, live in await ctx.tx.stale_public_counts():
            await ctx.tx.set_shown_count(letter.id, live)
            await ctx.update_announcements(letter, before=letter)

    async def refresh_counts(self) -> list[Reply]:
        async with self.store.transaction() as tx:
            ctx = self._context(tx, SYSTEM, None)
            await self._refresh_counts(ctx)
            return ctx.replies

    async def announced(self, letter_id: int, room: Room, message_ref: str) -> None:
        """The adapter posted an announcement: remember where, to edit it in place later."""
        async with self.store.transaction() as tx:
            await tx.set_announcement_ref(letter_id, room.unthreaded(), message_ref)

