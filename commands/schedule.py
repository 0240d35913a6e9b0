"""Reviews and reminders: schedule, list, cancel, and what is said when one falls due.

A review or reminder is one row (R<n>) with the next moment it fires. When that moment
comes the scheduler hands the core a ``Due`` event and ``fire`` runs in the same
transaction that records the event: it speaks, then advances a recurring row (or a
review to its next heads-up) or deletes a spent one. A row that fell due while the bot
was down fires if it is at most ``grace_minutes`` late; later than that the organizers
are told privately that it was missed.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Final

from bot.context import Context, RoomContext
from bot.events import Post, Private, Said, Segment, Strong
from bot.model import Audience, Kind, Letter, Reminder, Repetition, Review, Scheduled
from bot.recurrence import Recurrence, parse_recurrence
from bot.registry import Router
from bot.syntax import Token, UsageError
from bot.timeparse import parse_when
from commands import render
from commands.letters import finish
from commands.parser import MAX_TEXT, clean_text, joined, no_more, split_options

router = Router()
HEADS_UPS: Final = (timedelta(hours=24), timedelta(hours=1))
# A running bot is never "late" by its own scheduling jitter, whatever grace_minutes says.
ON_TIME: Final = timedelta(seconds=30)


def _still_open(letter: Letter) -> None:
    if not letter.is_open:
        raise UsageError(f"{letter.ref} is closed; nothing more can be scheduled for it.")


async def _room_for_more(ctx: Context, letter: Letter) -> None:
    cap = ctx.config.bot.max_schedules_per_letter
    if len(await ctx.tx.schedules(letter.id)) >= cap:
        raise UsageError(f"{letter.ref} already has {cap} reviews and reminders, the most "
                         "allowed; cancel one first.")


def _when(tokens: list[Token], ctx: Context) -> datetime:
    if not tokens:
        raise UsageError("When? Try 'in 2 hours', 'tomorrow 9am' or '2026-12-01 15:00'.")
    return parse_when(joined(tokens), ctx.tz, ctx.now)


def review_stages(review_at: datetime) -> list[datetime]:
    """The heads-ups (24 h and 1 h before) and the review itself, in order."""
    return [review_at - ahead for ahead in HEADS_UPS] + [review_at]


@router.letter_command(
    "review", 'review L<n> WHEN [note "TEXT"]',
    "schedule a review, with heads-ups 24 h and 1 h before", order=70, role="organizer",
    limit="remind",
    not_in_direct="A review is announced in the room it is scheduled from, and this is a "
                  "direct room. Schedule it from a room where the letter is announced.")
async def review(ctx: RoomContext, letter: Letter, args: list[Token]) -> None:
    _still_open(letter)
    await _room_for_more(ctx, letter)
    when_tokens, options = split_options(args, {"note"})
    review_at = _when(when_tokens, ctx)
    note = clean_text(joined(options["note"]), what="note", limit=MAX_TEXT) \
        if "note" in options else None
    stages = [s for s in review_stages(review_at) if s > ctx.now]
    number = await ctx.tx.add_schedule(
        letter_id=letter.id, kind=Kind.REVIEW, next_at=stages[0], recurrence=None, tz=None,
        review_at=review_at, text=note, audience=Audience.ROOM, room=ctx.room.unthreaded(),
        now=ctx.now,
    )
    ahead = [f"{int(a.total_seconds() // 3600)} h" for a in HEADS_UPS if review_at - a > ctx.now]
    reply: list[Segment] = [
        f"Scheduled R{number}: a review of {letter.ref} at {render.when(review_at, ctx.tz)}, "
        "announced in this room",
        f", with heads-ups {' and '.join(ahead)} before." if ahead else ".",
    ]
    if note:
        reply += [" Note: ", Said(note)]
    reply.append(f"\nTo cancel: cancel R{number}.")
    ctx.tell(*reply)


@router.letter_command(
    "remind", 'remind L<n> WHEN|"WHEN"|every RECURRENCE "TEXT" [to room|signers|organizers]',
    "a reminder, once or repeated, to the room, the signers or the organizers", order=80,
    role="organizer", limit="remind")
async def remind(ctx: RoomContext, letter: Letter, args: list[Token]) -> None:
    _still_open(letter)
    await _room_for_more(ctx, letter)
    repeated = bool(args) and args[0].word == "every"
    rest = args[1:] if repeated else args
    # In `every cron "0 9 * * 1-5" "TEXT"` the first quoted part is the cron itself; in
    # `"in 4 hours" "TEXT"` it is WHEN.
    first = 2 if repeated and len(rest) > 1 and rest[0].word == "cron" and rest[1].quoted else 0
    if not repeated and len(rest) > 1 and rest[0].quoted and any(t.quoted for t in rest[1:]):
        first = 1
    quoted = next((i for i in range(first, len(rest)) if rest[i].quoted), None)
    if quoted is None:
        raise UsageError('Put the reminder text in quotes, like "Sign before Friday!".')
    timing, text_token, tail = rest[:quoted], rest[quoted], rest[quoted + 1:]
    text = clean_text(text_token.text, what="reminder text", limit=MAX_TEXT)
    audience = Audience.ROOM
    if tail:
        if len(tail) != 2 or tail[0].word != "to" or tail[1].word not in set(Audience):
            raise UsageError("After the text, say to room, to signers or to organizers.")
        audience = Audience(tail[1].word)
    if audience is Audience.ROOM and ctx.room.direct:
        raise UsageError(
            "A reminder to the room would be posted here, in a direct room. Schedule it from "
            "a room where the letter is announced, or send it to signers or organizers."
        )
    if audience is Audience.SIGNERS and letter.is_sealed:
        raise UsageError(
            f"{letter.ref} is sealed: a message to each signer would show the platform who "
            "signed. Remind the room instead."
        )
    recurrence: Recurrence | None = None
    if repeated:
        if not timing:
            raise UsageError("How often? Try 'every day at 9:00' or 'every 2 hours'.")
        recurrence = parse_recurrence(joined(timing), ctx.tz)
        next_at = recurrence.next_after(ctx.now)
    else:
        next_at = _when(timing, ctx)
    # A reminder to the signers or organizers from a direct room keeps no room: a direct
    # room's id names the person in it.
    number = await ctx.tx.add_schedule(
        letter_id=letter.id, kind=Kind.REMINDER, next_at=next_at,
        recurrence=recurrence.spec if recurrence else None,
        tz=recurrence.tz if recurrence else None, review_at=None, text=text,
        audience=audience, room=None if ctx.room.direct else ctx.room.unthreaded(),
        now=ctx.now,
    )
    how = f", {recurrence.describe()}" if recurrence else ""
    caution = f"\n{ctx.words().signers_caution}" if audience is Audience.SIGNERS else ""
    ctx.tell(
        f"Scheduled R{number}: a reminder for {letter.ref} {_audience_words(audience)}, "
        f"{'first ' if recurrence else ''}at {render.when(next_at, ctx.tz)}{how}: ",
        Said(text), f"\nTo cancel: cancel R{number}.{caution}",
    )


def _audience_words(audience: Audience) -> str:
    return {"room": "in this room", "signers": "to each signer privately",
            "organizers": "to each organizer privately"}[audience]


@router.maybe_letter_command("reminders", "reminders [L<n>]",
                             "scheduled reviews and reminders, with ids", order=90,
                             reads_only=True)
async def reminders(ctx: RoomContext, letter: Letter | None, args: list[Token]) -> None:
    """A letter's reviews and reminders (the dispatcher shows only a letter the caller may
    see), or those of the letters this room may see. The text of a reminder meant for the
    organizers or the signers is shown to the letter's organizers only."""
    no_more(args)
    if letter is not None:
        found = await ctx.tx.schedules(letter.id)
        where = f"for {letter.ref}"
    else:
        found = await ctx.tx.schedules_for_room(ctx.room)
        where = "here"
    seen: dict[int, bool] = {}
    organizes: dict[int, bool] = {}
    listed: list[Scheduled] = []
    for item in found:
        if item.letter_id not in seen:
            seen[item.letter_id] = await ctx.sees(item.letter_id)
        if seen[item.letter_id]:
            listed.append(item)
    if not listed:
        ctx.tell(f"No reviews or reminders are scheduled {where}.")
        return
    body: list[Segment] = [f"Scheduled {where}:"]
    for item in listed:
        if item.text_for_organizers_only and item.letter_id not in organizes:
            organizes[item.letter_id] = await ctx.organizes_letter(item.letter_id)
        body += ["\n", *describe(item, ctx.tz,
                                 with_text=organizes.get(item.letter_id, True))]
    ctx.tell(*body)


