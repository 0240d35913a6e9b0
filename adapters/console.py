"""The console: the bot in a terminal or a pipe, for trying it and for tests.

Input lines are ``NAME> TEXT`` (or ``TEXT``, typed as ``you``); TEXT is a command as on
Slack (``/undersign sign L1``) or ``:react M EMOJI`` / ``:unreact M EMOJI`` on bot message
M. Room messages print as ``[general #M] …``, private ones as ``[to NAME] …``.
"""

from __future__ import annotations

import asyncio
import re
import sys
import uuid
from typing import TextIO

from adapters.base import Handler, StateStore
from bot.events import (
    Command,
    Edit,
    Event,
    Post,
    Private,
    Reaction,
    Redact,
    Reply,
    Room,
    User,
    plain,
)
from bot.platform import PlatformWords, console_words

ROOM = Room("console", "general")
PREFIX = "/undersign"


def words() -> PlatformWords:
    """The console's words for the commands (bot.platform)."""
    return console_words(PREFIX)

_LINE = re.compile(r"^\s*([\w.\-]{1,32})>\s?(.*)$", re.DOTALL)
_REACT = re.compile(r"^:(react|unreact)\s+#?(\d{1,9})\s+(\S+)\s*$")


class ConsoleAdapter:
    platform = "console"

    def __init__(self, state: StateStore, stdin: TextIO | None = None,
                 stdout: TextIO | None = None) -> None:
        self.state = state
        self.stdin = stdin or sys.stdin
        self.stdout = stdout or sys.stdout
        self.finished = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._next = 1

    async def start(self, handle: Handler) -> None:
        self._next = int(await self.state.get_state("console.next_message") or "1")
        self._task = asyncio.create_task(self._read(handle), name="console-input")

    async def stop(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()

    async def _read(self, handle: Handler) -> None:
        interactive = self.stdin.isatty()
        try:
            while True:
                if interactive:
                    self.stdout.write("> ")
                    self.stdout.flush()
                line = await asyncio.to_thread(self.stdin.readline)
                if not line:
                    break
                event = self.translate(line.rstrip("\r\n"))
                if event is not None:
                    await handle(event)
        finally:
            self.finished.set()

    def translate(self, line: str) -> Event | None:
        """One input line to a neutral event (or a local answer printed at once)."""
        match = _LINE.match(line)
        name, text = (match.group(1), match.group(2)) if match else ("you", line)
        text = text.strip()
        user = User("console", name)
        event_id = f"console:{uuid.uuid4()}"
        if not text:
            return None
        if text.split(maxsplit=1)[0].lower() == PREFIX:
            return Command(event_id, user, ROOM, text[len(PREFIX):].strip())
        react = _REACT.match(text)
        if react:
            number = int(react.group(2))
            if not 1 <= number < self._next:
                self._print(f"[to {name}]", f"There is no message #{number}.")
                return None
            return Reaction(event_id, user, ROOM, str(number), react.group(3),
                            added=react.group(1) == "react")
        if text.startswith(":"):
            self._print(f"[to {name}]", "Console actions: :react M EMOJI, :unreact M EMOJI.")
        else:
            self._print(f"[to {name}]",
                        f"Commands start with {PREFIX}; try {PREFIX} help.")
        return None

    def _print(self, head: str, text: str) -> None:
        lines = text.split("\n") or [""]
        self.stdout.write(f"{head} {lines[0]}\n")
        for more in lines[1:]:
            self.stdout.write(f"    {more}\n")
        self.stdout.flush()

    async def display_name(self, user: User) -> str | None:
        """On the console a person is the NAME they type."""
        return user.id

    async def send(self, reply: Reply) -> str | None:
        if isinstance(reply, Post):
            number = self._next
            self._next += 1
            await self.state.set_state("console.next_message", str(self._next))
            self._print(f"[{reply.room.id} #{number}]", plain(reply.body))
            return str(number)
        if isinstance(reply, Edit):
            self._print(f"[{reply.room.id} #{reply.message_ref}]", plain(reply.body))
            return reply.message_ref
        if isinstance(reply, Private):
            text = plain(reply.body)
            if reply.attachment is not None:
                text += f"\n--- {reply.attachment.filename} ---\n"
                text += reply.attachment.content.decode("utf-8").rstrip("\n")
            self._print(f"[to {reply.user.id}]", text)
            return None
        if isinstance(reply, Redact):
            return None
        return None
