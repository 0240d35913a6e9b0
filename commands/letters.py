"""Letters: create, show, list, organise, announce, close, export."""

from __future__ import annotations

import csv
import io

from bot.context import Context, RoomContext
from bot.events import Attachment, Person, Said, Segment, Strong, User
from bot.model import Letter, Signature, Visibility, utc_iso
from bot.platform import PlatformWords
from bot.registry import Router
from bot.syntax import Token, UsageError, shorten
from bot.timeparse import parse_when
from commands import render
from commands.announcements import announcement, seen_count, update_announcements
from commands.parser import (
    MAX_TITLE,
    clean_text,
    http_url,
    joined,
    no_more,
    one,
    positive_int,
    split_options,
)

router = Router()

NEW_OPTIONS = {"link", "deadline", "visibility", "threshold"}


@router.command(
    "new",
    'new "TITLE" [link URL] [deadline WHEN] [visibility public|count|sealed] [threshold N]',
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
    title = clean_text(joined(positional), what="title", limit=MAX_TITLE)
    link = http_url(one(options["link"], "link").text) if "link" in options else None
    deadline = (parse_when(joined(options["deadline"]), ctx.tz, ctx.now)
                if "deadline" in options else None)
    visibility = Visibility.COUNT
    if "visibility" in options:
        said = one(options["visibility"], "visibility").text.lower()
        if said not in set(Visibility):
            raise UsageError(f"Visibility is public, count or sealed, not '{shorten(said)}'.")
        visibility = Visibility(said)
    threshold = None
    if "threshold" in options:
        if visibility is not Visibility.SEALED:
            raise UsageError("A threshold applies only to sealed letters (visibility sealed).")
        threshold = positive_int(one(options["threshold"], "threshold"), what="threshold")
    elif visibility is Visibility.SEALED:
        raise UsageError("A sealed letter needs a threshold: how many must sign before names show.")
    cap = ctx.config.bot.max_open_letters_per_room
    if len(await ctx.tx.open_letters_in(ctx.room.unthreaded())) >= cap:
        raise UsageError(f"This room already has {cap} open letters, the most allowed; "
                         "close one first.")
    letter = await ctx.tx.create_letter(
        title=title, link=link, deadline=deadline, visibility=visibility,
        threshold=threshold, now=ctx.now,
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
        names = await ctx.tx.signatures(letter.id)  # in the order of ids, not of signing
        if names:
            body.append("\nSigned by: ")
            body += _people([s.user for s in names])
            sensitive = True
    elif letter.is_sealed and letter.opened and await ctx.tx.has_signed(
            letter.id, ctx.user):
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


async def _names(ctx: Context, letter: Letter) -> list[Signature]:
    """The signatures an organizer may see: none of a sealed letter below its threshold.
    Showing a sealed letter's names opens it for good."""
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
    found = await _names(ctx, letter)
    if not found:
        ctx.tell(f"Nobody has signed {letter.ref} yet.")
        return
    ctx.tell(f"{letter.ref} — {render.exact_count(len(found))}: ",
             *_people([s.user for s in found]), sensitive=True)


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
                       "stop signing; organizers get the final list privately", order=130,
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
    found = await ctx.tx.signatures(letter.id)
    await ctx.tx.close_letter(letter.id, ctx.now)
    await ctx.tx.set_shown_count(letter.id, len(found))
    cancelled = await ctx.tx.delete_schedules_of(letter.id)
    days = ctx.config.bot.retention_days
    if found and not shut and letter.is_sealed:
        await ctx.tx.mark_opened(letter.id)  # the final list goes to the organizers
    if shut:
        await ctx.tx.destroy_signatures(letter.id)
        ctx.erased = True
        report: list[Segment] = [
            f"{letter.ref} ", Said(letter.title), f" closed with {render.exact_count(len(found))}, "
            f"below its threshold of {letter.threshold}: the list was destroyed unseen."
        ]
    elif found:
        report = [f"{letter.ref} ", Said(letter.title),
                  f" closed. Final list, {render.exact_count(len(found))}: ",
                  *_people([s.user for s in found]),
                  f"\nIt will be purged {days} days from now."]
    else:
        report = [f"{letter.ref} ", Said(letter.title), " closed with no signatures."]
    if cancelled:
        report.append(f"\nIts {cancelled} scheduled review(s) and reminder(s) were cancelled.")
    await _report_closed(ctx, letter, report, len(found), named=bool(found) and not shut,
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


@router.letter_command("export", "export L<n>", "a CSV of signers and times, privately",
                       order=140, role="organizer", reads_only=True, limit="export")
async def export(ctx: RoomContext, letter: Letter, args: list[Token]) -> None:
    no_more(args)
    found = await _names(ctx, letter)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["signer", "signed_at"])
    for sig in found:
        writer.writerow([sig.user.id, utc_iso(sig.signed_at)])
    ctx.tell(
        f"{letter.ref}: {render.exact_count(len(found))}, attached as CSV. Keep it safe.",
        attachment=Attachment(f"{letter.ref.lower()}-signers.csv", out.getvalue().encode()),
        sensitive=bool(found),
    )
