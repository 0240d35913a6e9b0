"""Letters: create, show, list, organise, announce, close, export (editing: commands.editing;
the signature block: commands.final)."""

from __future__ import annotations

import csv
import io

from bot.context import Context, RoomContext
from bot.events import Attachment, Person, Said, Segment, Strong, User
from bot.model import Letter, Signature, Visibility, utc_iso
from bot.platform import PlatformWords
from bot.registry import Router
from bot.syntax import Token, UsageError, shorten
from commands import fields, render
from commands.announcements import announcement, seen_count, update_announcements
from commands.parser import no_more, split_options
from commands.render import SHOWN_BEFORE

router = Router()

NEW_OPTIONS = {"link", "deadline", "visibility", "threshold", "only"}


@router.command(
    "new",
    'new "TITLE" [link URL] [deadline WHEN] [visibility public|count|sealed] [threshold N]'
    " [only SERVER[,SERVER]]",
    "start a letter and announce it here",
    order=10, limit="new",
    not_in_direct="A letter is not started in a direct room: it is announced where it is "
                  "started, and a direct room names one person. Start it in a channel or "
                  "group room.",
)
async def new(ctx: RoomContext, args: list[Token]) -> None:
    positional, options = split_options(args, NEW_OPTIONS)
    if not positional:
        raise UsageError("The letter needs a title.")
    title = fields.title(positional)
    link = fields.link(options["link"]) if "link" in options else None
    deadline = (fields.deadline(options["deadline"], ctx.tz, ctx.now)
                if "deadline" in options else None)
    visibility = (fields.visibility(options["visibility"]) if "visibility" in options
                  else Visibility.COUNT)
    threshold = fields.threshold(options, visibility)
    only = fields.only(options["only"]) if "only" in options else ()
    cap = ctx.config.bot.max_open_letters_per_room
    if len(await ctx.tx.open_letters_in(ctx.room.unthreaded())) >= cap:
        raise UsageError(f"This room already has {cap} open letters, the most allowed; "
                         "close one first.")
    letter = await ctx.tx.create_letter(
        title=title, link=link, deadline=deadline, visibility=visibility,
        threshold=threshold, now=ctx.now, only=only,
    )
    await ctx.tx.add_organizer(letter.id, ctx.user)
    await ctx.tx.add_announcement(letter.id, ctx.room.unthreaded())
    ctx.post(ctx.room.unthreaded(), await announcement(ctx, letter, ctx.room.platform),
             letter.id)
    ctx.tell(
        f"Created {letter.ref} ", Said(title), f". You organize it. "
        f"Try: status {letter.ref}, signers {letter.ref}, organizer {letter.ref} add USER, "
        f"close {letter.ref}.",
    )


@router.letter_command("status", "status L<n>",
                       "a letter's title, link, state, deadline and count", order=40,
                       role="viewer", reads_only=True)
async def status(ctx: RoomContext, letter: Letter, args: list[Token]) -> None:
    no_more(args)
    count = await seen_count(ctx, letter, await ctx.organizes_letter(letter.id))
    body = render.status(letter, ctx.config, ctx.tz, count)
    sensitive = False
    if letter.is_public:
        # in the order of ids, not of signing; those who asked not to be named, as a number
        current = [s for s in await ctx.tx.signatures(letter.id) if s.current(letter)]
        named = [s.user for s in current if not s.anonymous]
        if named:
            body.append("\nSigned by: ")
            body += _people(named)
        if len(named) < len(current):
            body.append(("\n" if not named else " ") + render.others(len(current) - len(named)))
        sensitive = bool(current)
    mine = await ctx.tx.signature_of(letter.id, ctx.user)
    if mine is not None and mine.is_pledge and mine.current(letter):
        body.append(f"\nYou pledged to sign once {mine.condition:,} people, you included, are "
                    "counted. " + ("It counts." if mine.counted else
                                   "It does not count yet: nobody sees your name."
                                   + (f" {SHOWN_BEFORE}" if mine.told else "")))
        sensitive = True
    if mine is not None and not mine.current(letter):
        body.append(f"\nYou signed version {mine.version}, which no longer counts: "
                    f"sign {letter.ref} confirms version {letter.version}.")
        sensitive = True
    elif mine is not None and letter.is_sealed and letter.opened:
        body.append(f"\nYou signed. {render.OPENED}")
        sensitive = True
    ctx.tell(*body, sensitive=sensitive)


@router.command("list", "list", "open letters announced in this room", order=50,
                reads_only=True)
