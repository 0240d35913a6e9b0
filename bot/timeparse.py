"""Reading times and repetitions that people type: "in 2 hours", "friday 17:00", "weekday at 9:00".

Pure functions, no clock: the caller passes ``now`` and a zone name. Every refusal is a
``TimeError`` whose message is a short sentence that can go straight back to the user.

Two choices worth knowing:

- ``dateparser`` reads the wall-clock time in the caller's zone (its ``RELATIVE_BASE`` is
  ``now`` as local wall time) and we attach the zone with ``zoneinfo`` ourselves, rather
  than through dateparser's ``TIMEZONE`` setting. That setting goes through pytz, which
  raises ``OverflowError`` near year 1 and 9999 and may carry other tz rules than the
  system ``tzdata`` that APScheduler uses. One zone library means one answer.
- ``in N units`` is read here, not by dateparser: it is exact and fast. Seconds, minutes
  and hours are elapsed time; days, weeks, months and years keep the local time of day
  ("in 3 days" at 10:00 is 10:00 three days later, even across a daylight-saving change).
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

MAX_TEXT: Final = 200
HORIZON_YEARS: Final = 5
DEFAULT_HOUR: Final = time(9, 0)
_HORIZON: Final = timedelta(days=HORIZON_YEARS * 366)
_WHEN_EXAMPLES: Final = "Try '2026-12-01 15:00', 'in 2 hours', 'tomorrow 9am' or 'friday 17:00'."
_EVERY_EXAMPLES: Final = (
    "Try 'day at 9:00', 'weekday at 9:00', 'monday at 10:00', '2 hours' or 'cron \"0 9 * * 1-5\"'."
)


class TimeError(ValueError):
    """A time or repetition that cannot be used; the message is a sentence for the user."""


# ---------------------------------------------------------------------------- words

_WEEKDAYS: Final = (
    "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday",
)  # fmt: skip
_WEEKDAY_WORDS: Final = frozenset(
    [*_WEEKDAYS, "mon", "tue", "tues", "wed", "thu", "thur", "thurs", "fri", "sat", "sun"]
)
_MONTHS: Final = (
    "january", "february", "march", "april", "may", "june",
    "july", "august", "september", "october", "november", "december",
)  # fmt: skip
_MONTH_WORDS: Final = frozenset([*_MONTHS, *(name[:3] for name in _MONTHS), "sept"])
_DAY_WORDS: Final = frozenset(
    ["now", "today", "tomorrow", "yesterday", "noon", "midnight", "am", "pm"]
)
_FILLER_WORDS: Final = frozenset(["next", "this", "at", "on", "the", "of"])
_NUMBER_TOKEN: Final = re.compile(
    r"\d{1,4}(?:[:./-]\d{1,4})*(?:t\d{1,2}(?::\d{2}){1,2})?(?:am|pm|st|nd|rd|th)?", re.ASCII
)
_STRUCTURED_NUMBER: Final = re.compile(r"[:./-]|am$|pm$", re.ASCII)

_UNITS: Final = {
    "s": "seconds", "sec": "seconds", "secs": "seconds", "second": "seconds", "seconds": "seconds",
    "m": "minutes", "min": "minutes", "mins": "minutes", "minute": "minutes", "minutes": "minutes",
    "h": "hours", "hr": "hours", "hrs": "hours", "hour": "hours", "hours": "hours",
    "d": "days", "day": "days", "days": "days",
    "w": "weeks", "week": "weeks", "weeks": "weeks",
    "month": "months", "months": "months",
    "y": "years", "year": "years", "years": "years",
}  # fmt: skip
_UNIT_PATTERN: Final = "|".join(sorted(_UNITS, key=len, reverse=True))
_AMOUNT_TEXT: Final = rf"\b(\d{{1,12}} ?|(?:an?|one) )({_UNIT_PATTERN})\b"
_AMOUNT: Final = re.compile(_AMOUNT_TEXT, re.ASCII)
_RELATIVE: Final = re.compile(rf"in ((?:{_AMOUNT_TEXT},? (?:and )?)*{_AMOUNT_TEXT})", re.ASCII)


def _clean(text: str) -> str:
    """Lower case, one space between words, curly quotes made straight."""
    text = text.replace("“", '"').replace("”", '"').replace("‘", "'").replace("’", "'")
    return " ".join(text.lower().split())


def _zone(tz: str) -> ZoneInfo:
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise TimeError(f"I do not know the time zone '{tz}'.") from exc


def _check_length(text: str) -> str:
    if len(text) > MAX_TEXT:
        raise TimeError(f"That is too long to be a time (at most {MAX_TEXT} characters).")
    cleaned = _clean(text)
    if not cleaned:
        raise TimeError(f"Please say when. {_WHEN_EXAMPLES}")
    return cleaned


# ---------------------------------------------------------------------------- WHEN


def parse_when(text: str, tz: str, now: datetime) -> datetime:
    """The future moment ``text`` means, read in zone ``tz`` at ``now``; aware, in UTC.

    A date without a time of day means 09:00 that day. Refuses (``TimeError``) what it
    cannot read, a moment not after ``now``, and one more than five years ahead.
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be a timezone-aware datetime")
    cleaned = _check_length(text)
    zone = _zone(tz)
    local_now = now.astimezone(zone)
    relative = _RELATIVE.fullmatch(cleaned)
    if relative:
        when = _add_amounts(local_now, relative.group(1), cleaned)
    else:
        when = _parse_natural(cleaned, local_now, zone)
    when = when.astimezone(UTC)
    if when <= now:
        shown = when.astimezone(zone).isoformat(sep=" ", timespec="minutes")[:16]
        raise TimeError(f"'{cleaned}' is in the past ({shown} {tz}).")
    if when > _years_later(local_now, HORIZON_YEARS):
        raise TimeError(f"'{cleaned}' is more than {HORIZON_YEARS} years ahead.")
    return when


