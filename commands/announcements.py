"""A letter's announcements: their text on each platform, their edits in place, and the
timer that refreshes the public count of letters that are not public."""

from __future__ import annotations

from bot.context import Context
from bot.events import Edit, Rich
from bot.model import Letter
from bot.registry import Router
from commands import render

router = Router()


async def announcement(ctx: Context, letter: Letter, platform: str) -> Rich:
    shown = await ctx.tx.count(letter.id) if letter.is_public else None
    return render.announcement(letter, ctx.config, ctx.words(platform), shown)


async def seen_count(ctx: Context, letter: Letter, organizes: bool) -> str:
    """The letter's count as the caller may read it. Organizers see the live count of a
    count letter, and of a sealed one whose names they may see; below a sealed letter's
    threshold, the batched count everyone sees."""
    exact = letter.is_public or (organizes and not await ctx.sealed_shut(letter))
    if exact:
        return render.exact_count(await ctx.tx.count(letter.id)) + render.waiting_pledges(letter)
    return render.public_count(letter, None)


async def update_announcements(ctx: Context, letter: Letter, before: Letter | None = None) -> None:
    """Edit every announcement of the letter in place, on every platform.

    ``before`` is the letter as its announcements last showed it. An announcement whose
    text would not change is not edited: an edit alone, even to the same words, tells the
    room that something happened (say, that someone signed a letter that still reads
    "fewer than 3"). A public letter's announcement shows the live count, which
    ``before`` does not hold, so it is always edited."""
    fresh = await ctx.tx.letter(letter.id)
    if fresh is None:
        return
    if before is not None and (before.is_public or fresh.is_public):
        before = None
    for ann in await ctx.tx.announcements(letter.id):
        if ann.message_ref is not None:
            body = await announcement(ctx, fresh, ann.room.platform)
            if before is not None and body == await announcement(ctx, before, ann.room.platform):
                continue
            ctx.replies.append(Edit(ann.room, ann.message_ref, body, fresh.id))


@router.due("refresh-counts")
async def refresh_counts(ctx: Context, _: int | None) -> None:
    """Bring the public count of letters that are not public up to date, on a timer, so
    that the moment somebody signed cannot be read from it. The shown count is kept up to
    date silently; an announcement is edited only when its text changes (not while it
    reads "fewer than 3", however many of the first two have signed). Letters signed since
    the last refresh get their rows rewritten in index order."""
    if await ctx.tx.reorder_signatures():
        ctx.erased = True  # fold the WAL: its frames hold the rows as first written
    for letter in await ctx.tx.stale_public_counts():
        await ctx.tx.show_figures(letter.id)
        await update_announcements(ctx, letter, before=letter)
