"""Reviews, reminders and deadlines through the core, with a clock the tests move.

``Scheduler.catch_up`` hands the core every timer due by the clock, exactly as the armed
jobs do in a running bot, so these tests exercise the same road without waiting.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from bot.app import App
from bot.config import Config
from bot.events import Command, Post, Private, Reply, Room, User, plain
from tests.support.bot import Bot, RecordingAdapter, at, in_rooms, later, privately


async def rows(bot: Bot) -> list[int]:
    async with bot.app.store.transaction() as tx:
        return [s.id for s in await tx.schedules()]


def posts(replies: list[Reply]) -> list[str]:
    return [plain(r.body) for r in replies if isinstance(r, Post)]


async def say_in(bot: Bot, who: str, text: str, tz: str) -> list[Reply]:
    before = len(bot.recorders["console"].sent)
    await bot.app.handle(Command(str(uuid.uuid4()), User("console", who),
                                 Room("console", "general"), text, tz=tz))
    return bot.recorders["console"].sent[before:]


# --- permissions ----------------------------------------------------------------------------


async def test_only_organizers_schedule_and_cancel_and_anyone_lists(bot: Bot) -> None:
    letter = await bot.new("alice")
    for command in (f'remind {letter} in 2 hours "x"', f"review {letter} tomorrow 15:00"):
        replies = await bot.say("bob", command)
        assert "Only the organizers of L1 can do that." in privately(replies, "bob")
    assert await rows(bot) == []
    await bot.say("alice", f'remind {letter} in 2 hours "Sign by Friday"')
    listing = privately(await bot.say("bob", "reminders"), "bob")
    assert "R1 L1 reminder in the room" in listing and "Sign by Friday" in listing
    assert "R1" in privately(await bot.say("bob", f"reminders {letter}"), "bob")
    assert "Only the organizers of L1" in privately(await bot.say("bob", "cancel R1"), "bob")
    assert await rows(bot) == [1]
    await bot.say("alice", "organizer L1 add carol")
    assert "Cancelled R1" in privately(await bot.say("carol", "cancel r1"), "carol")
    assert await rows(bot) == []


async def test_an_admin_may_cancel_any_reminder(bot: Bot) -> None:
    letter = await bot.new("alice")
    await bot.say("alice", f'remind {letter} in 2 hours "x"')
    assert "Cancelled R1" in privately(await bot.say("root", "cancel R1"), "root")


@pytest.mark.parametrize(("command", "problem"), [
    ('remind L1 every 0 minutes "x"', "at least 1 minute apart"),
    ('remind L1 every cron "0 9 * * 1-5 1" "x"', "exactly five fields"),
    ('remind L1 every cron 0 9 * * * 1 "x"', "exactly five fields"),
    ('remind L1 yesterday 10:00 "x"', "is in the past"),
    ('remind L1 2020-01-01 10:00 "x"', "is in the past"),
    ('review L1 2020-01-01 10:00', "is in the past"),
    ('remind L1 when pigs fly "x"', "could not read"),
    ('review L1 note "x"', "When?"),
    ("remind L1 in 2 hours unquoted text", "Put the reminder text in quotes"),
    ('remind L1 in 2 hours "x" to everyone', "to room, to signers or to organizers"),
    ('remind L1 in 2 hours "x" "y"', "to room, to signers or to organizers"),
    ('remind L1 every "x"', "How often?"),
    ('remind L1 in 2 hours "' + "x" * 1001 + '"', "at most 1,000 are allowed"),
    ('remind L1 in 2 hours "' + "x" * 100_000 + '"', "a command may have at most 4,000"),
    ('review L1 in 2 hours note "' + "x" * 1001 + '"', "at most 1,000 are allowed"),
    ('remind L1 in 2 hours "   "', "is empty"),
    ('remind L9 in 2 hours "x"', "There is no letter L9."),
    ("reminders L9", "There is no letter L9."),
    ("reminders R1", "is not a letter id"),
    ("cancel R1", "There is no review or reminder R1."),
    ("cancel L1", "is not a reminder id"),
    ("cancel", "Which review or reminder?"),
])
async def test_bad_input_gets_a_clear_private_reply_and_changes_nothing(
    bot: Bot, command: str, problem: str
) -> None:
    await bot.new("alice")
    replies = await bot.say("alice", command)
    assert not in_rooms(replies)
    text = privately(replies, "alice")
    assert problem in text and "Usage:" in text
    assert await rows(bot) == []


async def test_a_closed_letter_takes_no_reviews_or_reminders(bot: Bot) -> None:
    letter = await bot.new("alice")
    await bot.say("alice", f"close {letter}")
    for command in (f'remind {letter} in 2 hours "x"', f"review {letter} in 2 days"):
        assert "L1 is closed" in privately(await bot.say("alice", command), "alice")
    assert await rows(bot) == []


# --- firing -------------------------------------------------------------------------------


async def test_a_reminder_fires_once_in_the_room_where_it_was_set_then_is_gone(bot: Bot) -> None:
    letter = await bot.new("alice")
    await bot.say("alice", f"announce {letter}", room="other")
    replies = await bot.say("alice", f'remind {letter} in 2 hours "Last call!"', room="other")
    assert "Scheduled R1" in privately(replies, "alice")
    assert await later(bot, hours=1, minutes=59) == []
    replies = await later(bot, minutes=1)
    assert [(r.room.id, plain(r.body)) for r in replies if isinstance(r, Post)] == [
        ("other", "⏰ Reminder — L1 A letter: Last call!")]
    assert await later(bot, hours=5) == []
    assert await rows(bot) == []
    assert "No reviews or reminders" in privately(await bot.say("bob", "reminders L1"), "bob")


async def test_a_due_time_fires_at_most_once_however_often_its_event_comes(bot: Bot) -> None:
    letter = await bot.new("alice")
    await bot.say("alice", f'remind {letter} every 2 hours "Again"')
    bot.clock.now += timedelta(hours=2)
    from bot.scheduler import plan

    event = (await plan(bot.app.store))[0].event
    bot.clear()
    for _ in range(3):
        await bot.app.handle(event)
    assert posts(bot.sent) == ["⏰ Reminder — L1 A letter: Again"]


async def test_audiences_room_signers_and_organizers(bot: Bot) -> None:
    letter = await bot.new("alice")
    await bot.say("alice", f"organizer {letter} add olga")
    await bot.say("bob", f"sign {letter}")
    await bot.say("carol", f"sign {letter}", platform="matrix", room="!r:x")
    await bot.say("alice", f'remind {letter} in 1 hour "to the room"')
    await bot.say("alice", f'remind {letter} in 1 hour "to signers" to signers')
    await bot.say("alice", f'remind {letter} in 1 hour "to organizers" to organizers')
    replies = await later(bot, hours=1)
    assert posts(replies) == ["⏰ Reminder — L1 A letter: to the room"]
    private = [(r.user.key, plain(r.body)) for r in replies if isinstance(r, Private)]
    assert sorted(private) == [
        ("console:alice", "⏰ Reminder for the organizers of L1 A letter: to organizers"),
        ("console:bob", "⏰ Reminder about L1 A letter: to signers"),
        ("console:olga", "⏰ Reminder for the organizers of L1 A letter: to organizers"),
        ("matrix:carol", "⏰ Reminder about L1 A letter: to signers"),
    ]
    for reply in in_rooms(replies):
        assert "to signers" not in plain(reply.body) and "organizers" not in plain(reply.body)


async def test_a_review_is_announced_with_heads_ups_24_h_and_1_h_before(bot: Bot) -> None:
    letter = await bot.new("alice")
    replies = await bot.say("alice", f'review {letter} 2026-11-29 15:00 note "Bring draft v2"')
    assert "heads-ups 24 h and 1 h before" in privately(replies, "alice")
    assert await at(bot, datetime(2026, 11, 28, 14, 59, tzinfo=UTC)) == []
    assert posts(await at(bot, datetime(2026, 11, 28, 15, 0, tzinfo=UTC))) == [
        "📅 Heads-up: the review of L1 A letter is in 24 hours, at Sun 2026-11-29 15:00 UTC.\n"
        "Note: Bring draft v2"]
    assert posts(await at(bot, datetime(2026, 11, 29, 14, 0, tzinfo=UTC))) == [
        "📅 Heads-up: the review of L1 A letter is in 1 hour, at Sun 2026-11-29 15:00 UTC.\n"
        "Note: Bring draft v2"]
    assert posts(await at(bot, datetime(2026, 11, 29, 15, 0, tzinfo=UTC))) == [
        "📅 Review of L1 A letter — it starts now.\nNote: Bring draft v2"]
    assert await later(bot, days=2) == [] and await rows(bot) == []


async def test_a_review_soon_gets_only_the_heads_ups_still_ahead(bot: Bot) -> None:
    letter = await bot.new("alice")
    replies = await bot.say("alice", f"review {letter} in 3 hours")
    assert "heads-ups 1 h before" in privately(replies, "alice")
    assert posts(await later(bot, hours=2)) == [
        "📅 Heads-up: the review of L1 A letter is in 1 hour, at Thu 2026-11-26 15:00 UTC."]
    assert posts(await later(bot, hours=1)) == ["📅 Review of L1 A letter — it starts now."]


async def test_an_every_reminder_repeats_and_stops_at_cancel(bot: Bot) -> None:
    letter = await bot.new("alice")
    await bot.say("alice", f'remind {letter} every 2 hours "Keep signing"')
    for _ in range(3):
        assert posts(await later(bot, hours=2)) == ["⏰ Reminder — L1 A letter: Keep signing"]
    await bot.say("alice", "cancel R1")
    assert await later(bot, hours=6) == []


async def test_a_cron_reminder_follows_its_schedule(bot: Bot) -> None:
    letter = await bot.new("alice")
    await bot.say("alice", f'remind {letter} every cron "0 9 * * 1-5" "Weekday nudge"')
    fired = []
    for _ in range(7 * 24):
        if posts(await later(bot, hours=1)):
            fired.append(bot.clock.now.strftime("%a %H:%M"))
    # Thu 26 Nov 2026 12:00 → the next seven days: Fri, Mon, Tue, Wed, Thu at 09:00
    assert fired == ["Fri 09:00", "Mon 09:00", "Tue 09:00", "Wed 09:00", "Thu 09:00"]


async def test_daylight_saving_keeps_a_daily_reminder_at_nine_local(bot: Bot) -> None:
    letter = await bot.new("alice")
    bot.clock.now = datetime(2027, 3, 26, 12, 0, tzinfo=UTC)  # Berlin moves to CEST on 28 March
    replies = await say_in(bot, "alice", f'remind {letter} every day at 9:00 "Morning"',
                           "Europe/Berlin")
    assert "first at Sat 2027-03-27 09:00 Europe/Berlin" in privately(replies, "alice")
    fired = []
    for _ in range(3 * 24 * 4):
        if posts(await later(bot, minutes=15)):
            fired.append(bot.clock.now)
    assert fired == [datetime(2027, 3, 27, 8, 0, tzinfo=UTC),   # 09:00 CET
                     datetime(2027, 3, 28, 7, 0, tzinfo=UTC),   # 09:00 CEST
                     datetime(2027, 3, 29, 7, 0, tzinfo=UTC)]
    listing = privately(await say_in(bot, "bob", "reminders", "Europe/Berlin"), "bob")
    assert "next Tue 2027-03-30 09:00 Europe/Berlin" in listing
    assert "every day at 09:00 (Europe/Berlin)" in listing


async def test_the_listing_shows_times_in_the_callers_zone(bot: Bot) -> None:
    letter = await bot.new("alice")
    await bot.say("alice", f'remind {letter} 2026-12-01 15:00 "x" to signers')
    listing = privately(await say_in(bot, "alice", "reminders", "America/New_York"), "alice")
    assert "R1 L1 reminder to each signer privately, next Tue 2026-12-01 10:00 " \
           "America/New_York: x" in listing
    listing = privately(await say_in(bot, "bob", "reminders", "America/New_York"), "bob")
    assert "R1 L1 reminder to each signer privately, next Tue 2026-12-01 10:00 " \
           "America/New_York (its text is for the organizers only)" in listing


# --- deadlines and closing ------------------------------------------------------------------


async def test_at_the_deadline_the_letter_closes_as_with_close_and_its_reminders_go(
    bot: Bot
) -> None:
    letter = await bot.new("alice", "deadline 2026-11-27 17:00")
    await bot.say("bob", f"sign {letter}")
    await bot.say("alice", f'remind {letter} every 1 hours "Sign!"')
    await at(bot, datetime(2026, 11, 27, 16, 30, tzinfo=UTC))
    replies = await at(bot, datetime(2026, 11, 27, 17, 0, tzinfo=UTC))
    assert "L1 closed. Its signature block:" in privately(replies, "alice")
    assert "Signed by 1:\nbob" in privately(replies, "alice")
    assert any("Closed:" in plain(r.body) for r in in_rooms(replies))
    assert await rows(bot) == []
    assert "already closed" in privately(await bot.say("alice", f"close {letter}"), "alice")
    assert await later(bot, hours=3) == []


async def test_a_sealed_letter_below_threshold_at_its_deadline_is_destroyed_unseen(
    bot: Bot
) -> None:
    letter = await bot.new("alice", "deadline in 2 days visibility sealed threshold 3")
    await bot.say("bob", f"sign {letter}")
    replies = await later(bot, days=2)
    text = privately(replies, "alice")
    assert "below its threshold of 3: the list was destroyed unseen" in text
    assert "bob" not in text


async def test_close_cancels_the_letters_reviews_and_reminders(bot: Bot) -> None:
    letter = await bot.new("alice")
    other = await bot.new("alice")
    await bot.say("alice", f'remind {letter} in 2 hours "x"')
    await bot.say("alice", f"review {letter} in 3 days")
    await bot.say("alice", f'remind {other} in 2 hours "y"')
    replies = await bot.say("alice", f"close {letter}")
    assert "2 scheduled review(s) and reminder(s) were cancelled" in privately(replies, "alice")
    assert await rows(bot) == [3]
    assert posts(await later(bot, hours=2)) == ["⏰ Reminder — L2 A letter: y"]


# --- late and missed ------------------------------------------------------------------------


async def test_a_reminder_within_grace_fires_late_once(bot: Bot) -> None:
    letter = await bot.new("alice")
    await bot.say("alice", f'remind {letter} in 2 hours "Late but sent"')
    replies = await later(bot, hours=2, minutes=59)  # grace is 60 minutes
    assert posts(replies) == ["⏰ Reminder — L1 A letter: Late but sent"]


async def test_beyond_grace_the_organizers_are_told_and_a_repeat_moves_on(bot: Bot) -> None:
    letter = await bot.new("alice")
    await bot.say("alice", f'remind {letter} in 2 hours "Gone"')
    await bot.say("alice", f'remind {letter} every 3 hours "Repeating"')
    await bot.say("alice", f"review {letter} in 4 hours")
    replies = await later(bot, hours=6)
    assert posts(replies) == []
    told = privately(replies, "alice")
    assert "R1, a reminder for L1 A letter, was due at Thu 2026-11-26 14:00 UTC" in told
    assert "so it was not sent: Gone" in told
    assert "R2, a reminder for L1 A letter, was due at Thu 2026-11-26 15:00 UTC" in told
    assert "R3, the review of L1 A letter at Thu 2026-11-26 16:00 UTC, fell due" in told
    assert await rows(bot) == [2]
    # the repetition keeps its own rhythm: 15:00 was missed, next is 21:00
    assert "next Thu 2026-11-26 21:00 UTC" in privately(await bot.say("bob", "reminders"), "bob")
    assert posts(await at(bot, datetime(2026, 11, 26, 21, 0, tzinfo=UTC))) == [
        "⏰ Reminder — L1 A letter: Repeating"]


# --- the real APScheduler -------------------------------------------------------------------


async def test_the_armed_jobs_follow_the_rows(bot: Bot) -> None:
    bot.clock.now = datetime.now(UTC)
    scheduler = bot.app.scheduler
    await scheduler.start()
    try:
        letter = await bot.new("alice", "deadline in 3 days")
        await bot.say("alice", f'remind {letter} in 2 hours "x"')
        jobs = scheduler.next_runs()
        assert {"refresh-counts", "purge", "deadline:1", "schedule:1"} <= set(jobs)
        assert jobs["schedule:1"] == bot.clock.now + timedelta(hours=2)
        await bot.say("alice", "cancel R1")
        assert "schedule:1" not in scheduler.next_runs()
        await bot.say("alice", f"close {letter}")
        assert "deadline:1" not in scheduler.next_runs()
    finally:
        await scheduler.stop()


async def test_every_reminders_fire_repeatedly_on_the_real_scheduler(config: Config) -> None:
    """APScheduler itself, driven by a travelling wall clock: each minute comes at once."""
    with time_machine.travel(datetime(2026, 11, 26, 12, 0, tzinfo=UTC), tick=True) as traveller:
        app = App(config)
        await app.open()
        room = RecordingAdapter("console")
        app.add_adapter(room)
        await app.scheduler.start()
        aps = app.scheduler._aps
        try:
            async def say(text: str) -> None:
                await app.handle(Command(str(uuid.uuid4()), User("console", "alice"),
                                         Room("console", "general"), text))

            def ticks() -> int:
                return sum("Tick" in plain(r.body) for r in room.sent if isinstance(r, Post))

            async def minute_passes(awaited: int) -> int:
                """A minute passes; wait (up to half a second) for ``awaited`` ticks in all."""
                traveller.shift(timedelta(minutes=1))
                aps.wakeup()
                for _ in range(25):
                    await asyncio.sleep(0.02)
                    if ticks() >= awaited:
                        break
                return ticks()

            await say('new "Clockwork"')
            await say('remind L1 every 1 minutes "Tick"')
            assert [await minute_passes(n) for n in (1, 2, 3)] == [1, 2, 3]
            await say("cancel R1")
            assert [await minute_passes(4) for _ in range(2)] == [3, 3]
        finally:
            await app.close()


async def test_a_sealed_letter_refuses_reminders_to_its_signers(bot: Bot) -> None:
    """A direct message to each signer would show the platform who signed."""
    letter = await bot.new("alice", "visibility sealed threshold 3")
    told = privately(await bot.say("alice", f'remind {letter} in 2 hours "x" to signers'),
                     "alice")
    assert "is sealed" in told and "Usage:" in told
    assert "No reviews or reminders" in privately(await bot.say("alice", "reminders"), "alice")


async def test_scheduling_for_signers_warns_that_admins_see_whom_the_bot_writes_to(
    bot: Bot,
) -> None:
    letter = await bot.new("alice", "visibility count")
    told = privately(await bot.say("alice", f'remind {letter} in 2 hours "x" to signers'),
                     "alice")
    assert "Scheduled R1" in told and "admins can see whom the bot writes to" in told


async def test_a_reminders_when_may_be_quoted_and_help_shows_both_forms(bot: Bot) -> None:
    letter = await bot.new("alice")
    replies = await bot.say("alice", f'remind {letter} "in 4 hours" "Sign today" to organizers')
    assert "Scheduled R1" in privately(replies, "alice")
    assert "Sign today" in privately(replies, "alice")
    assert await later(bot, hours=3, minutes=59) == []
    fired = privately(await later(bot, minutes=1), "alice")
    assert "Sign today" in fired
    usage = privately(await bot.say("alice", "help remind"), "alice")
    assert 'remind L<n> WHEN|"WHEN"|every RECURRENCE "TEXT"' in usage
