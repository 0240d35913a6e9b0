"""``mine``: the letters the caller organizes and the ones they signed, as they may see
them, privately. On Slack the same answer is the App Home tab."""

from __future__ import annotations

from bot.context import RoomContext
from bot.events import Held, Private, Said, Segment, Strong
from bot.model import Signature
from bot.registry import Router
from bot.syntax import Token
from commands import render
from commands.announcements import seen_count
from commands.parser import no_more

router = Router()


async def held_by(ctx: RoomContext) -> list[Held]:
    """The caller's letters, newest first. A person's rows are found by probing each
    letter's blind index (bot.people): nothing in the store lists them together."""
    organized = set(await ctx.tx.letters_organized_by(ctx.user))
    signed = set(await ctx.tx.letters_signed_by(ctx.user))
    held: list[Held] = []
    for number in sorted(organized | signed, reverse=True):
        letter = await ctx.tx.letter(number)
        if letter is None:
            continue
        organizes = number in organized
        mine = await ctx.tx.signature_of(number, ctx.user) if number in signed else None
        held.append(Held(
            letter_id=letter.id, title=letter.title, is_open=letter.is_open,
            deadline=render.when(letter.deadline, ctx.tz) if letter.deadline else None,
            count=await seen_count(ctx, letter, organizes), visibility=render.visibility(letter),
            organizes=organizes, signed=number in signed, pledge=_pledge(mine),
        ))
    return held


def _pledge(mine: Signature | None) -> str | None:
    """The viewer's own pledge, which only they may see described."""
    if mine is None or not mine.is_pledge:
        return None
    if mine.counted:
        return f"your pledge (once {mine.condition} have signed) counts"
    return f"your pledge waits until {mine.condition} have signed"


def _lines(title: str, held: list[Held]) -> list[Segment]:
    out: list[Segment] = [title]
    for h in held:
        out += ["\n", Strong(h.ref), " ", Said(h.title),
                f" — {'open' if h.is_open else 'closed'}, {h.count}"]
        if h.deadline:
            out.append(f", deadline {h.deadline}")
        if h.pledge:
            out.append(f"; {h.pledge}")
    return out


@router.command("mine", "mine", "the letters you organize and the ones you signed, privately",
                order=55, reads_only=True)
async def mine(ctx: RoomContext, args: list[Token]) -> None:
    no_more(args)
    held = await held_by(ctx)
    organized = [h for h in held if h.organizes]
    signed = [h for h in held if h.signed]
    body: list[Segment] = []
    if organized:
        body += _lines("Letters you organize:", organized)
    if signed:
        body += (["\n"] if body else []) + _lines("Letters you signed or pledged:", signed)
    if not body:
        body = ["You organize no letter and have signed none."]
    # It says which letters the caller signed: sensitive, like a confirmation of signing.
    ctx.replies.append(Private(ctx.user, tuple(body), ctx.room, sensitive=True,
                               overview=tuple(held)))
