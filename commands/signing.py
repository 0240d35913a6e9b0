"""Signing and withdrawing — by command, button or reaction — and forget-me."""

from __future__ import annotations

import unicodedata

from bot.events import Reaction, Redact, Said
from bot.model import Letter
from commands import render
from commands.base import Context, command
from commands.parser import Token, UsageError, no_more

_SKIN_TONES = {chr(c) for c in range(0x1F3FB, 0x1F400)}


def emoji_key(emoji: str) -> str:
    """An emoji compared without variation selectors, skin tones or Slack's ::skin-tone-N."""
    emoji = emoji.split("::", 1)[0]
    return "".join(
        c for c in unicodedata.normalize("NFC", emoji)
        if c not in _SKIN_TONES and c not in ("\ufe0f", "\ufe0e")
    )


def _refuse_if_closed(ctx: Context, letter: Letter) -> None:
    if not letter.is_open:
        raise UsageError(f"{letter.ref} is closed; it can no longer be signed or withdrawn from.")
    if letter.deadline is not None and letter.deadline <= ctx.now:
        raise UsageError(f"{letter.ref}'s deadline has passed; it is closing.")


def _safe_way(ctx: Context, letter: Letter) -> str:
    return render.how_to_sign(letter, ctx.config, ctx.user.platform)


async def _hint_not_public(ctx: Context, letter: Letter, what: str, ref: str | None) -> None:
    """Someone signed where others can see it, on a letter that promises them privacy."""
    assert ctx.room is not None
    ctx.tell(
        f"Your {what} was not counted: {letter.ref} is not public, and a {what} in the room "
        f"shows everyone that you signed. {_safe_way(ctx, letter)}"
        + (" Please remove your reaction." if what == "reaction" else "")
    )
    if ref is not None:
        ctx.replies.append(Redact(ctx.room, ref))


def _typed_in_room(ctx: Context, letter: Letter | None) -> bool:
    """A command the room can read, about a letter that is not public (or, for letter None,
    about the caller's signatures in general): not acted on; the caller gets a hint."""
    return ctx.seen_by_room and (letter is None or letter.visibility != "public")


def _hint_typed_in_room(ctx: Context, hint: str) -> None:
    """The private hint, and the redaction of the command message where the platform and
    the power level allow. Never raises: a refusal could carry neither the hint and the
    redaction together."""
    ctx.tell(hint)
    if ctx.room is not None and ctx.message_ref is not None:
        ctx.replies.append(Redact(ctx.room, ctx.message_ref))


def _in_a_dm(ctx: Context, words: str) -> str:
    return f"send me {render.prefix(ctx.config, ctx.user.platform)} {words} in a direct message"


@command("sign", "sign L<n>", "sign a letter", takes_letter=True)
async def sign(ctx: Context, args: list[Token]) -> None:
    letter = ctx.the_letter()
    if _typed_in_room(ctx, letter):
        if letter.is_open:
            await _hint_not_public(ctx, letter, "message", ctx.message_ref)
        else:
            _hint_typed_in_room(ctx, (
                f"Your message was not acted on: {letter.ref} is closed, so it can no longer be "
                f"signed. It is not public either: a sign typed in the room shows everyone that "
                f"you meant to sign. Next time, {_in_a_dm(ctx, 'sign L<n>')}."))
        return
    no_more(args)
    _refuse_if_closed(ctx, letter)
    await _sign(ctx, letter)


async def _sign(ctx: Context, letter: Letter, reaction_ref: str | None = None,
                by_reaction: bool = False) -> None:
    if not await ctx.tx.add_signature(letter.id, ctx.user, ctx.now, reaction_ref=reaction_ref,
                                      by_reaction=by_reaction):
        if not by_reaction:
            ctx.tell(f"You have already signed {letter.ref}.", sensitive=True)
        return
    extra = ""
    if letter.visibility == "sealed" and letter.opened:
        extra = " " + render.OPENED
    elif letter.visibility == "sealed":
        extra = f" No name is shown to anyone until {letter.threshold} have signed."
        if await ctx.tx.is_organizer(letter.id, ctx.user) or ctx.is_admin:
            extra += " As an organizer, your own signature does not count toward that."
    elif letter.visibility == "count":
        extra = " Only the organizers can see your name."
    ctx.tell(f"You signed {letter.ref} ", Said(letter.title), "." + extra,
             f" To withdraw: unsign {letter.ref}.", sensitive=True)
    if letter.visibility == "public":
        await ctx.update_announcements(letter)


