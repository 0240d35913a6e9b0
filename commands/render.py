"""How letters read: announcements, status lines, counts, times."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from bot.config import Config
from bot.events import Link, Listed, Rich, Roster, Said, Segment, Strong
from bot.model import Letter, Signature, Visibility
from bot.platform import PlatformWords

VISIBILITY = {
    Visibility.PUBLIC: "public — anyone can see who signed",
    Visibility.COUNT: "count only — the count is public, names go to the organizers only",
    Visibility.SEALED: "sealed — nobody, organizers included, sees any name until {n} have signed",
}


# Told to the signers of a sealed letter whose list has been shown (it never re-seals).
OPENED = ("This sealed letter's list has been opened: its organizers can see the names "
          "of everyone who signed.")


# Told to a pledger whose pledge counted once and no longer does.
SHOWN_BEFORE = ("It counted before: while it did, your name could be seen as any "
                "signer's, and whoever saw it keeps it.")


def when(moment: datetime, tz: str) -> str:
    local = moment.astimezone(ZoneInfo(tz))
    return local.strftime("%a %Y-%m-%d %H:%M ") + tz


def who_may_sign(letter: Letter) -> str:
    """A letter's ``only``, in words (server names and team ids are not user text: they
    were checked to be one)."""
    return "people of " + ", ".join(letter.only) if letter.only else "anyone here"


def visibility(letter: Letter) -> str:
    return VISIBILITY[letter.visibility].format(n=letter.threshold)


def public_count(letter: Letter, live: int | None) -> str:
    """The count anyone may see. Public letters show the live count; others show the
    count last refreshed by the timer, and 'fewer than 3' below 3. Then the pledges
    waiting, as the timer last showed them."""
    if letter.is_public and live is not None:
        n = live
    else:
        n = letter.shown_count
        if n < 3:
            return "fewer than 3 signatures" + waiting_pledges(letter)
    return exact_count(n) + waiting_pledges(letter)


def exact_count(n: int) -> str:
    return f"{n:,} signature" + ("" if n == 1 else "s")


def waiting_pledges(letter: Letter) -> str:
    """The pledges waiting, on the refresh timer, grouped under the smallest condition
    not yet met and no finer: " · 8 more pledged to sign once 20 have"."""
    n, at = letter.shown_pledged, letter.shown_waiting
    if not n or at is None:
        return ""
    many = "fewer than 3" if n < 3 else f"{n:,}"
    return f" · {many} more pledged to sign once {at:,} have"


def how_to_sign(letter: Letter, words: PlatformWords, sign_emoji: str) -> str:
    private = words.sign_privately.format(cmd=f"{words.prefix} sign {letter.ref}")
    if letter.is_public:
        return f"How to sign: react with {sign_emoji}, or {private}."
    return (
        f"How to sign privately: {private}. "
        "Reactions here would show your name, so they do not count."
    )


def announcement(letter: Letter, config: Config, words: PlatformWords, live: int | None) -> Rich:
    body: list[Segment] = ["📝 ", Strong(f"{letter.ref}: "), Said(letter.title), "\n"]
    if letter.link:
        body += ["Read it: ", Link(letter.link), "\n"]
    if letter.version > 1 and letter.is_open:
        body.append(f"Version {letter.version}: signatures of earlier versions count once "
                    "their signers sign again.\n")
    elif letter.version > 1:
        body.append(f"Version {letter.version}\n")
    if letter.deadline:
        body.append(f"Deadline: {when(letter.deadline, config.bot.timezone)}\n")
    body.append(f"Visibility: {visibility(letter)}\n")
    if letter.only:
        body.append(f"Who may sign: {who_may_sign(letter)}\n")
    if letter.is_open:
        body.append(f"So far: {public_count(letter, live)}\n")
        body.append(how_to_sign(letter, words, config.bot.sign_emoji))
    else:
        body.append(f"Closed: {public_count(letter, live)}. Thank you to everyone who signed.")
    return tuple(body)


def status(letter: Letter, config: Config, tz: str, count: str) -> list[Segment]:
    body: list[Segment] = [Strong(f"{letter.ref}: "), Said(letter.title), "\n"]
    if letter.link:
        body += ["Link: ", Link(letter.link), "\n"]
    if letter.version > 1:
        body.append(f"Version: {letter.version}\n")
    body.append(f"State: {'open' if letter.is_open else 'closed'}\n")
    if letter.deadline:
        body.append(f"Deadline: {when(letter.deadline, tz)}\n")
    body.append(f"Visibility: {visibility(letter)}\n")
    if letter.only:
        body.append(f"Who may sign: {who_may_sign(letter)}\n")
    body.append(f"Count: {count}")
    return body


def others(k: int) -> str:
    return f"and {k} other{'' if k == 1 else 's'} who asked not to be named"


def signature_block(letter: Letter, signatures: list[Signature], now: datetime, *,
                    markdown: bool = False) -> list[Segment]:
    """The document organizers submit: title, link, version, date (UTC), "Signed by N:",
    one line per named signer of the current version in alphabetical order of how they
    are listed (a ``Roster``: display names are filled in and sorted as it is sent), those
    who asked not to be named as a number, and how many signers of an earlier version
    have not confirmed this one."""
    current = [s for s in signatures if s.current(letter)]
    named = Roster(tuple(Listed(s.user, s.listing) for s in current if not s.anonymous),
                   "- " if markdown else "", markdown)
    unnamed = len(current) - len(named.entries)
    earlier = len(signatures) - len(current)
    dated = f"Version {letter.version} · {now.astimezone(UTC):%Y-%m-%d} (UTC)"
    body: list[Segment] = ["# " if markdown else "", Said(letter.title), "\n"]
    if letter.link:
        body += ["<" if markdown else "", Link(letter.link), ">" if markdown else "", "\n"]
    gap = "\n\n" if markdown else "\n"
    body.append(f"{'*' if markdown else ''}{dated}{'*' if markdown else ''}\n\n")
    body.append(f"**Signed by {len(current)}:**" if markdown else f"Signed by {len(current)}:")
    if named.entries:
        body += [gap, named]
    if unnamed:
        body.append(gap + others(unnamed))
    if earlier:
        body.append(f"\n\n{earlier} signer{' has' if earlier == 1 else 's have'} signed an "
                    "earlier version and not confirmed this one (not counted above).")
    return body
