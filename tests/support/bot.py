"""The App driven the way adapters drive it: a recording adapter per platform, a clock the
test sets, and readers for what each person saw."""

from __future__ import annotations

import base64
import itertools
import uuid
from datetime import UTC, datetime, timedelta

from adapters.base import Handler
from bot.app import App
from bot.events import (
    Command,
    Edit,
    Post,
    Private,
    Reaction,
    Redact,
    Reply,
    Room,
    Standing,
    User,
    plain,
)

TEST_KEY = base64.urlsafe_b64encode(b"k" * 32).decode()


class RecordingAdapter:
    """A stand-in platform that keeps what the bot sent and numbers its posts."""

    def __init__(self, platform: str) -> None:
        self.platform = platform
        self.sent: list[Reply] = []
        self.announced: dict[tuple[int, str], str] = {}
        self.display_names: dict[str, str] = {}  # user id -> the name the platform shows
        self.looked_up: list[str] = []  # user ids whose display name was asked, in order
        self._refs = itertools.count(1)

    async def start(self, handle: Handler) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def display_name(self, user: User) -> str | None:
        self.looked_up.append(user.id)
        return self.display_names.get(user.id)

    async def send(self, reply: Reply) -> str | None:
        self.sent.append(reply)
        if isinstance(reply, Post):
            ref = f"{self.platform}-msg-{next(self._refs)}"
            if reply.announces is not None:
                self.announced[reply.announces, reply.room.id] = ref
            return ref
        return None


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


class Bot:
    """Drives the App the way adapters do, and reads back what each person saw."""

    def __init__(self, app: App, recorders: dict[str, RecordingAdapter], clock: Clock) -> None:
        self.app = app
        self.recorders = recorders
        self.clock = clock

    @property
    def sent(self) -> list[Reply]:
        return [r for rec in self.recorders.values() for r in rec.sent]

    def clear(self) -> None:
        for rec in self.recorders.values():
            rec.sent.clear()

    async def say(self, who: str, text: str, *, platform: str = "console",
                  room: str = "general", seen_by_room: bool = False,
                  event_id: str | None = None, direct: bool = False,
                  standing: Standing | None = None, tz: str | None = None) -> list[Reply]:
        before = {p: len(r.sent) for p, r in self.recorders.items()}
        await self.app.handle(Command(
            event_id or str(uuid.uuid4()), User(platform, who), Room(platform, room, direct=direct),
            text, seen_by_room=seen_by_room, message_ref=f"cmd-{uuid.uuid4()}",
            standing=standing, tz=tz,
        ))
        return [r for p, rec in self.recorders.items() for r in rec.sent[before[p]:]]

    async def react(self, who: str, message_ref: str, emoji: str = "✍️", *, added: bool = True,
                    platform: str = "console", room: str = "general",
                    reaction_ref: str | None = None,
                    standing: Standing | None = None) -> list[Reply]:
        before = {p: len(r.sent) for p, r in self.recorders.items()}
        await self.app.handle(Reaction(str(uuid.uuid4()), User(platform, who),
                                       Room(platform, room), message_ref, emoji, added,
                                       reaction_ref, standing))
        return [r for p, rec in self.recorders.items() for r in rec.sent[before[p]:]]

    async def new(self, who: str = "alice", options: str = "", **kw: object) -> str:
        replies = await self.say(who, f'new "A letter" {options}', **kw)  # type: ignore[arg-type]
        posts = [r for r in replies if isinstance(r, Post)]
        assert posts, [plain_of(r) for r in replies]
        return f"L{posts[0].announces}"

    def announcement_ref(self, letter: str, platform: str = "console",
                         room: str = "general") -> str:
        return self.recorders[platform].announced[int(letter[1:]), room]


async def at(bot: Bot, moment: datetime) -> list[Reply]:
    """Move the clock to ``moment`` and let every timer due by then fire."""
    bot.clock.now = moment
    before = {p: len(r.sent) for p, r in bot.recorders.items()}
    await bot.app.scheduler.catch_up()
    return [r for p, rec in bot.recorders.items() for r in rec.sent[before[p]:]]


async def later(bot: Bot, **delta: float) -> list[Reply]:
    return await at(bot, bot.clock.now + timedelta(**delta))


def plain_of(reply: Reply) -> str:
    if isinstance(reply, Redact):
        return f"<redact {reply.event_ref}>"
    return plain(reply.body)


def privately(replies: list[Reply], who: str) -> str:
    return "\n".join(plain(r.body) for r in replies if isinstance(r, Private) and r.user.id == who)


def in_rooms(replies: list[Reply]) -> list[Post | Edit]:
    return [r for r in replies if isinstance(r, Post | Edit)]