@command("unsign", "unsign L<n>", "withdraw your signature", takes_letter=True)
async def unsign(ctx: Context, args: list[Token]) -> None:
    letter = ctx.the_letter()
    if _typed_in_room(ctx, letter):
        closed = "" if letter.is_open else f" {letter.ref} is closed in any case."
        _hint_typed_in_room(ctx, (
            f"Your message was not acted on: {letter.ref} is not public, and an unsign typed in "
            f"the room shows everyone that you had signed it.{closed} To withdraw privately, "
            f"{_in_a_dm(ctx, f'unsign {letter.ref}')}."))
        return
    no_more(args)
    _refuse_if_closed(ctx, letter)
    await _withdraw(ctx, letter, quiet=False)


async def _withdraw(ctx: Context, letter: Letter, *, quiet: bool) -> None:
    if not await ctx.tx.remove_signature(letter.id, ctx.user):
        if not quiet:
            ctx.tell(f"You have not signed {letter.ref}.", sensitive=True)
        return
    ctx.erased = True  # "nothing of your signature is kept": not in the WAL either
    ctx.tell(f"You withdrew from {letter.ref} ", Said(letter.title),
             ". Nothing of your signature is kept.", sensitive=True)
    if letter.visibility == "public":
        await ctx.update_announcements(letter)


async def react(ctx: Context, reaction: Reaction) -> None:
    """A reaction on an announcement: the sign emoji signs public letters, its removal
    withdraws; on other letters it is not counted and earns a private hint."""
    if not reaction.added and not reaction.message_ref:
        found = await ctx.tx.signature_by_reaction(reaction.reaction_ref or "")
        if found is None or found[1] != ctx.user:
            return
        letter = await ctx.tx.letter(found[0])
        if letter is not None and letter.is_open:
            await _withdraw(ctx, letter, quiet=True)
        return
    if emoji_key(reaction.emoji) != emoji_key(ctx.config.bot.sign_emoji):
        return
    letter_id = await ctx.tx.letter_announced_by(reaction.room.unthreaded(), reaction.message_ref)
    letter = await ctx.tx.letter(letter_id) if letter_id is not None else None
    if letter is None:
        return
    if reaction.added and letter.visibility != "public":
        await _hint_not_public(ctx, letter, "reaction", reaction.reaction_ref)
        return
    if not letter.is_open or (letter.deadline is not None and letter.deadline <= ctx.now):
        if reaction.added:
            ctx.tell(f"{letter.ref} is closed; your reaction was not counted.")
        return
    if reaction.added:
        await _sign(ctx, letter, reaction.reaction_ref, by_reaction=True)
    elif await ctx.tx.signed_by_reaction(letter.id, ctx.user):
        await _withdraw(ctx, letter, quiet=True)


@command("forget-me", "forget-me", "erase all your signatures and every record of them")
async def forget_me(ctx: Context, args: list[Token]) -> None:
    if _typed_in_room(ctx, None):
        _hint_typed_in_room(ctx, (
            "Nothing was erased: a forget-me typed in the room tells everyone there that you "
            f"signed something. To erase all your signatures, {_in_a_dm(ctx, 'forget-me')}."))
        return
    no_more(args)
    letter_ids = await ctx.tx.letters_signed_by(ctx.user)
    await ctx.tx.erase_signatures_of(ctx.user)
    ctx.erased = True
    for letter_id in letter_ids:
        letter = await ctx.tx.letter(letter_id)
        if letter is not None and letter.visibility == "public":
            await ctx.update_announcements(letter)
    organized = await ctx.tx.letters_organized_by(ctx.user)
    note = ""
    if organized:
        refs = ", ".join(f"L{n}" for n in organized)
        note = (f" You still organize {refs}; to step down use organizer L<n> remove "
                "with your own name once someone else organizes it too.")
    ctx.tell(
        f"Done: {len(letter_ids)} signature{'' if len(letter_ids) == 1 else 's'} erased, "
        "with every record of them." + note, sensitive=True
    )
