"""Signing and withdrawing — by command, button or reaction — and forget-me."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from bot.context import Context, RoomContext
from bot.emoji import emoji_key
from bot.events import Reaction, Redact, Said, Segment
from bot.model import MAX_CONDITION, Letter, Signature
from bot.registry import Router
from bot.syntax import Token, UsageError, shorten
from commands import render
from commands.announcements import update_announcements
from commands.parser import MAX_LISTING, clean_text, joined, no_more
from commands.render import SHOWN_BEFORE

router = Router()


def _refuse_if_closed(ctx: RoomContext, letter: Letter) -> None:
    problem = letter.closed_problem(ctx.now)
    if problem is not None:
        raise UsageError(problem)


def _safe_way(ctx: RoomContext, letter: Letter) -> str:
    return render.how_to_sign(letter, ctx.words(), ctx.config.bot.sign_emoji)


async def _hint_not_public(ctx: RoomContext, letter: Letter, what: str,
                           ref: str | None) -> None:
    """Someone signed where others can see it, on a letter that promises them privacy."""
    ctx.tell(
        f"Your {what} was not counted: {letter.ref} is not public, and a {what} in the room "
        f"shows everyone that you signed. {_safe_way(ctx, letter)}"
        + (" Please remove your reaction." if what == "reaction" else "")
    )
    if ref is not None:
        ctx.replies.append(Redact(ctx.room, ref))


def _typed_in_room(ctx: RoomContext, letter: Letter | None) -> bool:
    """A command the room can read, about a letter that is not public (or, for letter None,
    about the caller's signatures in general): not acted on; the caller gets a hint."""
    return ctx.seen_by_room and (letter is None or not letter.is_public)


def _hint_typed_in_room(ctx: RoomContext, hint: str) -> None:
    """The private hint, and the redaction of the command message where the platform and
    the power level allow. Never raises: a refusal could carry neither the hint and the
    redaction together."""
    ctx.tell(hint)
    if ctx.message_ref is not None:
        ctx.replies.append(Redact(ctx.room, ctx.message_ref))


def _in_a_dm(ctx: RoomContext, words: str) -> str:
    here = ctx.words()
    return here.say_privately.format(cmd=f"{here.prefix} {words}")


@dataclass(frozen=True)
class Listing:
    """How a signer wants to be listed in the signature block: a line of their own, or
    not at all (``anonymous``); neither means by their platform display name."""

    line: str | None = None
    anonymous: bool = False

    @classmethod
    def of(cls, signature: Signature) -> Listing:
        return cls(signature.listing, signature.anonymous)

    def said(self) -> list[Segment]:
        if self.anonymous:
            return ["counted but not named in the signature block"]
        if self.line is not None:
            return ["listed as “", Said(self.line), "” in the signature block"]
        return ["listed by your display name in the signature block"]


# What reads as a platform user (@name, <@U123>, @name:server), not a line of text.
_SOMEONE = re.compile(r"^[<]?[@!]")


def parse_listing(args: list[Token]) -> Listing | None:
    """``as "LINE"`` or ``as anonymous`` after ``sign L<n>``; None when not given."""
    if not args:
        return None
    if args[0].word != "as":
        raise UsageError(f"I did not expect '{shorten(joined(args))}' there. To choose how you "
                         'are listed: as "NAME, TITLE", or as anonymous.')
    if not args[1:]:
        raise UsageError('\'as\' needs the line to list you by, in quotes ("Jane Doe, '
                         'Political Officer"), or anonymous.')
    if len(args) == 2 and args[1].text.strip().lower() == "anonymous":  # quoted or not
        return Listing(anonymous=True)
    line = clean_text(joined(args[1:]), what="line to list you by", limit=MAX_LISTING)
    if _SOMEONE.match(line):
        raise UsageError("'as' is how your own signature is listed, not another person: "
                         "each person signs for themselves. Write it as text, "
                         'e.g. as "Jane Doe, Political Officer".')
    return Listing(line)


def parse_condition(args: list[Token]) -> tuple[int | None, list[Token]]:
    """``if N`` right after ``sign L<n>``: the condition and the tokens after it; None
    when not given. ``if 1`` is a signature without a condition."""
    if not args or args[0].word != "if":
        return None, args
    if len(args) < 2 or not re.fullmatch(r"[0-9]{1,7}", args[1].text.strip()) \
            or not 1 <= int(args[1].text.strip()) <= MAX_CONDITION:
        raise UsageError(
            f"'if' takes how many people, you included, must be counted before you are: a "
            f"whole number from 2 to {MAX_CONDITION:,} (if 1 is signing with no condition), "
            f"not '{shorten(args[1].text) if len(args) > 1 else ''}'.")
    return int(args[1].text.strip()), args[2:]


@router.letter_command("sign", 'sign L<n> [if N] [as "NAME, TITLE"|as anonymous]',
                       "sign a letter; if N: only once N people, you included, are counted "
                       "(nobody sees your name until then); as: how you are listed in its "
                       "signature block", order=20)
async def sign(ctx: RoomContext, letter: Letter, args: list[Token]) -> None:
    pledging = bool(args) and args[0].word == "if"
    if _typed_in_room(ctx, letter) or (ctx.seen_by_room and pledging):
        if letter.is_open:
            await _hint_not_public(ctx, letter, "message", ctx.message_ref)
        else:
            _hint_typed_in_room(ctx, (
                f"Your message was not acted on: {letter.ref} is closed, so it can no longer be "
                f"signed. It is not public either: a sign typed in the room shows everyone that "
                f"you meant to sign. Next time, {_in_a_dm(ctx, 'sign L<n>')}."))
        return
    condition, rest = parse_condition(args)
    listing = parse_listing(rest)
    _refuse_if_closed(ctx, letter)
    problem = not_a_signer(ctx, letter)
    if problem is not None:
        raise UsageError(problem)
    await _sign(ctx, letter, listing=listing, condition=condition)


def not_a_signer(ctx: RoomContext, letter: Letter) -> str | None:
    """Why the caller may not sign this letter (the platform's config, or the letter's
    ``only``), or None. Decided on what the adapter found (``Standing``), with no I/O;
    a refusal stores nothing about them."""
    standing = ctx.standing
    if standing is not None and not standing.may_sign:
        return ctx.words().not_a_signer + " Nothing about you was stored."
    if not letter.may_sign(standing.home if standing is not None else None):
        return (f"{letter.ref} may be signed only by {render.who_may_sign(letter)}, and I "
                "cannot count you among them. Nothing about you was stored.")
    return None


def _pledge_said(condition: int) -> str:
    return f"pledged to sign once {condition:,} people, you included, are counted"


async def _sign(ctx: RoomContext, letter: Letter, reaction_ref: str | None = None,
                by_reaction: bool = False, listing: Listing | None = None,
                condition: int | None = None) -> None:
    """A new signature or pledge; a signature of an earlier version confirmed for the
    current one; another line to be listed by, or another condition. A pledge is written
    as waiting and the counted set recomputed in this transaction (``Tx.settle``)."""
    before = await ctx.tx.signature_of(letter.id, ctx.user)
    chosen = listing or (Listing.of(before) if before is not None else Listing())
    wanted = condition if condition is not None else (before.condition if before else 1)
    if (before is not None and before.current(letter) and listing in (None, Listing.of(before))
            and wanted == before.condition):
        if not by_reaction:
            state = ""
            if before.is_pledge:
                state = (" It counts." if before.counted else
                         " It does not count yet: nobody sees your name.")
            what = (f"You have already {_pledge_said(before.condition)} on {letter.ref}"
                    if before.is_pledge else f"You have already signed {letter.ref}")
            ctx.tell(f"{what}, ", *chosen.said(), "." + state, sensitive=True)
        return
    if (before is not None and before.current(letter) and wanted == before.condition
            and listing is not None):
        await ctx.tx.replace_signature(letter.id, replace(
            before, listing=listing.line, anonymous=listing.anonymous))
        ctx.tell(f"Done: on {letter.ref} you are now ", *listing.said(), ".", sensitive=True)
        return
    stays = (before is not None and before.current(letter) and before.counted
             and wanted <= before.condition)
    # A new pledge whose condition the counted set with it already meets joins it at
    # once (it supports itself), told so in this answer.
    at_once = before is None and 1 < wanted <= letter.counted + 1
    signature = Signature(ctx.user, before.signed_at if before and before.current(letter)
                          else ctx.now, chosen.line, chosen.anonymous, letter.version,
                          wanted, bool(before and before.told) or at_once,
                          wanted == 1 or stays or at_once)
    if before is None:
        await ctx.tx.add_signature(letter.id, signature, reaction_ref=reaction_ref,
                                   by_reaction=by_reaction)
        if at_once:
            await ctx.tx.raise_pledge_max(letter.id, letter.pledge_max, wanted)
        did = "You signed"
    else:
        await ctx.tx.replace_signature(letter.id, signature)
        did = (f"You confirmed version {letter.version} of" if not before.current(letter)
               else "Done: you signed")
    joined: list[Signature] = []
    if before is not None or letter.joins_possible(letter.counted + 1,
                                                   1 if signature.counted else wanted):
        joined = await ctx.tx.settle(letter.id)
    counts_now = signature.counted or any(s.user == ctx.user for s in joined)
    fresh = await ctx.tx.letter(letter.id) if joined or before is not None else None
    counted = fresh.counted if fresh is not None else letter.counted + signature.counted
    if signature.is_pledge and counts_now and not signature.told:
        await ctx.tx.mark_told(letter.id, replace(signature, counted=True))
    extra = ""
    if signature.is_pledge and not counts_now:
        extra = (f" It does not count yet: until {wanted:,} people, you included, are "
                 "counted, nobody sees your name, organizers included, and it counts nowhere. "
                 "I will tell you once, privately, when it counts."
                 + (" " + SHOWN_BEFORE if signature.told else ""))
    elif signature.is_pledge:
        extra = f" Your pledge counts: {counted:,} have signed."
    if counts_now and letter.is_sealed and letter.opened:
        extra += " " + render.OPENED
    elif counts_now and letter.is_sealed:
        extra += f" No name is shown to anyone until {letter.threshold} have signed."
        if await ctx.tx.is_organizer(letter.id, ctx.user) or ctx.is_admin:
            extra += " As an organizer, your own signature does not count toward that."
    elif counts_now and not letter.is_public:
        extra += " Only the organizers can see your name."
    what = (f"{did} {letter.ref} " if not signature.is_pledge else
            f"{'You' if before is None else 'Done: you'} {_pledge_said(wanted)} on {letter.ref} ")
    ctx.tell(what, Said(letter.title), ", ", *chosen.said(), "." + extra,
             f" To withdraw: unsign {letter.ref}.", sensitive=True)
    await tell_counting(ctx, letter, [s for s in joined if s.user != ctx.user], counted)
    if letter.is_public and counted != letter.counted:
        await update_announcements(ctx, letter)


async def tell_counting(ctx: Context, letter: Letter, joined: list[Signature],
                        counted: int) -> None:
    """Each pledger whose pledge has just started to count is told privately, once."""
    for signature in joined:
        if signature.told:
            continue
        await ctx.tx.mark_told(letter.id, signature)
        prefix = ctx.words(signature.user.platform).prefix
        ctx.tell_user(
            signature.user,
            f"Your pledge on {letter.ref} ", Said(letter.title),
            f" now counts: {counted:,} have signed.", sensitive=True,
            fallback=None if letter.is_sealed else (
                f"There is news about {letter.ref}: {prefix} status {letter.ref} shows it.",))


@router.letter_command("unsign", "unsign L<n>", "withdraw your signature", order=30)
async def unsign(ctx: RoomContext, letter: Letter, args: list[Token]) -> None:
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


async def _withdraw(ctx: RoomContext, letter: Letter, *, quiet: bool) -> None:
    if not await ctx.tx.remove_signature(letter.id, ctx.user):
        if not quiet:
            ctx.tell(f"You have not signed {letter.ref}.", sensitive=True)
        return
    ctx.erased = True  # "nothing of your signature is kept": not in the WAL either
    await ctx.tx.settle(letter.id)
    ctx.tell(f"You withdrew from {letter.ref} ", Said(letter.title),
             ". Nothing of your signature is kept.", sensitive=True)
    if letter.is_public:
        await update_announcements(ctx, letter)


@router.reaction
async def react(ctx: RoomContext, reaction: Reaction) -> None:
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
    if reaction.added and not letter.is_public:
        await _hint_not_public(ctx, letter, "reaction", reaction.reaction_ref)
        return
    if not letter.signable(ctx.now):
        if reaction.added:
            ctx.tell(f"{letter.ref} is closed; your reaction was not counted.")
        return
    if reaction.added:
        problem = not_a_signer(ctx, letter)
        if problem is not None:
            ctx.tell(f"Your reaction was not counted. {problem}")
            return
        await _sign(ctx, letter, reaction.reaction_ref, by_reaction=True)
    elif await ctx.tx.signed_by_reaction(letter.id, ctx.user):
        await _withdraw(ctx, letter, quiet=True)


@router.command("forget-me", "forget-me", "erase all your signatures and every record of them",
                order=150)
async def forget_me(ctx: RoomContext, args: list[Token]) -> None:
    if _typed_in_room(ctx, None):
        _hint_typed_in_room(ctx, (
            "Nothing was erased: a forget-me typed in the room tells everyone there that you "
            f"signed something. To erase all your signatures, {_in_a_dm(ctx, 'forget-me')}."))
        return
    no_more(args)
    letter_ids = await ctx.tx.erase_signatures_of(ctx.user)
    ctx.erased = True
    for letter_id in letter_ids:
        await ctx.tx.settle(letter_id)
        letter = await ctx.tx.letter(letter_id)
        if letter is not None and letter.is_public:
            await update_announcements(ctx, letter)
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
