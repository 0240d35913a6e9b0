"""Hostile text everywhere a user can put text — titles, review notes, reminder texts,
words quoted back in refusals — rendered by every adapter: nothing can ping a room,
mention anybody, link or format."""

from __future__ import annotations

import io
import re
import unicodedata
from datetime import timedelta

import pytest

from adapters import slack_translate
from adapters.console import ConsoleAdapter
from adapters.matrix_translate import notice
from adapters.matrix_translate import render as matrix_render
from bot.events import Edit, Link, Person, Post, Private, Reply, Said, Strong, plain
from bot.syntax import shorten
from commands.parser import clean_text, http_url
from tests.support.bot import Bot
from tests.support.state import NoState

HOSTILE = ('@room <!channel> <!here> <!everyone> <@U123> <http://evil.example|click> '
           '[x](http://evil.example) <a href="http://evil.example">a</a> *bold* _it_ ~st~ `code`')
MARKERS = ("@room", "<!", "<@U123", "evil", "<a ", "*bold*", "_it_", "~st~", "`code`")
LINK = "https://example.org/letter"
REFUSALS = ["sign <!channel>", "status <@U123>", "@room", "help *bold*",
            "new x link <http://evil.example|click>", "organizer L1 add <a href=x>",
            "remind L1 <!here> 'x'", "review L1 [x](http://evil.example)"]


async def _hostile_scenario(bot: Bot, platform: str) -> list[Reply]:
    olga, sam = ("U0OLGA0001", "U0SAM00001") if platform == "slack" else ("olga", "sam")

    async def say(who: str, text: str) -> None:
        await bot.say(who, text, platform=platform)

    await say(olga, f"new '{HOSTILE}' link {LINK} visibility public")
    await say(sam, "sign L1")
    await say(olga, "status L1")
    await say(olga, "list")
    await say(olga, f"review L1 in 2 days note '{HOSTILE}'")
    for audience in ("room", "signers", "organizers"):
        await say(olga, f"remind L1 in 1 hour '{HOSTILE}' to {audience}")
    await say(olga, "remind L1 every day at 9:00 'later'")
    await say(olga, "reminders L1")
    for refusal in REFUSALS:
        await say(olga, refusal)
    bot.clock.now += timedelta(hours=1, minutes=1)
    await bot.app.scheduler.catch_up()  # the three reminders
    bot.clock.now += timedelta(days=1, hours=22)
    await bot.app.scheduler.catch_up()  # the 1 h heads-up, then the review
    bot.clock.now += timedelta(hours=1)
    await bot.app.scheduler.catch_up()
    await say(olga, "close L1")
    return bot.sent


@pytest.fixture(params=["console", "slack", "matrix"])
async def replies(bot: Bot, request: pytest.FixtureRequest) -> list[Reply]:
    return await _hostile_scenario(bot, request.param)


def _texts(replies: list[Reply]) -> list[Post | Private | Edit]:
    return [r for r in replies if isinstance(r, Post | Private | Edit)]


def test_user_text_reaches_every_adapter_only_as_said(replies: list[Reply]) -> None:
    """The core marks every piece of user text as Said; the bot's own segments never
    carry it, so escaping it in the adapters is enough."""
    shown = [seg.text for r in _texts(replies) for seg in r.body if isinstance(seg, Said)]
    assert sum(HOSTILE in t for t in shown) >= 8, "title, note and texts were all shown"
    assert sum("<!channel>" in t for t in shown) >= 1, "a refusal quotes what was typed"
    said = [plain(r.body) for r in _texts(replies)]
    for fired in ("⏰ Reminder — L1", "⏰ Reminder about L1", "⏰ Reminder for the organizers",
                  "📅 Heads-up", "📅 Review of L1"):
        assert any(t.startswith(fired) and t.count(HOSTILE) >= 1 for t in said), fired
    for reply in _texts(replies):
        for seg in reply.body:
            if isinstance(seg, str | Strong):
                text = seg if isinstance(seg, str) else seg.text
                assert not any(m in text for m in MARKERS), (text, plain(reply.body))


def test_slack_text_and_blocks_carry_no_ping_mention_link_or_formatting(
    replies: list[Reply],
) -> None:
    people = {f"<@{seg.user.id}>" for r in _texts(replies) for seg in r.body
              if isinstance(seg, Person)}
    for reply in _texts(replies):
        text = slack_translate.render(reply.body)
        sections = [b["text"]["text"] for b in slack_translate.blocks(
            text, reply.announces if isinstance(reply, Post | Edit) else None)
            if b["type"] == "section"]
        for shown in [text, *sections]:
            assert set(re.findall(r"<[^>]*>", shown)) <= {f"<{LINK}>", *people}, shown
            for fragment in ("*bold*", "_it_", "~st~", "`code`"):
                assert fragment not in shown, shown
        if any(isinstance(s, Said) and "*bold*" in s.text for s in reply.body):
            assert "\u200b*\u200bbold\u200b*\u200b" in text, "formatting is broken up"


