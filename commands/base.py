"""What every command gets (the Context) and how a command declares itself (the registry).

A command says who may run it; the dispatcher (bot.core) resolves the letter (or the
review/reminder, whose letter then decides) and enforces the role before the command body
runs, so no body checks permissions by hand.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from bot.config import Config
from bot.events import Attachment, Edit, Post, Private, Reply, Rich, Room, Segment, User
from bot.model import Letter, Scheduled
from bot.tx import Tx
from commands import render
from commands.parser import Token

# "anyone": no check (signing works from any room, a direct message above all);
# "viewer": whoever may see the letter: in a room where it is announced, or its
# organizers and signers wherever they ask (elsewhere the letter does not exist);
# "organizer": its organizers and the admins.
Role = Literal["anyone", "viewer", "organizer"]
PLATFORMS = ("console", "slack", "matrix")


@dataclass
class Context:
    tx: Tx
    config: Config
    now: datetime
    user: User
    room: Room | None
    tz: str
    seen_by_room: bool = False
    message_ref: str | None = None
    letter: Letter | None = None
    reminder: Scheduled | None = None
    is_organizer: bool = False
    replies: list[Reply] = field(default_factory=list)
    erased: bool = False  # something was erased: fold the WAL so no bytes linger

    async def organizes(self) -> bool:
        """Whether the caller may act as an organizer of the resolved letter."""
        if not self.is_organizer and self.letter is not None:
            self.is_organizer = (await self.tx.is_organizer(self.letter.id, self.user)
                                 or self.is_admin)
        return self.is_organizer

    async def organizes_letter(self, letter_id: int) -> bool:
        """Whether the caller may act as an organizer of any letter (admins may)."""
        if self.letter is not None and self.letter.id == letter_id:
            return await self.organizes()
        return self.is_admin or await self.tx.is_organizer(letter_id, self.user)

    async def sees(self, letter_id: int) -> bool:
        """Whether the letter may be shown to the caller here: it is announced in this
        room, or the caller organizes it (admins do) or signed it."""
        return (
            (self.room is not None
             and await self.tx.is_announced_in(letter_id, self.room.unthreaded()))
            or await self.tx.has_signed(letter_id, self.user)
            or await self.organizes_letter(letter_id)
        )

    @property
    def is_admin(self) -> bool:
        admins = self.config.bot.admins
        return self.user.id in admins or self.user.key in admins

    def admin_users(self) -> list[User]:
        """The configured admins as users: ``platform:id`` as given, a bare id on every
        platform (an admin entry does not say which one it means)."""
        found: list[User] = []
        for entry in self.config.bot.admins:
            platform, _, ident = entry.partition(":")
            if platform in PLATFORMS and ident:
                found.append(User(platform, ident))
            else:
                found += [User(p, entry) for p in PLATFORMS]
        return found

    async def counted(self, letter: Letter) -> int:
        """Signatures that count toward a sealed letter's threshold: not those of its
        organizers or of the admins, who could otherwise sign to open it themselves."""
        people = [*await self.tx.organizers(letter.id), *self.admin_users()]
        return await self.tx.count_without(letter.id, people)

    async def sealed_shut(self, letter: Letter) -> bool:
        """A sealed letter whose names nobody may see yet: below its threshold (counted as
        above) and never opened. Once shown, a list stays open for good."""
        if letter.visibility != "sealed" or letter.opened:
            return False
        return await self.counted(letter) < (letter.threshold or 0)

    def tell(self, *body: Segment, attachment: Attachment | None = None,
             sensitive: bool = False, fallback: Rich | None = None) -> None:
        """A private reply to the person who acted. ``sensitive``: it names a signer or
        says that someone signed or withdrew; ``fallback``: a neutral body naming nobody,
        for where the sensitive one cannot go privately enough (see ``Private``)."""
        self.replies.append(Private(self.user, tuple(body), self.room, attachment,
                                    sensitive, fallback))

    def tell_user(self, user: User, *body: Segment, sensitive: bool = False,
                  fallback: Rich | None = None) -> None:
        """A private reply to someone else, outside any room (see ``tell``)."""
        self.replies.append(Private(user, tuple(body), None, None, sensitive, fallback))

    def post(self, room: Room, body: Rich, announces: int | None = None) -> None:
        self.replies.append(Post(room, body, announces))

    def the_reminder(self) -> Scheduled:
        assert self.reminder is not None, "the dispatcher resolves the reminder first"
        return self.reminder

    def the_letter(self) -> Letter:
        assert self.letter is not None, "the dispatcher resolves the letter first"
        return self.letter

    async def announcement(self, letter: Letter, platform: str) -> Rich:
        shown = await self.tx.count(letter.id) if letter.visibility == "public" else None
        return render.announcement(letter, self.config, platform, shown)

    async def update_announcements(self, letter: Letter, before: Letter | None = None) -> None:
        """Edit every announcement of the letter in place, on every platform.

        ``before`` is the letter as its announcements last showed it. An announcement
        whose text would not change is not edited: an edit alone, even to the same words,
        tells the room that something happened (say, that someone signed a letter that
        still reads "fewer than 3"). A public letter's announcement shows the live count,
        which ``before`` does not hold, so it is always edited."""
        fresh = await self.tx.letter(letter.id)
        if fresh is None:
            return
        if before is not None and "public" in (before.visibility, fresh.visibility):
            before = None
        for ann in await self.tx.announcements(letter.id):
            if ann.message_ref is not None:
                body = await self.announcement(fresh, ann.room.platform)
                if before is not None and body == await self.announcement(
                        before, ann.room.platform):
                    continue
                self.replies.append(Edit(ann.room, ann.message_ref, body, fresh.id))


Run = Callable[[Context, list[Token]], Awaitable[None]]


@dataclass(frozen=True)
class Spec:
    name: str
    usage: str
    summary: str
    role: Role
    run: Run
    takes_letter: bool
    takes_reminder: bool = False
    reads_only: bool = False  # changes nothing: may still answer while the store refuses writes
    letter_optional: bool = False  # the L<n> may be left out (``reminders [L<n>]``)
    # Refused in a direct room, with this reply: the command would store that room (which
    # names one person) or post into it later.
    not_in_direct: str | None = None


REGISTRY: dict[str, Spec] = {}


def command(
    name: str, usage: str, summary: str, *, role: Role = "anyone", takes_letter: bool = False,
    takes_reminder: bool = False, reads_only: bool = False, letter_optional: bool = False,
    not_in_direct: str | None = None,
) -> Callable[[Run], Run]:
    """Declare a subcommand. With ``takes_letter`` the first argument is a letter id that the
    dispatcher resolves (``letter_optional``: when there is one); ``role="organizer"`` or
    ``"viewer"`` implies it and is enforced there. With
    ``takes_reminder`` the first argument is an R<n> id instead, and the role is checked
    against the letter that review or reminder belongs to. ``reads_only`` declares that the
    command changes nothing, so it is answered even while the database refuses writes.
    ``not_in_direct`` is the reply that refuses it in a direct room, before anything else."""

    def register(run: Run) -> Run:
        REGISTRY[name] = Spec(name, usage, summary, role, run,
                              not takes_reminder and (takes_letter or role != "anyone"),
                              takes_reminder, reads_only, letter_optional, not_in_direct)
        return run

    return register
