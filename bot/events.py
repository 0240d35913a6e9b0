"""Neutral events and replies: the only language spoken between the core and the adapters.

An adapter turns a platform payload into one of the events below and hands it to
``App.handle``; the core answers with replies, which the App routes back to the adapter
of each reply's platform. Nothing here knows a platform.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, TypeAlias

Platform: TypeAlias = str  # "console", "slack", "matrix"


@dataclass(frozen=True)
class User:
    """Someone on a platform. ``id`` is the platform's own user id (never a display name)."""

    platform: Platform
    id: str

    @property
    def key(self) -> str:
        """The identity that is sealed in the store: platform and id together."""
        return f"{self.platform}:{self.id}"


@dataclass(frozen=True)
class Room:
    """Where something was said or is to be posted.

    ``thread`` is the thread root a reply should go to (Matrix threads); it is never stored.
    ``direct`` marks a one-to-one room with the bot.
    """

    platform: Platform
    id: str
    thread: str | None = None
    direct: bool = False

    @property
    def key(self) -> str:
        return f"{self.platform}:{self.id}"

    def unthreaded(self) -> Room:
        return Room(self.platform, self.id, None, self.direct)


# --- events: adapter -> core ------------------------------------------------------------


@dataclass(frozen=True)
class Standing:
    """What the platform says about whoever acted, found by the adapter (the core does no
    I/O): ``home``, the organisation they belong to (a Slack team id, a Matrix server
    name), which a letter's ``only`` is checked against; ``may_sign``, whether this
    bot's config lets such a person sign at all (Slack ``signers``, Matrix
    ``signer_servers``). Never stored."""

    home: str | None
    may_sign: bool = True


@dataclass(frozen=True)
class Command:
    """A command line typed by a user, prefix already removed (``sign L3``).

    ``seen_by_room`` is true when other people in the room can read the command itself
    (a Matrix message in a group room); false for Slack slash commands, buttons, DMs and
    the console. In-room commands may sign only public letters.
    ``tz`` is the caller's IANA zone when the platform knows it.
    """

    event_id: str
    user: User
    room: Room
    text: str
    seen_by_room: bool = False
    tz: str | None = None
    message_ref: str | None = None  # the command message itself, so it can be redacted
    standing: Standing | None = None  # None: the platform has no such notion (console)


@dataclass(frozen=True)
class Reaction:
    """A reaction added to or removed from a bot message.

    ``message_ref`` is the message reacted to; ``reaction_ref`` the reaction's own id where
    the platform has one (Matrix), so that its later redaction can be matched. A removal
    known only by ``reaction_ref`` (a Matrix redaction) has ``message_ref`` and ``emoji``
    empty.
    """

    event_id: str
    user: User
    room: Room
    message_ref: str
    emoji: str
    added: bool
    reaction_ref: str | None = None
    standing: Standing | None = None


DueKind: TypeAlias = Literal["refresh-counts", "schedule", "deadline"]


@dataclass(frozen=True)
class Due:
    """The scheduler's tick: something stored is due now. ``target`` is the id of the row
    it is about (the schedule R<n>, the letter whose deadline came), None for the count
    refresh."""

    event_id: str
    kind: DueKind
    target: int | None = None


Event: TypeAlias = Command | Reaction | Due


# --- rich text: what replies are made of ------------------------------------------------


@dataclass(frozen=True)
class Said:
    """Text that came from a user (a title, a note): every adapter escapes it."""

    text: str


@dataclass(frozen=True)
class Strong:
    """The bot's own text, emphasised."""

    text: str


@dataclass(frozen=True)
class Link:
    """A user-supplied http(s) URL, already validated."""

    url: str


@dataclass(frozen=True)
class Person:
    """A user named in a private reply (signers, export). Rendered without pinging."""

    user: User


@dataclass(frozen=True)
class Listed:
    """One signer in a signature block: the line they chose to be listed by (``line``),
    or, with none, ``user``, whose platform display name is looked up when the block is
    sent and never stored."""

    user: User
    line: str | None = None


_MARKDOWN = str.maketrans({c: "\\" + c for c in "\\`*_[]<>|~"})