def _add_amounts(local_now: datetime, amounts: str, cleaned: str) -> datetime:
    """``local_now`` plus "2 hours 30 minutes" and the like (see the module docstring)."""
    totals = dict.fromkeys(("seconds", "minutes", "hours", "days", "weeks", "months", "years"), 0)
    for number, unit in _AMOUNT.findall(amounts):
        number = number.strip()
        totals[_UNITS[unit]] += 1 if number in ("a", "an", "one") else int(number)
    months = totals["months"] + 12 * totals["years"]
    days = totals["days"] + 7 * totals["weeks"]
    seconds = totals["seconds"] + 60 * totals["minutes"] + 3600 * totals["hours"]
    if months > 12 * HORIZON_YEARS or days > _HORIZON.days or seconds > _HORIZON.total_seconds():
        raise TimeError(f"'{cleaned}' is more than {HORIZON_YEARS} years ahead.")
    shifted = _add_months(local_now, months) + timedelta(days=days)
    return shifted.astimezone(UTC) + timedelta(seconds=seconds)


def _add_months(moment: datetime, months: int) -> datetime:
    """Same day and wall-clock time ``months`` later; the 31st becomes the month's last day."""
    index = moment.month - 1 + months
    year, month = moment.year + index // 12, index % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def _years_later(moment: datetime, years: int) -> datetime:
    return _add_months(moment, 12 * years)


def _looks_like_a_time(cleaned: str) -> bool:
    """Whether every word is one dateparser should see, and one of them names a moment.

    dateparser reads almost anything as *some* date ("a" is a date to it); this keeps
    garbage out. Plain numbers ("3", "12 30") name nothing; "3pm", "17:00", "12/1",
    "friday", "dec 1" and "tomorrow" do.
    """
    anchored = False
    for word in cleaned.replace(",", " ").split():
        if word in _WEEKDAY_WORDS or word in _MONTH_WORDS or word in _DAY_WORDS:
            anchored = True
        elif _NUMBER_TOKEN.fullmatch(word):
            anchored = anchored or bool(_STRUCTURED_NUMBER.search(word))
        elif word not in _FILLER_WORDS:
            return False
    return anchored


_SPACED_HALF: Final = re.compile(r"(?<=\d) (?=(?:am|pm)\b)", re.ASCII)  # "9:30 pm"
_CLOCK_IN_WORD: Final = re.compile(
    r"(?:^|(?<=\d)t)((\d{1,2}):(\d{1,2})(?::(\d{1,2}))?|\d{1,2}(?=am|pm))(am|pm)?$", re.ASCII
)


def _clock_time(cleaned: str) -> time | None:
    """The time of day the text names with digits ("17:30", "5pm", "2026-12-01t09:00") or
    "noon", if it names exactly one; None otherwise. A clock time that no day has
    ("25:99", "friday 17:75", "13pm", "24:00") is refused: dateparser would drop it and
    read the day alone as 09:00."""
    found: list[time] = []
    for word in _SPACED_HALF.sub("", cleaned).replace(",", " ").split():
        match = _CLOCK_IN_WORD.search(word)
        if match:
            whole, hour_text, minute, second, half = match.groups()
            hour = int(hour_text or whole)
            _check_clock(word[match.start(1):], hour, int(minute or 0), int(second or 0), half)
            if half:
                hour = hour % 12 + (12 if half == "pm" else 0)
            found.append(time(hour, int(minute or 0), int(second or 0)))
        elif word == "noon":
            found.append(time(12, 0))
    return found[0] if len(found) == 1 else None


