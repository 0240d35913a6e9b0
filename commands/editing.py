"""edit L<n>: change a letter's title, link, deadline, visibility or threshold (a link or
a deadline may be removed: ``none``).

Before anyone has signed, an edit changes the letter in place. After, a new title or link
makes a new version: a signature belongs to the text that was signed, so signatures of
the earlier version count toward nothing until their signers sign again, and each is told
so, privately, once. A signed letter's privacy only ever tightens: visibility goes public
→ count → sealed and a threshold only rises, since its signers signed trusting what it
promised them."""

from __future__ import annotations

from dataclasses import replace
from zoneinfo import ZoneInfo

from bot.context import RoomContext
from bot.events import Editable, Link, Private, Said, Segment
from bot.model import Letter
from bot.registry import Router
from bot.syntax import Token, UsageError, shorten
from commands import fields, render
from commands.announcements import update_announcements
from commands.parser import no_more, split_options

router = Router()

ALREADY_SHOWN = ("What was already shown stays known to whoever saw it (names, counts); "
                 "this changes what is shown from now on.")


@router.letter_command(
    "edit",
    'edit L<n> [title "…"] [link URL|none] [deadline WHEN|none] '
    "[visibility public|count|sealed] [threshold N] [only SERVER[,SERVER]|only anyone]",
    "change a letter; once signed, a new title or link is a new version that its signers "
    "confirm by signing again", order=105, role="organizer")
async def edit(ctx: RoomContext, letter: Letter, args: list[Token]) -> None:
    positional, options = split_options(args, set(fields.FIELDS))
    if positional:
        raise UsageError(f"'{shorten(positional[0].text)}' is not something I can change; "
                         "say title, link, deadline, visibility, threshold or only, each with its "
                         "new value.")
    if not options:
        raise UsageError("Say what to change: title, link, deadline, visibility, threshold "
                         "or only, each with its new value.")
    _refuse_closed(letter)
    edited = await _edited(ctx, letter, options)
    signed = await ctx.tx.any_signature(letter.id)
    if signed:
        _refuse_less_private(letter, edited)
    if signed and (edited.title, edited.link) != (letter.title, letter.link):
        edited = replace(edited, version=letter.version + 1)
    if letter.is_public and not edited.is_public:
        # Its count was shown live until now: the public count starts from there.
        edited = replace(edited, shown_count=await ctx.tx.count(letter.id))
    if edited == letter:
        raise UsageError(f"That is what {letter.ref} already says; nothing was changed.")
    await ctx.tx.update_letter(edited)
    await update_announcements(ctx, edited)
    said: list[Segment] = [f"{letter.ref} edited: ", *_changes(letter, edited, ctx.tz), "."]
    if edited.version != letter.version:
        told = await _tell_earlier_signers(ctx, letter, edited)
        said.append(f"\nThis is version {edited.version}. Signatures of earlier versions count "
                    f"toward nothing until their signers sign again; {told} "
                    f"{'was' if told == 1 else 'were'} told privately.")
    if signed and edited.visibility is not letter.visibility:
        said.append("\n" + ALREADY_SHOWN)
    said.append("\nEvery announcement of it was updated.")
    ctx.tell(*said)


@router.letter_command(
    "fields", "fields L<n>",
    "a letter's title, link, deadline, visibility and threshold, as edit changes them",
    order=104, role="organizer", reads_only=True)
async def fields_of(ctx: RoomContext, letter: Letter, args: list[Token]) -> None:
    """What ``edit`` can change, as it is now: to its organizers, as text and as
    ``Editable`` (Slack's Edit form opens filled in with it). Anyone else gets the
    dispatcher's refusal, and where the letter is not theirs to see, the one for a letter
    that does not exist."""
    no_more(args)
    _refuse_closed(letter)
    deadline = letter.deadline.astimezone(ZoneInfo(ctx.tz)) if letter.deadline else None
    editable = Editable(letter.id, letter.title, letter.link, deadline,
                        str(letter.visibility), letter.threshold)
    body: list[Segment] = [f"{letter.ref} as edit changes it:\ntitle “", Said(letter.title),
                           "”\nlink ", *([Link(letter.link)] if letter.link else ["none"]),
                           "\ndeadline ",
                           render.when(letter.deadline, ctx.tz) if letter.deadline else "none",
                           f"\nvisibility {letter.visibility}"]
    if letter.threshold is not None:
        body.append(f"\nthreshold {letter.threshold}")
    prefix = ctx.words().prefix
    body += [f"\nwho may sign: {render.who_may_sign(letter)}",
             f"\nTo change one: {prefix} edit {letter.ref} and the field with its new value "
             f"({prefix} help edit)."]
    ctx.replies.append(Private(ctx.user, tuple(body), ctx.room, editable=editable))