def describe(item: Scheduled, tz: str, *, with_text: bool = True) -> list[Segment]:
    """One line of the listing: id, kind, audience, next time in ``tz``, the text (unless
    ``with_text`` is false: a reminder's text for organizers or signers is theirs)."""
    head: list[Segment] = [Strong(item.ref), f" L{item.letter_id} "]
    if isinstance(item, Review):
        head.append(f"review, in the room, at {render.when(item.review_at, tz)}")
        if item.next_at < item.review_at:
            head.append(f" (next heads-up {render.when(item.next_at, tz)})")
        if item.text:
            head += [": ", Said(item.text)]
        return head
    head.append(f"reminder {_audience_words(item.audience).replace('in this', 'in the')}, "
                f"next {render.when(item.next_at, tz)}")
    if item.repeats:
        head.append(f", {Recurrence(item.repeats.spec, item.repeats.tz).describe()}")
    if not with_text and item.text_for_organizers_only:
        return [*head, " (its text is for the organizers only)"]
    return [*head, ": ", Said(item.text or "")]


@router.reminder_command("cancel", "cancel R<n>", "cancel a review or reminder", order=100)
async def cancel(ctx: RoomContext, item: Scheduled, args: list[Token]) -> None:
    no_more(args)
    await ctx.tx.delete_schedule(item.id)
    ctx.tell(f"Cancelled {item.ref}, the {item.kind} for L{item.letter_id}.")


