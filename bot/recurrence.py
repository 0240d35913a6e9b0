"""Reading repetitions that people type — "day at 9:00", "weekday at 9:00", "monday at
10:00", "2 hours", a five-field cron — into a ``Recurrence`` that the scheduler turns into
fire times, in the zone the organizer named (so 09:00 stays 09:00 across daylight saving).
Refusals are ``TimeError``s, as for WHEN (bot.timeparse)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Final

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from bot.timeparse import (
    HORIZON,
    HORIZON_YEARS,
    WEEKDAYS,
    TimeError,
    check_clock,
    check_length,
    clean,
    zone_named,
)

_EVERY_EXAMPLES: Final = (
    "Try 'day at 9:00', 'weekday at 9:00', 'monday at 10:00', '2 hours' or 'cron \"0 9 * * 1-5\"'."
)


_TIME_OF_DAY: Final = re.compile(r"(\d{1,2})(?::(\d{2}))?\s*(am|pm)?", re.ASCII)
_AT_FORM: Final = re.compile(r"(\w+?)s? at (.+)", re.ASCII)
_INTERVAL_FORM: Final = re.compile(r"(?:(\d{1,9}) ?)?(minute|min|hour|hr|day|week)s?", re.ASCII)
_INTERVAL_UNITS: Final = {"min": "minute", "hr": "hour"}
_INTERVAL_MINUTES: Final = {"minute": 1, "hour": 60, "day": 1440, "week": 10080}
_CRON_DAY_NAMES: Final = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_CRON_DAY_ITEM: Final = re.compile(r"(\*|\w+)(?:-(\w+))?(?:/(\d+))?", re.ASCII)
_A_LONG_TIME_AGO: Final = datetime(2000, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Recurrence:
    """A repetition, kept as canonical text plus a zone *name*, so 9:00 stays 9:00 over DST.

    ``spec`` is one of ``day at 09:00``, ``weekday at 09:00``, ``monday at 10:00``,
    ``every 2 hours`` (or ``every hour``, minutes, days, weeks) and ``cron 0 9 * * 1-5``;
    ``parse_recurrence(spec, tz)`` gives it back.

    ``start`` only matters for intervals ("every 2 hours"), which need an anchor: with a
    ``start``, the fire times are ``start + k * interval``; without one (the default, and
    what ``parse_recurrence`` gives), each fire time is the previous one plus the interval,
    so ``next_after(created_at)`` is "the creation time + interval" and
    ``next_after(due_time)`` continues that chain. Interval days are elapsed 24 h; use
    ``day at 09:00`` to keep a wall-clock time. Calendar forms refuse a ``start``.
    """

    spec: str
    tz: str
    start: datetime | None = None
    _cron: str | None = field(init=False, repr=False, compare=False, default=None)
    _interval: timedelta | None = field(init=False, repr=False, compare=False, default=None)

    def __post_init__(self) -> None:
        cron, interval, canonical = _read_recurrence(clean(self.spec))
        if canonical != self.spec:
            raise ValueError(f"{self.spec!r} is not canonical; build it with parse_recurrence")
        zone_named(self.tz)
        if self.start is not None and (cron is not None or self.start.utcoffset() is None):
            raise ValueError("start must be aware, and only intervals take one")
        object.__setattr__(self, "_cron", cron)
        object.__setattr__(self, "_interval", interval)

    def trigger(self) -> BaseTrigger:
        """An APScheduler trigger for this repetition, computing in zone ``tz``."""
        zone = zone_named(self.tz)
        if self._interval is not None:
            return IntervalTrigger(
                seconds=int(self._interval.total_seconds()), start_date=self.start, timezone=zone
            )
        assert self._cron is not None
        return _OnceAtRepeatedWallClock.from_crontab(self._cron, timezone=zone)

    def next_after(self, after: datetime) -> datetime:
        """The first fire time strictly after ``after`` (aware), as an aware UTC datetime."""
        if after.utcoffset() is None:
            raise ValueError("after must be a timezone-aware datetime")
        after = after.astimezone(UTC)
        if self._interval is not None:
            if self.start is None:
                return after + self._interval
            start = self.start.astimezone(UTC)
            if after < start:
                return start
            return start + self._interval * ((after - start) // self._interval + 1)
        trigger = self.trigger()
        fire: datetime | None = trigger.get_next_fire_time(after, after)
        if fire is None:  # cannot happen for a cron parse_recurrence accepted
            raise TimeError(f"'{self.spec}' never fires again.")
        return fire.astimezone(UTC)

    def describe(self) -> str:
        """E.g. "every weekday at 09:00 (Europe/Berlin)", "every 2 hours"."""
        if self._interval is not None:
            return self.spec
        if self.spec.startswith("cron "):
            return f"on cron schedule '{self.spec[5:]}' ({self.tz})"
        day, at = self.spec.split(" at ")
        return f"every {day if day in ('day', 'weekday') else day.capitalize()} at {at} ({self.tz})"


class _OnceAtRepeatedWallClock(CronTrigger):  # type: ignore[misc]
    """A CronTrigger that does not fire a second time when clocks go back.

    On the night summer time ends, 02:30 happens twice; APScheduler 3 fires "30 2 * * *" at
    both. People mean the first. So a fire time whose local wall-clock time is not later
    than the previous one's is skipped. (A cron that fires every few minutes therefore
    pauses for that repeated hour.)
    """

    def get_next_fire_time(
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime | None:
        fire: datetime | None = super().get_next_fire_time(previous_fire_time, now)
        if previous_fire_time is None:
            return fire
        previous_wall = previous_fire_time.astimezone(self.timezone).replace(tzinfo=None)
        while fire is not None and fire.astimezone(self.timezone).replace(tzinfo=None) <= (
            previous_wall
        ):
            fire = super().get_next_fire_time(fire, fire)
        return fire


def parse_recurrence(text: str, tz: str) -> Recurrence:
    """Read "day at 9:00", "weekday at 9:00", "mondays at 10:00", "every 2 hours",
    "30 minutes" or "cron 0 9 * * 1-5" (quoted or not); "every" in front is optional."""
    cleaned = check_length(text)
    zone_named(tz)
    return Recurrence(_read_recurrence(cleaned)[2], tz)


def _read_recurrence(cleaned: str) -> tuple[str | None, timedelta | None, str]:
    """(crontab for APScheduler or None, interval or None, canonical spec)."""
    body = cleaned.removeprefix("every ").strip()
    if body == "cron" or body.startswith(("cron ", "cron'", 'cron"')):
        return _read_cron(body.removeprefix("cron").strip().strip("'\"").strip())
    at_form = _AT_FORM.fullmatch(body)
    if at_form:
        day, at = at_form.groups()
        hour, minute = _read_time_of_day(at)
        if day in ("day", "daily"):
            days, name = "*", "day"
        elif day == "weekday":
            days, name = "mon-fri", "weekday"
        elif (weekday := _weekday(day)) is not None:
            days, name = _CRON_DAY_NAMES[(weekday + 1) % 7], WEEKDAYS[weekday]
        else:
            raise TimeError(f"I do not know the day '{day}'. {_EVERY_EXAMPLES}")
        return f"{minute} {hour} * * {days}", None, f"{name} at {hour:02d}:{minute:02d}"
    interval = _INTERVAL_FORM.fullmatch(body)
    if interval:
        number, unit = interval.groups()
        count = 1 if number is None else int(number)
        unit = _INTERVAL_UNITS.get(unit, unit)
        minutes = count * _INTERVAL_MINUTES[unit]
        if minutes < 1:
            raise TimeError("A repetition must be at least 1 minute apart.")
        if timedelta(minutes=minutes) > HORIZON:
            raise TimeError(f"A repetition must come at least every {HORIZON_YEARS} years.")
        spec = f"every {unit}" if count == 1 else f"every {count} {unit}s"
        return None, timedelta(minutes=minutes), spec
    raise TimeError(f"I could not read '{cleaned}' as a repetition. {_EVERY_EXAMPLES}")


def _weekday(word: str) -> int | None:
    """Monday = 0 for "monday" or "mon" (plural "s" already removed); else None."""
    for index, name in enumerate(WEEKDAYS):
        if word in (name, name[:3]):
            return index
    return None


def _read_time_of_day(text: str) -> tuple[int, int]:
    match = _TIME_OF_DAY.fullmatch(text)
    bad = TimeError(f"I could not read '{text}' as a time of day. Try '9:00' or '17:30'.")
    if not match:
        raise bad
    hour, minute, half = int(match[1]), int(match[2] or 0), match[3]
    check_clock(text, hour, minute, 0, half)
    if half:
        hour = hour % 12 + (12 if half == "pm" else 0)
    return hour, minute


def _read_cron(expression: str) -> tuple[str, None, str]:
    """Check a standard five-field crontab; give APScheduler's version of it.

    Standard cron counts weekdays from Sunday = 0 (7 is Sunday too); APScheduler 3 counts
    from Monday = 0. The day-of-week field is therefore rewritten as names. Standard cron
    fires when *either* day field matches if both are restricted; APScheduler needs both,
    so restricting both is refused rather than silently meaning something else.
    """
    fields = expression.split()
    if len(fields) != 5:
        raise TimeError(
            f"A cron schedule has exactly five fields (minute hour day month weekday); "
            f"'{expression}' has {len(fields)}."
        )
    minute, hour, day, month, weekday = fields
    if day != "*" and weekday != "*":
        raise TimeError("In a cron schedule, restrict the day of month or the weekday, not both.")
    bad = TimeError(f"'{expression}' is not a valid cron schedule. Try '0 9 * * 1-5'.")
    try:
        crontab = " ".join([minute, hour, day, month, _cron_weekdays(weekday)])
        trigger = CronTrigger.from_crontab(crontab, timezone=UTC)
    except (ValueError, KeyError, IndexError) as exc:
        raise bad from exc
    if trigger.get_next_fire_time(None, _A_LONG_TIME_AGO) is None:
        raise TimeError(f"The cron schedule '{expression}' never fires.")
    return crontab, None, "cron " + " ".join(fields)


def _cron_weekdays(field_text: str) -> str:
    """A standard-cron weekday field as a list of names APScheduler reads the same way."""
    if field_text == "*":
        return "*"
    days: set[int] = set()
    for item in field_text.split(","):
        match = _CRON_DAY_ITEM.fullmatch(item)
        if not match:
            raise ValueError(item)
        first, last, step = match.groups()
        if first == "*":
            if last is not None:
                raise ValueError(item)
            low, high = 0, 6
        else:
            low = _cron_day_number(first)
            high = low if last is None else _cron_day_number(last)
            if last is not None and high == 0 and low > 0:
                high = 7  # "5-7", "fri-sun"
        if high < low or (step is not None and (int(step) == 0 or (last is None and first != "*"))):
            raise ValueError(item)
        days.update(number % 7 for number in range(low, high + 1, int(step or 1)))
    return ",".join(_CRON_DAY_NAMES[number] for number in sorted(days))


def _cron_day_number(word: str) -> int:
    if word.isdigit() and int(word) <= 7:
        return int(word)
    if word in _CRON_DAY_NAMES:
        return _CRON_DAY_NAMES.index(word)
    raise ValueError(word)


