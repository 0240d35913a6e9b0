"""Per-person rate limits on the commands that could be used to flood a room or scrape.

Kept in memory only: a record of who did what, when, is exactly what Undersign must not
store. A restart forgets them, which errs on the side of the user.
"""

from __future__ import annotations

from collections import defaultdict, deque
from datetime import datetime, timedelta

from bot.config import BotConfig

WINDOW = timedelta(hours=1)


class RateLimits:
    """Per person and hour, per bucket a command declares (``limit=`` on its router
    decorator): ``new``, ``export``, and reviews and reminders together (``remind``)."""

    def __init__(self, config: BotConfig) -> None:
        self.config = config
        self._used: dict[tuple[str, str], deque[datetime]] = defaultdict(deque)

    def problem(self, who: str, command: str, bucket: str | None, now: datetime) -> str | None:
        """Why ``who`` may not run ``command`` now, or None when they may."""
        if bucket is None:
            return None
        limit = self._limit(bucket)
        used = self._used[who, bucket]
        while used and used[0] <= now - WINDOW:
            used.popleft()
        if len(used) >= limit:
            wait = int((used[0] + WINDOW - now).total_seconds() // 60) + 1
            return (f"You have used {command} {limit} times in the last hour, the most allowed; "
                    f"try again in {wait} minute{'' if wait == 1 else 's'}.")
        return None

    def _limit(self, bucket: str) -> int:
        return int(getattr(self.config, f"{bucket}_per_hour"))

    def note(self, who: str, bucket: str | None, now: datetime) -> None:
        if bucket is not None:
            self._used[who, bucket].append(now)