async def list_letters(ctx: RoomContext, args: list[Token]) -> None:
    no_more(args)
    letters = await ctx.tx.open_letters_in(ctx.room)
    if not letters:
        ctx.tell("No open letters are announced in this room. Start one with: new \"TITLE\"")
        return
    body: list[Segment] = ["Open letters here:"]
    for letter in letters:
        live = await ctx.tx.count(letter.id)
        body += ["\n", Strong(letter.ref), " ", Said(letter.title), " — ",
                 render.public_count(letter, live)]
    ctx.tell(*body)


def _people(users: list[User]) -> list[Segment]:
    out: list[Segment] = []
    for i, user in enumerate(users):
        if i:
            out.append(", ")
        out.append(Person(user))
    return out


async def visible_signatures(ctx: Context, letter: Letter) -> list[Signature]:
    """The signatures an organizer may see, of every version: none of a sealed letter
    below its threshold. Showing a sealed letter's names opens it for good."""
    if await ctx.sealed_shut(letter):
        raise UsageError(
            f"{letter.ref} is sealed: no name is shown to anyone, organizers included, until "
            f"{letter.threshold} people who do not organize it have signed. So far: "
            f"{render.public_count(letter, None)}."
        )
    found = await ctx.tx.signatures(letter.id)
    if found and letter.is_sealed and not letter.opened:
        await ctx.tx.mark_opened(letter.id)
    return found


@router.letter_command("signers", "signers L<n>", "who signed, privately", order=60,
                       role="organizer", reads_only=True)
async def signers(ctx: RoomContext, letter: Letter, args: list[Token]) -> None:
    no_more(args)
    found = await visible_signatures(ctx, letter)
    if not found:
        ctx.tell(f"Nobody has signed {letter.ref} yet.")
        return
    current = [s for s in found if s.current(letter)]
    body: list[Segment] = [f"{letter.ref} — {render.exact_count(len(current))}"]
    for i, sig in enumerate(current):
        body += [": " if not i else ", ", Person(sig.user), *_listed(sig)]
    earlier = [s for s in found if not s.current(letter)]
    if earlier:
        body.append(f"\nSigned an earlier version (not counted until they sign version "
                    f"{letter.version}): ")
        body += _people([s.user for s in earlier])
    ctx.tell(*body, sensitive=True)


def _listed(sig: Signature) -> list[Segment]:
    """How a signer asked to be listed, beside their name for the organizers."""
    if sig.anonymous:
        return [" (not to be named)"]
    return [" (as “", Said(sig.listing), "”)"] if sig.listing is not None else []


def named_user(token: Token, words: PlatformWords) -> User:
    """A USER argument, as people write one on that platform."""
    match = words.user_form.match(token.text.strip())
    if not match:
        raise UsageError(f"'{shorten(token.text)}' is not a user I can recognise here.")
    return User(words.name, match.group(1))


@router.letter_command("organizer", "organizer L<n> add|remove USER",
                       "add or remove a co-organizer", order=110, role="organizer")
async def organizer(ctx: RoomContext, letter: Letter, args: list[Token]) -> None:
    if len(args) != 2 or args[0].word not in ("add", "remove"):
        raise UsageError("Say add or remove, then who.")
    who = named_user(args[1], ctx.words())
    if args[0].word == "add":
        if not await ctx.tx.add_organizer(letter.id, who):
            ctx.tell(Person(who), f" already organizes {letter.ref}.")
            return
        ctx.tell(Person(who), f" now co-organizes {letter.ref}.")
        ctx.tell_user(who, f"You are now a co-organizer of {letter.ref} ", Said(letter.title),
                      ". Type help to see what organizers can do.")
        return
    if len(await ctx.tx.organizers(letter.id)) == 1 and await ctx.tx.is_organizer(letter.id, who):
        raise UsageError(f"{letter.ref} needs at least one organizer; add another first.")
    if not await ctx.tx.remove_organizer(letter.id, who):
        ctx.tell(Person(who), f" does not organize {letter.ref}.")
        return
    ctx.tell(Person(who), f" no longer organizes {letter.ref}.")


@router.letter_command(
    "announce", "announce L<n>", "post the letter's announcement in this room too",
    order=120, role="organizer",
    not_in_direct="A letter is not announced in a direct room: a direct room names one "
                  "person. Announce it in a channel or group room.")
async def announce(ctx: RoomContext, letter: Letter, args: list[Token]) -> None:
    no_more(args)
    if not letter.is_open:
        raise UsageError(f"{letter.ref} is closed; there is nothing to announce.")
    room = ctx.room.unthreaded()
    if not await ctx.tx.add_announcement(letter.id, room):
        ctx.tell(f"{letter.ref} is already announced in this room.")
        return
    ctx.post(room, await announcement(ctx, letter, room.platform), letter.id)
    ctx.tell(f"Announced {letter.ref} here too. One letter, one count.")