def _check_clock(shown: str, hour: int, minute: int, second: int, half: str | None) -> None:
    """24:00 is refused too: "end of the day" is better said as 23:59, or 00:00 the day after."""
    if half and not 1 <= hour <= 12:
        raise TimeError(f"{shown} is not a time of day: with am or pm the hour is 1 to 12.")
    if hour > 23 or minute > 59 or second > 59:
        hint = " For the end of a day, say 23:59." if (hour, minute, second) == (24, 0, 0) else ""
        raise TimeError(f"{shown} is not a time of day: hours go to 23, minutes to 59.{hint}")


def _parse_natural(cleaned: str, local_now: datetime, zone: ZoneInfo) -> datetime:
    unreadable = TimeError(f"I could not read '{cleaned}' as a time. {_WHEN_EXAMPLES}")
    clock = _clock_time(cleaned)
    if not _looks_like_a_time(cleaned):
        raise unreadable
    # Imported on first use: dateparser is the heaviest import of the core (~10 MB of
    # tables), and ISO and "in N units" times, the scheduler and the rest never need it.
    from dateparser.date import DateDataParser

    parser = DateDataParser(
        languages=["en"],
        settings={
            "PREFER_DATES_FROM": "future",
            "RELATIVE_BASE": local_now.replace(tzinfo=None),
            "RETURN_TIME_AS_PERIOD": True,
        },
    )
    try:
        data = parser.get_date_data(cleaned)
    except (ValueError, OverflowError) as exc:  # e.g. year 0 or 10000 in a date
        raise unreadable from exc
    wall, period = data.date_obj, data.period
    if wall is None:
        raise unreadable
    if period not in ("day", "time"):
        raise TimeError(f"'{cleaned}' does not name a day. Try 'dec 1 10:00' or 'friday 17:00'.")
    if clock is not None:
        # dateparser calls "tomorrow 12:00" a day, not a time, when now is 12:00.
        wall = datetime.combine(wall.date(), clock)
    elif period == "day":
        wall = datetime.combine(wall.date(), DEFAULT_HOUR)
    try:
        return wall.replace(tzinfo=zone).astimezone(UTC)
    except OverflowError as exc:  # 0001-01-01 00:00 east of Greenwich, 9999-12-31 west of it
        raise TimeError(f"'{cleaned}' is out of range.") from exc


# ---------------------------------------------------------------------------- RECURRENCE

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
        cron, interval, canonical = _read_recurrence(_clean(self.spec))
        if canonical != self.spec:
            raise ValueError(f"{self.spec!r} is not canonical; build it with parse_recurrence")
        _zone(self.tz)
        if self.start is not None and (cron is not None or self.start.utcoffset() is None):
            raise ValueError("start must be aware, and only intervals take one")
        object.__setattr__(self, "_cron", cron)
        object.__setattr__(self, "_interval", interval)

    def trigger(self) -> BaseTrigger:
        """An APScheduler trigger for this repetition, computing in zone ``tz``."""
        zone = _zone(self.tz)
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
    cleaned = _check_length(text)
    _zone(tz)
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
            days, name = _CRON_DAY_NAMES[(weekday + 1) % 7], _WEEKDAYS[weekday]
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
        if timedelta(minutes=minutes) > _HORIZON:
            raise TimeError(f"A repetition must come at least every {HORIZON_YEARS} years.")
        spec = f"every {unit}" if count == 1 else f"every {count} {unit}s"
        return None, timedelta(minutes=minutes), spec
    raise TimeError(f"I could not read '{cleaned}' as a repetition. {_EVERY_EXAMPLES}")


def _weekday(word: str) -> int | None:
    """Monday = 0 for "monday" or "mon" (plural "s" already removed); else None."""
    for index, name in enumerate(_WEEKDAYS):
        if word in (name, name[:3]):
            return index
    return None


def _read_time_of_day(text: str) -> tuple[int, int]:
    match = _TIME_OF_DAY.fullmatch(text)
    bad = TimeError(f"I could not read '{text}' as a time of day. Try '9:00' or '17:30'.")
    if not match:
        raise bad
    hour, minute, half = int(match[1]), int(match[2] or 0), match[3]
    _check_clock(text, hour, minute, 0, half)
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


__all__ = ["Recurrence", "TimeError", "parse_recurrence", "parse_when"]