def _refuse_closed(letter: Letter) -> None:
    if not letter.is_open:
        raise UsageError(f"{letter.ref} is closed; it can no longer be edited.")


async def _edited(ctx: RoomContext, letter: Letter, options: dict[str, list[Token]]) -> Letter:
    """The letter with the fields given, each validated as ``new`` does."""
    deadline = letter.deadline
    if "deadline" in options:
        given = options["deadline"]
        deadline = None if _none(given) else fields.deadline(given, ctx.tz, ctx.now)
    link = letter.link
    if "link" in options:
        link = None if _none(options["link"]) else fields.link(options["link"])
    visibility = (fields.visibility(options["visibility"]) if "visibility" in options
                  else letter.visibility)
    return replace(
        letter,
        title=fields.title(options["title"]) if "title" in options else letter.title,
        link=link,
        deadline=deadline,
        visibility=visibility,
        threshold=fields.threshold(options, visibility, letter.threshold),
        only=fields.only(options["only"]) if "only" in options else letter.only,
    )


def _none(given: list[Token]) -> bool:
    """``none`` alone, unquoted: the field is removed (a link or a deadline)."""
    return len(given) == 1 and given[0].word == "none"


def _refuse_less_private(letter: Letter, edited: Letter) -> None:
    if edited.visibility.rank() < letter.visibility.rank():
        raise UsageError(
            f"{letter.ref} has been signed, so its visibility can only become more private "
            f"(public → count → sealed), not go from {letter.visibility} to "
            f"{edited.visibility}: its signers signed trusting it. Nothing was changed.")
    if (letter.is_sealed and edited.is_sealed
            and (edited.threshold or 0) < (letter.threshold or 0)):
        raise UsageError(
            f"{letter.ref} has been signed, so its threshold can only be raised, not lowered "
            f"from {letter.threshold} to {edited.threshold}: its signers signed trusting that "
            "no name shows before it. Nothing was changed.")


def _changes(before: Letter, after: Letter, tz: str) -> list[Segment]:
    """What an edit changed, in words, with the old and new title and link."""
    out: list[Segment] = []

    def add(*parts: Segment) -> None:
        out.extend(["; "] if out else [])
        out.extend(parts)

    if after.title != before.title:
        add("title “", Said(before.title), "” → “", Said(after.title), "”")
    if after.link != before.link:
        add("link ", *([Link(before.link)] if before.link else ["none"]), " → ",
            *([Link(after.link)] if after.link else ["none"]))
    if after.deadline != before.deadline:
        add("deadline ", render.when(after.deadline, tz) if after.deadline else "none")
    if after.visibility != before.visibility:
        add(f"visibility {after.visibility}")
    if after.threshold != before.threshold and after.threshold is not None:
        add(f"threshold {after.threshold}")
    if after.only != before.only:
        add("who may sign: " + render.who_may_sign(after))
    return out or ["nothing changed"]


async def _tell_earlier_signers(ctx: RoomContext, before: Letter, after: Letter) -> int:
    """Each signer of the version just replaced is told, privately and once, what changed
    and how to confirm the new version. On a sealed letter nothing goes where a DM export
    could list its signers (no neutral fallback); elsewhere the fallback names nothing."""
    told, tz = 0, ctx.config.bot.timezone
    for signature in await ctx.tx.signatures(before.id):
        if signature.version != before.version:
            continue  # already told when their version was replaced
        prefix = ctx.words(signature.user.platform).prefix
        ctx.tell_user(
            signature.user,
            f"{after.ref} changed since you signed it: ", *_changes(before, after, tz),
            f". Your signature was given to version {before.version} and no longer counts. "
            f"To sign version {after.version}: {prefix} sign {after.ref} "
            f"(or {prefix} unsign {after.ref} to withdraw).",
            sensitive=True,
            fallback=None if after.is_sealed else (
                f"{after.ref} has a new version {after.version}: {prefix} status {after.ref} "
                f"shows it. If you had signed it, {prefix} sign {after.ref} confirms the new "
                "version.",),
        )
        told += 1
    return told

