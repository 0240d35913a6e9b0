"""Per-person rate limits on the commands that could be used to flood a room or scrape.

Kept in memory only: a record of who did what, when, is exactly what Undersign must not
store. A restart forgets them, which errs on the side of the user.
"""

from __future__ import annotations

from collections import defaultdict, deque
from datetime import datetime, timedelta

from bot.config import BotConfig

WINDOW = timedelta(hours=1)
_BUCKET = {"new": "new", "export": "export", "remind": "remind", "review": "remind"}


class RateLimits:
    def __init__(self, config: BotConfig) -> None:
        self.config = config
        self._used: dict[tuple[str, str], deque[datetime]] = defaultdict(deque)

    def problem(self, who: str, command: str, now: datetime) -> str | None:
        """Why ``who`` may not run ``command`` now, or None when they may."""
        limit = self._limit(command)
        if limit is None:
            return None
        used = self._used[who, _BUCKET[command]]
        while used and used[0] <= now - WINDOW:
            used.popleft()
        if len(used) >= limit:
            wait = int((used[0] + WINDOW - now).total_seconds() // 60) + 1
            return (f"You have used {command} {limit} times in the last hour, the most allowed; "
                    f"try again in {wait} minute{'' if wait == 1 else 's'}.")
        return None

    def _limit(self, command: str) -> int | None:
        """Per hour: new, export, and reviews and reminders together."""
        name = _BUCKET.get(command)
        return int(getattr(self.config, f"{name}_per_hour")) if name else None

    def note(self, who: str, command: str, now: datetime) -> None:
        if self._limit(command) is not None:
            self._used[who, _BUCKET[command]].append(now)
