"""Abuse limits not covered elsewhere: reviews and reminders per hour, the link cap."""

from __future__ import annotations

from tests.support.bot import Bot, privately


async def test_reviews_and_reminders_share_a_per_hour_limit(bot: Bot) -> None:
    bot.app.config.bot.remind_per_hour = 2
    letter = await bot.new("alice")
    await bot.say("alice", f'remind {letter} in 2 hours "one"')
    await bot.say("alice", f"review {letter} in 3 days")
    told = privately(await bot.say("alice", f'remind {letter} in 4 hours "three"'), "alice")
    assert "2 times in the last hour" in told and "Usage:" in told
    assert "three" not in privately(await bot.say("alice", f"reminders {letter}"), "alice")


async def test_a_link_longer_than_2000_characters_is_refused(bot: Bot) -> None:
    link = "https://example.org/" + "a" * 1981
    told = privately(await bot.say("alice", f'new "x" link {link}'), "alice")
    assert "at most 2,000" in told
    assert "Created" in privately(await bot.say("alice", f'new "x" link {link[:-1]}'), "alice")
