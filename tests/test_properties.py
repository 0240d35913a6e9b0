"""Property tests: any line at all gets a private reply or nothing, never an exception."""

from __future__ import annotations

import asyncio
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.app import App
from bot.config import Config
from bot.core import Core
from bot.events import Command, Private, Room, User
from bot.syntax import UsageError, tokenize

WORDS = st.sampled_from(["new", "sign", "unsign", "status", "list", "signers", "organizer",
                         "announce", "close", "export", "forget-me", "privacy", "help", "L1",
                         "l2", "add", "remove", "link", "deadline", "visibility", "threshold",
                         "public", "count", "sealed", '"', "'", "“", "https://x.org", "-1"])
LINES = st.one_of(st.text(max_size=300), st.lists(st.one_of(WORDS, st.text(max_size=8)),
                                                  max_size=10).map(" ".join))


@given(LINES)
@settings(max_examples=300)
def test_the_tokenizer_returns_tokens_or_a_usage_error(line: str) -> None:
    try:
        tokens = tokenize(line)
    except UsageError as err:
        assert err.problem
    else:
        assert all(isinstance(t.text, str) for t in tokens)


@given(st.lists(LINES, min_size=1, max_size=5))
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_any_command_line_gets_a_private_reply_or_nothing(tmp_path: Path,
                                                          lines: list[str]) -> None:
    async def scenario() -> None:
        config = Config.model_validate({"bot": {"database": str(tmp_path / "p.db")}})
        app = App(config)
        await app.open()
        try:
            core: Core = app.core
            for i, line in enumerate(['new "seed" visibility public', *lines]):
                outcome = await core.dispatch(Command(
                    f"e{i}-{id(lines)}", User("console", "zed"), Room("console", "general"), line))
                for reply in outcome.replies:
                    if not isinstance(reply, Private):
                        # only new/announce/sign post in rooms, and only announcements
                        assert line.split()[0].lower() in {"new", "announce", "sign", "unsign",
                                                           "close", "forget-me"} or i == 0
        finally:
            await app.close()

    asyncio.run(scenario())
