"""What the App and the scheduler report as they work. The base class does nothing; with
``[ops] listen`` set, bot.ops.Metrics counts it for ``/metrics``. Arguments are kinds,
platform names, durations and outcomes: nothing about a person, a room or a text."""

from __future__ import annotations

from dataclasses import dataclass


class Observer:
    def event(self, kind: str, platform: str, seconds: float, ok: bool) -> None:
        """An event handled (``ok``) or failed, and how long it took."""

    def reply(self, platform: str, sent: bool) -> None:
        """A reply handed to a platform, sent or failed."""

    def timer(self, lateness: float) -> None:
        """A timer fired, ``lateness`` seconds after it was due."""


@dataclass
class AdapterStats:
    """What an adapter counts about its connection, for ``/healthz`` and ``/metrics`` (an
    adapter without ``stats`` counts as connected). Numbers only."""

    connected: bool = False
    reconnects: int = 0
    rate_limit_waits: int = 0


def stats_of(adapter: object) -> AdapterStats:
    stats = getattr(adapter, "stats", None)
    return stats if isinstance(stats, AdapterStats) else AdapterStats(connected=True)
