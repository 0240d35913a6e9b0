"""bot.timeparse: what people type as WHEN and RECURRENCE, and what they get back."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.recurrence import Recurrence, parse_recurrence
from bot.timeparse import TimeError, parse_when

BERLIN = "Europe/Berlin"
# Tuesday 2026-10-20 12:00 UTC = 14:00 in Berlin (summer time, +02:00).
NOW = datetime(2026, 10, 20, 12, 0, tzinfo=UTC)


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


# ---------------------------------------------------------------------------- WHEN


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-12-01 15:00", utc(2026, 12, 1, 14, 0)),  # winter time, +01:00
        ("2026-12-01T15:00", utc(2026, 12, 1, 14, 0)),
        ("2026-10-21 15:00", utc(2026, 10, 21, 13, 0)),  # summer time, +02:00
        ("in 2 hours", utc(2026, 10, 20, 14, 0)),
        ("in 3 seconds", utc(2026, 10, 20, 12, 0, 3)),
        ("in 30 minutes", utc(2026, 10, 20, 12, 30)),
        ("in 5m", utc(2026, 10, 20, 12, 5)),
        ("in an hour", utc(2026, 10, 20, 13, 0)),
        ("in 2 hours and 30 minutes", utc(2026, 10, 20, 14, 30)),
        ("in 1 day, 2h", utc(2026, 10, 21, 14, 0)),
        ("In  2   HOURS", utc(2026, 10, 20, 14, 0)),
        ("tomorrow 9am", utc(2026, 10, 21, 7, 0)),
        ("tomorrow at 9:30 pm", utc(2026, 10, 21, 19, 30)),
        ("tomorrow noon", utc(2026, 10, 21, 10, 0)),
        ("friday 17:00", utc(2026, 10, 23, 15, 0)),
        ("13:00", utc(2026, 10, 21, 11, 0)),  # already past today: tomorrow
        ("17:00", utc(2026, 10, 20, 15, 0)),
        ("dec 1 10:00", utc(2026, 12, 1, 9, 0)),
    ],
)
def test_accepted_times_are_read_in_the_callers_zone(text: str, expected: datetime) -> None:
    assert parse_when(text, BERLIN, NOW) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-12-01", utc(2026, 12, 1, 8, 0)),
        ("dec 1", utc(2026, 12, 1, 8, 0)),
        ("12/1", utc(2026, 12, 1, 8, 0)),
        ("tomorrow", utc(2026, 10, 21, 7, 0)),
        ("friday", utc(2026, 10, 23, 7, 0)),
        ("next monday", utc(2026, 10, 26, 8, 0)),  # after the change to winter time
    ],
)
def test_a_date_alone_means_nine_in_the_morning(text: str, expected: datetime) -> None:
    assert parse_when(text, BERLIN, NOW) == expected


def test_days_ahead_keep_the_local_time_of_day_across_a_clock_change() -> None:
    assert parse_when("in 7 days", BERLIN, NOW) == utc(2026, 10, 27, 13, 0)  # 14:00 local
    assert parse_when("in 168 hours", BERLIN, NOW) == utc(2026, 10, 27, 12, 0)  # elapsed


def test_months_ahead_keep_the_day_or_take_the_last_one() -> None:
    jan31 = datetime(2027, 1, 31, 10, 0, tzinfo=UTC)
    assert parse_when("in 1 month", "UTC", jan31) == utc(2027, 2, 28, 10, 0)
    assert parse_when("in 2 years", "UTC", jan31) == utc(2029, 1, 31, 10, 0)


def test_the_callers_zone_decides_the_instant() -> None:
    new_york = parse_when("tomorrow 9am", "America/New_York", NOW)
    in_utc = parse_when("tomorrow 9am", "UTC", NOW)
    assert in_utc == utc(2026, 10, 21, 9, 0)
    assert new_york == utc(2026, 10, 21, 13, 0)


def test_the_result_is_aware_utc_whatever_zone_now_is_given_in() -> None:
    local_now = NOW.astimezone(ZoneInfo("Asia/Tokyo"))
    result = parse_when("in 2 hours", BERLIN, local_now)
    assert result.tzinfo is UTC
    assert result == utc(2026, 10, 20, 14, 0)


@pytest.mark.parametrize(
    "text", ["yesterday", "today", "now", "in 0 minutes", "2026-10-20 13:59", "2020-01-01"]
)
def test_a_time_in_the_past_is_refused(text: str) -> None:
    with pytest.raises(TimeError, match="is in the past"):
        parse_when(text, BERLIN, NOW)


def test_exactly_now_is_refused_as_past() -> None:
    with pytest.raises(TimeError, match="is in the past"):
        parse_when("2026-10-20 14:00", BERLIN, NOW)


@pytest.mark.parametrize(
    "text", ["in 6 years", "in 61 months", "in 999999999999 weeks", "2032-01-01", "9999-12-31"]
)
def test_more_than_five_years_ahead_is_refused(text: str) -> None:
    with pytest.raises(TimeError, match="more than 5 years ahead"):
        parse_when(text, BERLIN, NOW)


def test_just_under_five_years_ahead_is_accepted() -> None:
    assert parse_when("in 5 years", BERLIN, NOW) == utc(2031, 10, 20, 12, 0)


@pytest.mark.parametrize(
    "text",
    ["xyz", "a", "3", "12 30", "2026", "soon", "next week", "at", "lunch time", "0001-01-01x"],
)
def test_what_is_not_a_time_is_refused_with_examples(text: str) -> None:
    with pytest.raises(TimeError, match=r"could not read .* as a time\. Try"):
        parse_when(text, BERLIN, NOW)


def test_a_month_without_a_day_is_refused() -> None:
    with pytest.raises(TimeError, match="does not name a day"):
        parse_when("december 2026", BERLIN, NOW)


@pytest.mark.parametrize("text", ["", "   "])
def test_an_empty_time_is_refused(text: str) -> None:
    with pytest.raises(TimeError, match="Please say when"):
        parse_when(text, BERLIN, NOW)


def test_a_text_longer_than_200_characters_is_refused() -> None:
    with pytest.raises(TimeError, match="too long"):
        parse_when("in 2 hours" + " " * 200, BERLIN, NOW)


def test_an_unknown_zone_is_refused() -> None:
    with pytest.raises(TimeError, match="time zone 'Mars/Olympus'"):
        parse_when("in 2 hours", "Mars/Olympus", NOW)


def test_a_naive_now_is_a_programming_error_not_a_user_error() -> None:
    with pytest.raises(ValueError, match="aware") as caught:
        parse_when("in 2 hours", BERLIN, datetime(2026, 10, 20, 12, 0))
    assert not isinstance(caught.value, TimeError)


# ---------------------------------------------------------------------------- RECURRENCE


@pytest.mark.parametrize(
    ("text", "spec"),
    [
        ("day at 9:00", "day at 09:00"),
        ("every day at 9:00", "day at 09:00"),
        ("daily at 07:05", "day at 07:05"),
        ("every day at 9pm", "day at 21:00"),
        ("weekday at 9:00", "weekday at 09:00"),
        ("every weekdays at 9:00", "weekday at 09:00"),
        ("monday at 10:00", "monday at 10:00"),
        ("every Mondays at 10:00", "monday at 10:00"),
        ("sun at 5", "sunday at 05:00"),
        ("wednesdays at 12:30am", "wednesday at 00:30"),
        ("2 hours", "every 2 hours"),
        ("every 30 minutes", "every 30 minutes"),
        ("3 days", "every 3 days"),
        ("1 minute", "every minute"),
        ("every hour", "every hour"),
        ("every 2 weeks", "every 2 weeks"),
        ('cron "0 9 * * 1-5"', "cron 0 9 * * 1-5"),
        ("cron 0 9 * * 1-5", "cron 0 9 * * 1-5"),
        ("every cron '*/15  8-18 * * MON-FRI'", "cron */15 8-18 * * mon-fri"),
        ("cron “0 9 * * 0,7”", "cron 0 9 * * 0,7"),  # curly quotes, as phones type them
        ("cron 0 9 29 2 *", "cron 0 9 29 2 *"),
    ],
)
def test_accepted_repetitions_become_canonical_specs_that_round_trip(text: str, spec: str) -> None:
    recurrence = parse_recurrence(text, BERLIN)
    assert recurrence == Recurrence(spec, BERLIN)
    assert parse_recurrence(recurrence.spec, BERLIN) == recurrence


@pytest.mark.parametrize(
    ("text", "description"),
    [
        ("weekday at 9:00", "every weekday at 09:00 (Europe/Berlin)"),
        ("day at 9:00", "every day at 09:00 (Europe/Berlin)"),
        ("monday at 10:00", "every Monday at 10:00 (Europe/Berlin)"),
        ("2 hours", "every 2 hours"),
        ("cron 0 9 * * 1-5", "on cron schedule '0 9 * * 1-5' (Europe/Berlin)"),
    ],
)
def test_descriptions_say_it_in_words(text: str, description: str) -> None:
    assert parse_recurrence(text, BERLIN).describe() == description


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("0 minutes", "at least 1 minute"),
        ("every 0 minutes", "at least 1 minute"),
        ("every 2000 days", "at least every 5 years"),
        ("cron 0 9 * * * *", "exactly five fields .* has 6"),
        ('cron "0 9 * *"', "exactly five fields .* has 4"),
        ("cron", "exactly five fields .* has 0"),
        ("cron 61 9 * * *", "not a valid cron schedule"),
        ("cron 0 9 * * 8", "not a valid cron schedule"),
        ("cron 0 9 * * 5-1", "not a valid cron schedule"),
        ("cron x 9 * * *", "not a valid cron schedule"),
        ("cron 0 9 30 2 *", "never fires"),
        ("cron 0 9 1 * 1", "day of month or the weekday, not both"),
        ("day at 25:00", "25:00 is not a time of day"),
        ("day at 13pm", "13pm is not a time of day"),
        ("day at 9:60", "9:60 is not a time of day"),
        ("day at 24:00", "24:00 is not a time of day"),
        ("monday at 23:75", "23:75 is not a time of day"),
        ("day at 0am", "0am is not a time of day"),
        ("someday at 9:00", "do not know the day 'someday'"),
        ("every fortnight", "could not read 'every fortnight' as a repetition. Try"),
        ("", "Please say when"),
        ("x" * 201, "too long"),
    ],
)
def test_bad_repetitions_are_refused_with_a_clear_message(text: str, message: str) -> None:
    with pytest.raises(TimeError, match=message):
        parse_recurrence(text, BERLIN)


def test_a_recurrence_in_an_unknown_zone_is_refused() -> None:
    with pytest.raises(TimeError, match="time zone"):
        parse_recurrence("day at 9:00", "Nowhere/Special")


def test_a_hand_built_recurrence_must_use_the_canonical_spec() -> None:
    with pytest.raises(ValueError, match="canonical"):
        Recurrence("every day at 9:00", BERLIN)


def test_day_at_nine_fires_at_nine_local_on_both_sides_of_the_clock_change() -> None:
    daily = parse_recurrence("day at 09:00", BERLIN)
    before = daily.next_after(utc(2026, 10, 23, 12, 0))
    after = daily.next_after(before)
    assert before == utc(2026, 10, 24, 7, 0)  # 09:00 summer time, +02:00
    assert after == utc(2026, 10, 25, 8, 0)  # 09:00 winter time, +01:00 (clocks went back at 03:00)
    assert daily.next_after(after - timedelta(seconds=1)) == after
    assert [moment.astimezone(ZoneInfo(BERLIN)).hour for moment in (before, after)] == [9, 9]


def test_the_trigger_agrees_with_next_after_across_the_clock_change() -> None:
    daily = parse_recurrence("day at 09:00", BERLIN)
    trigger = daily.trigger()
    assert isinstance(trigger, CronTrigger)
    fire = trigger.get_next_fire_time(None, utc(2026, 10, 23, 12, 0))
    fires = []
    for _ in range(3):
        fires.append(fire.astimezone(UTC))
        fire = trigger.get_next_fire_time(fire, fire)
    assert fires == [utc(2026, 10, 24, 7, 0), utc(2026, 10, 25, 8, 0), utc(2026, 10, 26, 8, 0)]


def test_a_time_that_happens_twice_when_clocks_go_back_fires_once() -> None:
    nightly = parse_recurrence("day at 2:30", BERLIN)
    first = nightly.next_after(utc(2026, 10, 24, 12, 0))
    assert first == utc(2026, 10, 25, 0, 30)  # the first 02:30, +02:00
    assert nightly.next_after(first) == utc(2026, 10, 26, 1, 30)  # not 01:30 UTC that night


def test_next_after_is_strictly_after() -> None:
    daily = parse_recurrence("day at 09:00", BERLIN)
    nine = utc(2026, 10, 21, 7, 0)
    assert daily.next_after(nine - timedelta(microseconds=1)) == nine
    assert daily.next_after(nine) == utc(2026, 10, 22, 7, 0)


def test_weekday_skips_the_weekend() -> None:
    weekdays = parse_recurrence("weekday at 9:00", "UTC")
    friday = utc(2026, 10, 23, 9, 0)
    assert weekdays.next_after(friday) == utc(2026, 10, 26, 9, 0)


def test_a_named_day_fires_on_that_day_only() -> None:
    mondays = parse_recurrence("mondays at 10:00", "UTC")
    assert mondays.next_after(NOW) == utc(2026, 10, 26, 10, 0)
    assert mondays.next_after(utc(2026, 10, 26, 10, 0)) == utc(2026, 11, 2, 10, 0)


def test_cron_weekdays_count_from_sunday_as_in_standard_cron() -> None:
    weekdays = parse_recurrence('cron "0 9 * * 1-5"', "UTC")
    saturday_morning = utc(2026, 10, 24, 0, 0)
    assert weekdays.next_after(saturday_morning) == utc(2026, 10, 26, 9, 0)  # monday
    sundays = parse_recurrence("cron 0 9 * * 7", "UTC")
    assert sundays.next_after(saturday_morning) == utc(2026, 10, 25, 9, 0)
    weekend = parse_recurrence("cron 0 9 * * fri-sun", "UTC")
    assert weekend.next_after(utc(2026, 10, 25, 9, 0)) == utc(2026, 10, 30, 9, 0)


def test_cron_is_read_in_the_recurrence_zone() -> None:
    nine_in_berlin = parse_recurrence("cron 0 9 * * *", BERLIN)
    assert nine_in_berlin.next_after(NOW) == utc(2026, 10, 21, 7, 0)


def test_an_interval_without_start_counts_from_the_time_given() -> None:
    every_two_hours = parse_recurrence("every 2 hours", BERLIN)
    assert every_two_hours.start is None
    created = utc(2026, 10, 20, 12, 0, 17)
    first = every_two_hours.next_after(created)
    assert first == created + timedelta(hours=2)
    assert every_two_hours.next_after(first) == created + timedelta(hours=4)


def test_an_interval_with_start_fires_on_its_grid() -> None:
    start = utc(2026, 10, 20, 12, 0)
    every_30 = replace(parse_recurrence("30 minutes", BERLIN), start=start)
    assert every_30.next_after(start - timedelta(days=1)) == start
    assert every_30.next_after(start) == utc(2026, 10, 20, 12, 30)
    assert every_30.next_after(utc(2026, 10, 20, 13, 10)) == utc(2026, 10, 20, 13, 30)
    trigger = every_30.trigger()
    assert isinstance(trigger, IntervalTrigger)
    assert trigger.get_next_fire_time(None, utc(2026, 10, 20, 13, 10)) == utc(2026, 10, 20, 13, 30)


def test_interval_days_are_elapsed_time_not_wall_clock() -> None:
    start = utc(2026, 10, 24, 12, 0)
    every_day = replace(parse_recurrence("1 day", BERLIN), start=start)
    assert every_day.next_after(start) == utc(2026, 10, 25, 12, 0)
    assert every_day.next_after(utc(2026, 10, 25, 12, 0)) == utc(2026, 10, 26, 12, 0)


def test_only_intervals_take_an_aware_start() -> None:
    with pytest.raises(ValueError, match="only intervals"):
        replace(parse_recurrence("day at 9:00", BERLIN), start=NOW)
    with pytest.raises(ValueError, match="aware"):
        replace(parse_recurrence("2 hours", BERLIN), start=datetime(2026, 1, 1))


def test_next_after_answers_in_utc() -> None:
    for text in ("day at 9:00", "2 hours", "cron 0 9 * * 1-5"):
        moment = parse_recurrence(text, BERLIN).next_after(NOW.astimezone(ZoneInfo(BERLIN)))
        assert moment.tzinfo is UTC
        assert moment > NOW


# ---------------------------------------------------------------------------- any text at all

WORDS_PEOPLE_TYPE = (
    "in at on next this the of tomorrow today friday mon dec december noon am pm 9am "
    "17:00 2026-12-01 12/1 1 2 31 2026 9999 0 hours minutes days weeks months a an and , "
    "every day weekday mondays cron * */5 1-5 0,7 fri-sun 61 9:00 xyz"
)
TIME_WORDS = st.sampled_from(WORDS_PEOPLE_TYPE.split())
TIME_LIKE = st.lists(TIME_WORDS, min_size=1, max_size=8).map(" ".join)
ANY_TEXT = st.one_of(st.text(max_size=300), TIME_LIKE)
ZONES = st.sampled_from(["UTC", BERLIN, "America/New_York", "Pacific/Kiritimati", "Asia/Kolkata"])


@settings(max_examples=300, deadline=None)
@given(text=ANY_TEXT, tz=ZONES)
def test_any_text_is_a_future_time_or_a_time_error(text: str, tz: str) -> None:
    try:
        when = parse_when(text, tz, NOW)
    except TimeError as refusal:
        assert str(refusal)
    else:
        assert when.tzinfo is UTC
        assert NOW < when <= utc(2031, 10, 20, 13, 0)


@settings(max_examples=300, deadline=None)
@given(text=ANY_TEXT, tz=ZONES)
def test_any_text_is_a_recurrence_or_a_time_error(text: str, tz: str) -> None:
    try:
        recurrence = parse_recurrence(text, tz)
    except TimeError as refusal:
        assert str(refusal)
    else:
        assert parse_recurrence(recurrence.spec, tz) == recurrence
        assert recurrence.next_after(NOW) > NOW
        assert recurrence.describe()


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("tomorrow 25:99", "25:99"),
        ("tomorrow 23:60", "23:60"),
        ("tomorrow 24:00", "24:00"),
        ("friday 17:75", "17:75"),
        ("friday 24:30", "24:30"),
        ("2026-12-01 25:00", "25:00"),
        ("2026-12-01T24:00", "24:00"),
        ("2026-12-01 12:00:75", "12:00:75"),
        ("dec 1 25:00", "25:00"),
        ("25:00", "25:00"),
        ("tomorrow 13pm", "13pm"),
        ("tomorrow at 13 pm", "13pm"),
        ("friday 5:75pm", "5:75pm"),
        ("tomorrow 0am", "0am"),
    ],
)
def test_an_impossible_time_of_day_is_refused_saying_so(text: str, shown: str) -> None:
    with pytest.raises(TimeError, match=f"^{shown} is not a time of day"):
        parse_when(text, BERLIN, NOW)


def test_24_00_is_refused_with_a_hint_for_the_end_of_the_day() -> None:
    with pytest.raises(TimeError, match="For the end of a day, say 23:59"):
        parse_when("tomorrow 24:00", BERLIN, NOW)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # at now's own time of day (14:00 in Berlin) dateparser called these days, not times
        ("tomorrow 14:00", utc(2026, 10, 21, 12, 0)),
        ("tomorrow 2pm", utc(2026, 10, 21, 12, 0)),
        ("tomorrow 23:59", utc(2026, 10, 21, 21, 59)),
        ("tomorrow 0:00", utc(2026, 10, 20, 22, 0)),
        ("2026-10-22T14:00", utc(2026, 10, 22, 12, 0)),
    ],
)
def test_a_clock_time_is_kept_even_at_nows_time_of_day(text: str, expected: datetime) -> None:
    assert parse_when(text, BERLIN, NOW) == expected