def test_matrix_body_and_html_carry_no_ping_mention_link_or_markup(
    replies: list[Reply],
) -> None:
    for reply in _texts(replies):
        body, html = matrix_render(reply.body)
        content = notice(body, html)
        assert content["m.mentions"] == {}
        assert "@room" not in body and "@room" not in html
        assert set(re.findall(r'<a href="([^"]*)"', html)) <= {LINK}
        assert set(re.findall(r"</?([a-z]+)", html)) <= {"a", "b", "br"}, html
        if any(isinstance(s, Link) for s in reply.body):
            assert f'<a href="{LINK}">' in html


async def test_the_console_prints_user_text_as_typed_on_its_own_lines(
    replies: list[Reply],
) -> None:
    out = io.StringIO()
    console = ConsoleAdapter(NoState(), stdin=io.StringIO(), stdout=out)
    for reply in _texts(replies):
        await console.send(reply)
    lines = out.getvalue().splitlines()
    assert any(HOSTILE in line for line in lines)
    # every line is a message head or its indented continuation: no line was forged
    assert all(re.match(r"^(\[[^\]]+\] |    )", line) for line in lines)


INVISIBLE_ONLY = ["\u2060", "\ufeff", "\u180e", "\u3164", "\u061c", "\u200b\u200d",
                  "\u2060 \ufeff \u180e \u3164", "\u115f\u1160\uffa0", "\u2800 \u3164",
                  "\u00ad\u202e\u2066"]


async def _no_letter(bot: Bot) -> None:
    async with bot.app.store.transaction() as tx:
        assert await tx.letter(1) is None


@pytest.mark.parametrize("title", INVISIBLE_ONLY)
async def test_a_title_of_invisible_characters_is_refused_and_creates_nothing(
    bot: Bot, title: str
) -> None:
    replies = await bot.say("olga", f'new "{title}" visibility public')
    assert not [r for r in replies if isinstance(r, Post)]
    told = "\n".join(plain(r.body) for r in replies if isinstance(r, Private))
    assert "The title is empty" in told and "Usage:" in told
    await _no_letter(bot)


@pytest.mark.parametrize("text", INVISIBLE_ONLY[:4])
async def test_invisible_notes_and_reminder_texts_are_refused(bot: Bot, text: str) -> None:
    await bot.say("olga", "new 'T'")
    for command, what in ((f"review L1 in 2 days note '{text}'", "note"),
                          (f"remind L1 in 2 days '{text}'", "reminder text")):
        replies = await bot.say("olga", command)
        told = "\n".join(plain(r.body) for r in replies if isinstance(r, Private))
        assert f"The {what} is empty" in told, told
    async with bot.app.store.transaction() as tx:
        assert await tx.schedule(1) is None


async def test_format_characters_are_stripped_from_titles_and_quoted_words(bot: Bot) -> None:
    title = "Pay\u061c \u2060fair\ufeff\u180e\u00ad \u202eleft\u202c \U000e0041tag"
    await bot.say("olga", f"new '{title}' visibility public")
    async with bot.app.store.transaction() as tx:
        letter = await tx.letter(1)
    assert letter is not None and letter.title == "Pay fair left tag"
    replies = await bot.say("olga", "st\u2060a\u061ctus\u202e L1 x")
    told = "\n".join(plain(r.body) for r in replies if isinstance(r, Private))
    assert "'status'" in told and not any(unicodedata.category(c) == "Cf" for c in told)


def test_a_zero_width_joiner_is_kept_inside_emoji_and_only_there() -> None:
    family, rainbow = "👩\u200d👩\u200d👧", "🏳️\u200d🌈"
    assert clean_text(f"Parents {family} {rainbow}", what="title", limit=200) == (
        f"Parents {family} {rainbow}")
    assert clean_text("a\u200db \u200d👩 👩\u200d", what="title", limit=200) == "ab 👩 👩"
    assert shorten("x\u200dy\u2060z") == "xyz"


@pytest.mark.parametrize("link", ["https://user:pw@example.org/", "https://user@example.org/x",
                                  "http://:pw@example.org", "https://@example.org/"])
async def test_a_link_with_credentials_is_refused_without_quoting_them(
    bot: Bot, link: str
) -> None:
    replies = await bot.say("olga", f"new 'T' link {link}")
    told = "\n".join(plain(r.body) for r in replies if isinstance(r, Private))
    assert "user name or password" in told and "pw" not in told and "user@" not in told
    await _no_letter(bot)
    assert http_url("https://example.org/a@b?c=d@e") == "https://example.org/a@b?c=d@e"