# --- when something falls due -------------------------------------------------------------


def _allowed_lateness(ctx: Context) -> timedelta:
    return max(timedelta(minutes=ctx.config.bot.grace_minutes), ON_TIME)


def following(item: Reminder, repeats: Repetition, now: datetime) -> datetime:
    """A recurring reminder's next fire time after ``now``, skipping any it missed. An
    interval keeps its own chain (start + k × interval) rather than drifting with lateness."""
    try:
        recurrence = Recurrence(repeats.spec, repeats.tz, start=item.next_at)
    except ValueError:  # calendar forms take no anchor
        recurrence = Recurrence(repeats.spec, repeats.tz)
    return recurrence.next_after(max(item.next_at, now))


@router.due("schedule")
async def fire(ctx: Context, schedule_id: int | None) -> None:
    """R<n> is due: speak (or report it missed), then advance or delete it."""
    item = await ctx.tx.schedule(schedule_id) if schedule_id is not None else None
    if item is None or item.next_at > ctx.now:
        return  # cancelled, or already moved on: a stale timer
    letter = await ctx.tx.letter(item.letter_id)
    if letter is None or not letter.is_open:
        await ctx.tx.delete_schedule(item.id)
        return
    if isinstance(item, Review):
        await _fire_review(ctx, item, letter)
    else:
        await _fire_reminder(ctx, item, letter)


