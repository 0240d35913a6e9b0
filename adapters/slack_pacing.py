"""Pacing of Slack Web API calls: token buckets per method (and per channel), and a 429
handler that pauses every caller of the method it hit."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass

from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState

log = logging.getLogger("undersign.slack")

__all__ = ["LIMITS", "PER_CHANNEL", "Limit", "PacedRateLimitHandler", "Pacer"]


# --- pacing -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Limit:
    """A token bucket: ``rate`` calls per second on average, ``burst`` at once."""

    rate: float
    burst: int


# Slack's published tiers (Tier 3 = 50+/min, Tier 4 = 100+/min); chat.postMessage allows
# about one message per second per channel, with short bursts.
LIMITS: Mapping[str, Limit] = {
    "conversations.open": Limit(50 / 60, 10),
    "chat.postEphemeral": Limit(100 / 60, 20),
    "chat.postMessage": Limit(4.0, 20),
    "chat.update": Limit(50 / 60, 10),
    "users.info": Limit(100 / 60, 20),
    "files.getUploadURLExternal": Limit(20 / 60, 5),
    "files.completeUploadExternal": Limit(20 / 60, 5),
}
PER_CHANNEL = Limit(1.0, 3)
# Tokens kept in hand: the server counts a call when it arrives, and arrivals are jittered
# by the network, so a pacer spending its last token exactly on time meets a 429 (and a
# Retry-After of a second or more) whenever one call travels faster than the one before.
# Half a token of reserve absorbs jitter up to half an interval without lowering the rate.
RESERVE = 0.5
PER_CHANNEL_METHODS = frozenset({"chat.postMessage", "chat.update"})


class Pacer:
    """Spaces out Web API calls per method (and per channel where Slack counts that way), so a
    fan-out of many private messages ends near the limit's minimum time instead of meeting
    a wall of 429s. A 429 that still happens pauses every caller of that method."""

    def __init__(self, limits: Mapping[str, Limit], per_channel: Limit = PER_CHANNEL) -> None:
        self._limits = limits
        self._per_channel = per_channel
        self._tokens: dict[str, float] = {}
        self._stamp: dict[str, float] = {}
        self._paused_until: dict[str, float] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def acquire(self, method: str, channel: str | None = None) -> None:
        if channel is not None and method in PER_CHANNEL_METHODS:
            await self._take(f"{method}@{channel}", self._per_channel)
        limit = self._limits.get(method)
        if limit is not None:
            await self._take(method, limit)

    def pause(self, method: str, seconds: float) -> None:
        until = time.monotonic() + seconds
        self._paused_until[method] = max(self._paused_until.get(method, 0.0), until)
        self._tokens[method] = 0.0
        self._stamp[method] = until

    async def _take(self, key: str, limit: Limit) -> None:
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            while True:
                now = time.monotonic()
                method = key.split("@", 1)[0]
                paused = self._paused_until.get(method, 0.0) - now
                if paused > 0:
                    await asyncio.sleep(paused)
                    continue
                stamp = self._stamp.get(key, now)
                refill = max(0.0, now - stamp) * limit.rate
                tokens = min(limit.burst, self._tokens.get(key, limit.burst) + refill)
                self._stamp[key] = now
                needed = 1 + min(RESERVE, limit.burst - 1)
                if tokens >= needed:
                    self._tokens[key] = tokens - 1
                    return
                self._tokens[key] = tokens
                await asyncio.sleep((needed - tokens) / limit.rate)


class PacedRateLimitHandler(AsyncRateLimitErrorRetryHandler):
    """slack_sdk's 429 handler (waits ``Retry-After``), which also tells the pacer."""

    def __init__(self, pacer: Pacer, max_retry_count: int = 3) -> None:
        super().__init__(max_retry_count=max_retry_count)
        self._pacer = pacer
        self.waits = 0  # 429s met, each a wait (bot/ops.py counts them)

    async def prepare_for_next_attempt_async(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> None:
        if response is not None:
            headers = response.headers.items()
            after = next((v for k, v in headers if k.lower() == "retry-after"), ["1"])
            method = request.url.rstrip("/").rsplit("/", 1)[-1].split("?", 1)[0]
            log.warning("Slack rate limit on %s: waiting %s s", method, after[0])
            self._pacer.pause(method, float(after[0]))
            self.waits += 1
        await super().prepare_for_next_attempt_async(
            state=state, request=request, response=response, error=error
        )
