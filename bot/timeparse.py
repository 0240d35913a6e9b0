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
from datetime import UTC, datetime, time, timedelta
from typing import Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

MAX_TEXT: Final = 200
HORIZON_YEARS: Final = 5
DEFAULT_HOUR: Final = time(9, 0)
HORIZON: Final = timedelta(days=HORIZON_YEARS * 366)
_WHEN_EXAMPLES: Final = "Try '2026-12-01 15:00', 'in 2 hours', 'tomorrow 9am' or 'friday 17:00'."


class TimeError(ValueError):
    """A time or repetition that cannot be used; the message is a sentence for the user."""


# ---------------------------------------------------------------------------- words

WEEKDAYS: Final = (
    "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday",
)  # fmt: skip
_WEEKDAY_WORDS: Final = frozenset(
    [*WEEKDAYS, "mon", "tue", "tues", "wed", "thu", "thur", "thurs", "fri", "sat", "sun"]
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


def clean(text: str) -> str:
    """Lower case, one space between words, curly quotes made straight."""
    text = text.replace("“", '"').replace("”", '"').replace("‘", "'").replace("’", "'")
    return " ".join(text.lower().split())


def zone_named(tz: str) -> ZoneInfo:
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise TimeError(f"I do not know the time zone '{tz}'.") from exc


def check_length(text: str) -> str:
    if len(text) > MAX_TEXT:
        raise TimeError(f"That is too long to be a time (at most {MAX_TEXT} characters).")
    cleaned = clean(text)
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
    cleaned = check_length(text)
    zone = zone_named(tz)
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
    if months > 12 * HORIZON_YEARS or days > HORIZON.days or seconds > HORIZON.total_seconds():
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
            check_clock(word[match.start(1):], hour, int(minute or 0), int(second or 0), half)
            if half:
                hour = hour % 12 + (12 if half == "pm" else 0)
            found.append(time(hour, int(minute or 0), int(second or 0)))
        elif word == "noon":
            found.append(time(12, 0))
    return found[0] if len(found) == 1 else None


def check_clock(shown: str, hour: int, minute: int, second: int, half: str | None) -> None:
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