def _post(ctx: Context, item: Scheduled, body: tuple[Segment, ...]) -> None:
    """Post in the room a review or a reminder to the room was scheduled from (such a row
    always keeps its room: they are refused in direct rooms, the only ones not kept)."""
    if item.room is not None:
        ctx.replies.append(Post(item.room, body))


async def _fire_reminder(ctx: Context, item: Reminder, letter: Letter) -> None:
    text = item.text or ""
    late = ctx.now - item.next_at
    if late > _allowed_lateness(ctx):
        report: list[Segment] = [
            f"{item.ref}, a reminder for {letter.ref} ", Said(letter.title),
            f", was due at {render.when(item.next_at, ctx.config.bot.timezone)} while I was "
            f"offline, more than {ctx.config.bot.grace_minutes} minutes ago, so it was not "
            "sent: ", Said(text),
        ]
        await _to_organizers(ctx, letter, report)
    elif item.audience is Audience.ROOM:
        _post(ctx, item, (
            "⏰ ", Strong(f"Reminder — {letter.ref} "), Said(letter.title), ": ", Said(text)))
    elif item.audience is Audience.SIGNERS:
        # Worded so that the message alone, read from an export, does not say they signed.
        body: tuple[Segment, ...] = (
            f"⏰ Reminder about {letter.ref} ", Said(letter.title), ": ", Said(text))
        for signature in await ctx.tx.signatures(letter.id):
            ctx.replies.append(Private(signature.user, body))
    else:
        await _to_organizers(ctx, letter, [
            f"⏰ Reminder for the organizers of {letter.ref} ", Said(letter.title), ": ",
            Said(text)])
    if item.repeats:
        await ctx.tx.move_schedule(item.id, following(item, item.repeats, ctx.now))
    else:
        await ctx.tx.delete_schedule(item.id)


async def _fire_review(ctx: Context, item: Review, letter: Letter) -> None:
    zone = ctx.config.bot.timezone
    note: list[Segment] = ["\nNote: ", Said(item.text)] if item.text else []
    if ctx.now >= item.review_at:
        if ctx.now - item.review_at > _allowed_lateness(ctx):
            await _to_organizers(ctx, letter, [
                f"{item.ref}, the review of {letter.ref} ", Said(letter.title),
                f" at {render.when(item.review_at, zone)}, fell due while I was offline, more "
                f"than {ctx.config.bot.grace_minutes} minutes ago, so it was not announced.",
                *note])
        else:
            _post(ctx, item, (
                "📅 ", Strong(f"Review of {letter.ref} "), Said(letter.title),
                " — it starts now.", *note))
        await ctx.tx.delete_schedule(item.id)
        return
    # A heads-up: the latest one already due speaks, unless it is stale; earlier ones are
    # skipped, and the row moves on to the next stage still ahead.
    due = max(s for s in review_stages(item.review_at) if s <= ctx.now)
    if ctx.now - due <= _allowed_lateness(ctx):
        hours = round((item.review_at - due).total_seconds() / 3600)
        _post(ctx, item, (
            "📅 Heads-up: ", Strong(f"the review of {letter.ref} "), Said(letter.title),
            f" is in {hours} hour{'s' if hours != 1 else ''}, at "
            f"{render.when(item.review_at, zone)}.", *note))
    await ctx.tx.move_schedule(
        item.id, min(s for s in review_stages(item.review_at) if s > ctx.now))


async def _to_organizers(ctx: Context, letter: Letter, body: list[Segment]) -> None:
    for organizer in await ctx.tx.organizers(letter.id):
        ctx.tell_user(organizer, *body)


@router.due("deadline")
async def deadline(ctx: Context, letter_id: int | None) -> None:
    """A letter's deadline came: it closes exactly as with ``close``."""
    letter = await ctx.tx.letter(letter_id) if letter_id is not None else None
    if letter is None or not letter.is_open or letter.deadline is None:
        return
    if letter.deadline <= ctx.now:
        await finish(ctx, letter)
