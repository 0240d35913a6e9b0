"""What a command or a timer is handed: the open transaction, the time, who acted and
where, and the replies it builds. The dispatcher (bot.core) makes one per event: a
``RoomContext`` for a command or a reaction, a plain ``Context`` for the scheduler's
events, which come from no room and no person."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from bot.config import Config
from bot.events import Attachment, Post, Private, Reply, Rich, Room, Segment, Standing, User
from bot.model import Letter
from bot.platform import PlatformWords, console_words
from bot.registry import AnySpec
from bot.tx import Tx

# Who acts when the scheduler does: never a person, never stored.
SYSTEM = User("undersign", "scheduler")


@dataclass
class Context:
    tx: Tx
    config: Config
    now: datetime
    user: User
    room: Room | None
    tz: str
    platforms: Mapping[str, PlatformWords] = field(default_factory=dict)
    commands: Mapping[str, AnySpec] = field(default_factory=dict)  # for help
    seen_by_room: bool = False
    message_ref: str | None = None
    standing: Standing | None = None  # what the platform says of who acted (never stored)
    letter: Letter | None = None  # the letter the command names, once resolved
    is_organizer: bool = False
    replies: list[Reply] = field(default_factory=list)
    erased: bool = False  # something was erased: fold the WAL so no bytes linger

    def words(self, platform: str | None = None) -> PlatformWords:
        """How ``platform`` (the caller's by default) describes itself."""
        found = self.platforms.get(platform or self.user.platform)
        return found if found is not None else console_words()

    async def organizes_letter(self, letter_id: int) -> bool:
        """Whether the caller may act as an organizer of the letter (admins may). For the
        letter the command names, the dispatcher's answer is kept in ``is_organizer``."""
        if self.letter is not None and self.letter.id == letter_id:
            if not self.is_organizer:
                self.is_organizer = (self.is_admin
                                     or await self.tx.is_organizer(letter_id, self.user))
            return self.is_organizer
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
        platforms = sorted({"console", *self.platforms})
        found: list[User] = []
        for entry in self.config.bot.admins:
            platform, _, ident = entry.partition(":")
            if platform in platforms and ident:
                found.append(User(platform, ident))
            else:
                found += [User(p, entry) for p in platforms]
        return found

    async def counted(self, letter: Letter) -> int:
        """Signatures that count toward a sealed letter's threshold: not those of its
        organizers or of the admins, who could otherwise sign to open it themselves."""
        people = [*await self.tx.organizers(letter.id), *self.admin_users()]
        return await self.tx.count_without(letter.id, people)

    async def sealed_shut(self, letter: Letter) -> bool:
        """A sealed letter whose names nobody may see yet: below its threshold (counted as
        above) and never opened. Once shown, a list stays open for good."""
        if not letter.is_sealed or letter.opened:
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


@dataclass
class RoomContext(Context):
    """A command's or a reaction's context: someone acted, in a room."""

    room: Room
