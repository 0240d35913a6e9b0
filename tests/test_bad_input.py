"""Bad input through the core: refused, saying what was wrong, and nothing changed."""

from __future__ import annotations

import pytest

from bot.events import Post, Private, plain
from tests.support.bot import Bot


def _told(replies: list[object], who: str) -> str:
    return "\n".join(plain(r.body) for r in replies
                     if isinstance(r, Private) and r.user.id == who)


@pytest.mark.parametrize("when", ["tomorrow 25:99", "friday 17:75", "2026-12-01 24:00",
                                  "tomorrow 13pm"])
async def test_a_deadline_at_an_impossible_time_creates_no_letter(bot: Bot, when: str) -> None:
    replies = await bot.say("alice", f'new "T" deadline "{when}"')
    assert "is not a time of day" in _told(replies, "alice")
    assert not [r for r in replies if isinstance(r, Post)]
    async with bot.app.store.transaction() as tx:
        assert await tx.letter(1) is None


@pytest.mark.parametrize("command", ['review L1 friday 17:75', 'review L1 "tomorrow 25:99"',
                                     'remind L1 tomorrow 24:00 "Sign"',
                                     'remind L1 every day at 25:00 "Sign"',
                                     'remind L1 every monday at 9:60 "Sign"'])
async def test_a_review_or_reminder_at_an_impossible_time_schedules_nothing(
    bot: Bot, command: str
) -> None:
    await bot.new()
    replies = await bot.say("alice", command)
    assert "is not a time of day" in _told(replies, "alice")
    async with bot.app.store.transaction() as tx:
        assert await tx.schedule(1) is None