@dataclass(frozen=True)
class Roster:
    """Signers one per line, in alphabetical order of the names shown: never in signing
    order. The core does no I/O and stores no display name, so it cannot sort them: the
    App looks up the display names with each signer's adapter as it sends the reply
    (``lines``) and replaces the roster by its lines. ``bullet`` starts each line;
    ``markdown`` escapes the names for Markdown."""

    entries: tuple[Listed, ...]
    bullet: str = ""
    markdown: bool = False

    def lines(self, names: Mapping[User, str]) -> tuple[Segment, ...]:
        """The roster as text, each display name from ``names`` (else the user id)."""
        shown = sorted((e.line if e.line is not None else names.get(e.user) or e.user.id
                        for e in self.entries), key=lambda text: (text.casefold(), text))
        out: list[Segment] = []
        for i, text in enumerate(shown):
            if i:
                out.append("\n")
            out += [self.bullet, Said(text.translate(_MARKDOWN) if self.markdown else text)]
        return tuple(out)


Segment: TypeAlias = str | Said | Strong | Link | Person | Roster
Rich: TypeAlias = tuple[Segment, ...]


def plain(body: Rich) -> str:
    """Rich text as plain text, for the console, logs of the bot's own and fallbacks."""
    out: list[str] = []
    for seg in body:
        if isinstance(seg, str):
            out.append(seg)
        elif isinstance(seg, Said | Strong):
            out.append(seg.text)
        elif isinstance(seg, Link):
            out.append(seg.url)
        elif isinstance(seg, Roster):
            out.append(plain(seg.lines({})))
        else:
            out.append(seg.user.id)
    return "".join(out)


# --- replies: core -> adapter -----------------------------------------------------------


@dataclass(frozen=True)
class Post:
    """A message to a room. ``announces`` is set on a letter's announcement: the adapter
    adds the platform's sign controls (Slack buttons) and returns the message ref, which the
    App stores so that the announcement can be edited in place later."""

    room: Room
    body: Rich
    announces: int | None = None

    @property
    def platform(self) -> Platform:
        return self.room.platform


@dataclass(frozen=True)
class Held:
    """One letter as the person it is shown to may see it (``mine``): what they hold in
    it, and its count as they may read it (see ``status``)."""

    letter_id: int
    title: str
    is_open: bool
    deadline: str | None  # already written in that person's zone
    count: str
    visibility: str
    organizes: bool
    signed: bool
    pledge: str | None = None  # the viewer's own pledge on it, in words; None: a signature

    @property
    def ref(self) -> str:
        return f"L{self.letter_id}"


@dataclass(frozen=True)
class Editable:
    """A letter's fields as ``edit`` changes them, for one of its organizers (``fields``):
    an adapter with forms fills its Edit form with them. ``deadline`` is already in that
    person's zone."""

    letter_id: int
    title: str
    link: str | None
    deadline: datetime | None
    visibility: str  # public, count or sealed
    threshold: int | None  # a sealed letter's


@dataclass(frozen=True)
class Private:
    """A message only ``user`` may see. ``context`` is the room the user acted in (Slack
    ephemeral messages need it); the adapter picks ephemeral or DM, never the room.

    ``sensitive`` marks a body that names a signer or says that someone signed or
    withdrew: an adapter whose direct messages can be read by others (exports of DMs)
    must not send it there when configured to avoid them. It sends ``fallback`` instead,
    a neutral body naming nobody, or nothing.

    ``refused`` is set on the answer to a refused command: the problem alone, so that an
    adapter with forms (Slack's modals) can show it beside the field it concerns.
    ``overview`` is set on the answer to ``mine``: the caller's letters, for an adapter
    with a private page of its own (Slack's Home tab); ``editable`` on the answer to
    ``fields``: a letter's fields, for an adapter with an Edit form. Others send ``body``."""

    user: User
    body: Rich
    context: Room | None = None
    attachment: Attachment | None = None
    sensitive: bool = False
    fallback: Rich | None = None
    refused: str | None = None
    overview: tuple[Held, ...] | None = None
    editable: Editable | None = None

    @property
    def platform(self) -> Platform:
        return self.user.platform


@dataclass(frozen=True)
class Attachment:
    filename: str
    content: bytes
    mimetype: str = "text/csv"


@dataclass(frozen=True)
class Edit:
    """Replace the text of an earlier bot message (an announcement) in place."""

    room: Room
    message_ref: str
    body: Rich
    announces: int | None = None

    @property
    def platform(self) -> Platform:
        return self.room.platform


@dataclass(frozen=True)
class Redact:
    """Remove someone's reaction or message that would reveal a signature (where allowed)."""

    room: Room
    event_ref: str
    reason: str = "Undersign: removed so that nobody can see who signed"

    @property
    def platform(self) -> Platform:
        return self.room.platform


Reply: TypeAlias = Post | Private | Edit | Redact