@router.letter_command("close", "close L<n>",
                       "stop signing; organizers get the signature block privately", order=130,
                       role="organizer")
async def close(ctx: RoomContext, letter: Letter, args: list[Token]) -> None:
    no_more(args)
    if not letter.is_open:
        raise UsageError(f"{letter.ref} is already closed.")
    await finish(ctx, letter)


async def finish(ctx: Context, letter: Letter) -> None:
    """Close a letter, by hand or at its deadline: final list to the organizers, privately;
    a sealed letter below its threshold is destroyed unseen and only its count is told.
    Its reviews and reminders are cancelled."""
    shut = await ctx.sealed_shut(letter)
    unmet = await ctx.tx.destroy_waiting(letter.id)  # pledges that never counted: unseen
    found = await ctx.tx.signatures(letter.id)
    counted = sum(1 for s in found if s.current(letter))
    await ctx.tx.close_letter(letter.id, ctx.now)
    await ctx.tx.set_shown_count(letter.id, counted)
    cancelled = await ctx.tx.delete_schedules_of(letter.id)
    days = ctx.config.bot.retention_days
    if found and not shut and letter.is_sealed:
        await ctx.tx.mark_opened(letter.id)  # the final list goes to the organizers
    if shut:
        await ctx.tx.destroy_signatures(letter.id)
        ctx.erased = True
        report: list[Segment] = [
            f"{letter.ref} ", Said(letter.title), f" closed with {render.exact_count(counted)}, "
            f"below its threshold of {letter.threshold}: the list was destroyed unseen."
        ]
    elif found:
        report = [f"{letter.ref} closed. Its signature block:\n\n",
                  *render.signature_block(letter, found, ctx.now),
                  f"\n\nIt will be purged {days} days from now."]
    else:
        report = [f"{letter.ref} ", Said(letter.title), " closed with no signatures."]
    if unmet:
        ctx.erased = True
        report.append(f"\n{unmet} pledge{' was' if unmet == 1 else 's were'} still waiting "
                      "for their condition: destroyed unseen, not counted.")
    if cancelled:
        report.append(f"\nIts {cancelled} scheduled review(s) and reminder(s) were cancelled.")
    await _report_closed(ctx, letter, report, counted, named=bool(found) and not shut,
                         cancelled=cancelled)
    await update_announcements(ctx, letter)


async def _report_closed(ctx: Context, letter: Letter, report: list[Segment], count: int, *,
                         named: bool, cancelled: int) -> None:
    """The final report goes to every organizer. A close typed by someone (an organizer
    or an admin) answers that person's command; the others, and everyone when the letter
    closed at its deadline (no room: the scheduler acted), are told apart from any room.
    A report that names signers carries a neutral fallback naming nobody."""
    typed = ctx.room is not None
    how = "was closed by an organizer" if typed else "closed at its deadline"

    def neutral(platform: str) -> tuple[Segment, ...] | None:
        if not named:
            return None
        line: list[Segment] = [
            f"{letter.ref} {how} with {render.exact_count(count)}; "
            f"`{ctx.words(platform).prefix} signers {letter.ref}` shows the list."]
        if cancelled:
            line.append(f"\nIts {cancelled} scheduled review(s) and reminder(s) were cancelled.")
        return tuple(line)

    if typed:
        ctx.tell(*report, sensitive=named, fallback=neutral(ctx.user.platform))
    for org in await ctx.tx.organizers(letter.id):
        if not (typed and org == ctx.user):
            ctx.tell_user(org, *report, sensitive=named, fallback=neutral(org.platform))


def _cell(text: str) -> str:
    """A line a signer typed, as a CSV cell a spreadsheet will not run as a formula."""
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text


@router.letter_command("export", "export L<n>",
                       "a CSV of signers, times, versions and listings, privately",
                       order=140, role="organizer", reads_only=True, limit="export")
async def export(ctx: RoomContext, letter: Letter, args: list[Token]) -> None:
    no_more(args)
    found = await visible_signatures(ctx, letter)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["signer", "signed_at", "version", "listed_as"])
    for sig in found:
        listed = "anonymous" if sig.anonymous else _cell(sig.listing or "")
        writer.writerow([sig.user.id, utc_iso(sig.signed_at), sig.version, listed])
    current = sum(1 for s in found if s.current(letter))
    earlier = f" and {len(found) - current} of earlier versions" if current < len(found) else ""
    ctx.tell(
        f"{letter.ref}: {render.exact_count(current)} of version {letter.version}{earlier}, "
        "attached as CSV (listed_as: empty for the display name). Keep it safe.",
        attachment=Attachment(f"{letter.ref.lower()}-signers.csv", out.getvalue().encode()),
        sensitive=bool(found),
    )
