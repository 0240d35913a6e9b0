"""Placeholder until the full WHEN parser lands: ISO times only."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo


class TimeError(ValueError):
    pass


def parse_when(text: str, tz: str, now: datetime) -> datetime:
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise TimeError(f"I could not read '{text}' as a time.") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo(tz))
    moment = moment.astimezone(UTC)
    if moment <= now:
        raise TimeError(f"'{text}' is in the past.")
    return moment
