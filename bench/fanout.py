"""Benchmark 4: a reminder `to signers` for N signers, privately, on the fake Slack, whose
Web API enforces a per-method rate limit.

The limits are Slack's documented tiers as the adapter knows them (``LIMITS`` in
adapters/slack_pacing.py: conversations.open Tier 3, 50/min; chat.postMessage about 4/s),
sped up SCALE times so that the run takes tens of seconds; the fake answers 429 with
``Retry-After`` past its token bucket, and the adapter paces with the same scaled limits.
The path is the real one: App (store, core, scheduler) with the SlackAdapter in HTTP
mode; N signatures go through the core, then an organizer's
``remind L1 in 3 seconds "…" to signers`` goes through App.handle, and the scheduler fires it.

The floor is the limit's minimum: for each method, (calls - burst) / rate; the largest.
Time is measured from the reminder's due time (as stored) to the last DM posted.

    .venv/bin/python bench/fanout.py            # N=2000 SCALE=100 (env)
"""

from __future__ import annotations

import asyncio
import base64
import os
import sqlite3
import sys
import tempfile
import time
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from adapters.slack import SlackAdapter
from adapters.slack_pacing import LIMITS, Limit
from bot.app import App
from bot.config import Config
from bot.events import Command, Room, User
from tests.support.fake_slack import BOT_TOKEN, Bucket, FakeSlack
from tests.support.processes import PROXY_VARIABLES

N = int(os.environ.get("N", "2000"))
SCALE = float(os.environ.get("SCALE", "100"))
FANOUT_METHODS = ("conversations.open", "chat.postMessage")


class TimedFakeSlack(FakeSlack):
    """The fake Slack, stamping each call it served (method, channel or user, wall time)."""

    def __init__(self) -> None:
        super().__init__()
        self.stamps: list[tuple[str, str, float]] = []
        handlers = dict(self._handlers)
        for method, handler in handlers.items():
            handlers[method] = self._stamped(method, handler)
        self._handlers = handlers

    def _stamped(self, method: str, handler: Any) -> Any:
        def serve(params: dict[str, Any]) -> dict[str, Any]:
            who = str(params.get("channel") or params.get("users") or "")
            self.stamps.append((method, who, time.time()))
            result: dict[str, Any] = handler(params)
            return result

        return serve


def minimum_seconds(limits: dict[str, Limit], calls: dict[str, int]) -> tuple[float, str]:
    """The least time the limits allow for these calls, and the method that sets it."""
    need = {m: max(0.0, (calls[m] - limits[m].burst) / limits[m].rate) for m in calls}
    method = max(need, key=lambda m: need[m])
    return need[method], method


async def main() -> int:
    for name in PROXY_VARIABLES:
        os.environ.pop(name, None)
    os.environ["UNDERSIGN_DB_KEY"] = base64.urlsafe_b64encode(os.urandom(32)).decode()
    limits = {m: Limit(lim.rate * SCALE, lim.burst) for m, lim in LIMITS.items()}
    fake = TimedFakeSlack()
    await fake.start()
    with tempfile.TemporaryDirectory() as tmp:
        config = Config.model_validate({
            "bot": {"database": "undersign.db"},
            "slack": {"enabled": True, "mode": "http", "http_port": 0,
                      "api_base_url": fake.base_url},
            "base_dir": tmp,
        })
        app = App(config)
        await app.open()
        # What App.run does, with the adapter given the scaled limits.
        app.add_adapter(SlackAdapter(config.slack, config.bot, bot_token=BOT_TOKEN,
                                     signing_secret="bench-secret", limits=limits))
        for adapter in app.adapters.values():
            await adapter.start(app.handle)
        await app.scheduler.start()
        try:
            return await run(app, fake, limits, Path(tmp) / "undersign.db")
        finally:
            await app.close()
            await fake.stop()


async def run(app: App, fake: TimedFakeSlack, limits: dict[str, Limit], db: Path) -> int:
    room = Room("slack", "C0FANOUT01")
    organizer = User("slack", "U0ORGANIZER")
    await app.core.dispatch(Command("new", organizer, room, 'new "Fan-out" visibility count'))
    started = time.perf_counter()
    for i in range(N):
        await app.core.dispatch(Command(f"sign{i}", User("slack", f"U{i:08d}"), room, "sign L1"))
    signing = time.perf_counter() - started
    await app.handle(Command("remind", organizer, room,
                             'remind L1 in 3 seconds "Last day to sign" to signers'))
    with sqlite3.connect(db) as conn:
        (next_at,) = conn.execute("SELECT next_at FROM schedules").fetchone()
    due = datetime.fromisoformat(next_at.replace("Z", "+00:00")).timestamp()
    # The rate limit is enforced from here on, fresh (the setup spent none of it).
    fake.limits = {m: Bucket(limits[m].rate, limits[m].burst) for m in FANOUT_METHODS}
    fake.stamps.clear()
    floor, binding = minimum_seconds(limits, {m: N for m in FANOUT_METHODS})
    deadline = time.monotonic() + 3 + 3 * floor + 30
    while time.monotonic() < deadline:
        posted = sum(1 for m, who, _ in fake.stamps if m == "chat.postMessage"
                     and who.startswith("D"))
        if posted >= N:
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.5)  # anything sent twice would arrive now
    dms = [(who, at) for m, who, at in fake.stamps if m == "chat.postMessage"
           and who.startswith("D")]
    opens = [at for m, _, at in fake.stamps if m == "conversations.open"]
    per_channel = Counter(who for who, _ in dms)
    expected = {"D" + f"U{i:08d}"[1:] for i in range(N)}
    twice = sum(1 for c in per_channel.values() if c > 1)
    missing = len(expected - set(per_channel))
    throttled = Counter(fake.rate_limited)
    print(f"fan-out: reminder to {N} signers privately (DM) on the fake Slack, limits ×{SCALE:g}")
    for m in FANOUT_METHODS:
        print(f"  limit {m:<20} {limits[m].rate:7.1f}/s burst {limits[m].burst}"
              f"   calls {sum(1 for x, _, _ in fake.stamps if x == m)}"
              f"   429s {throttled.get(m, 0)}")
    print(f"  {N} sign-ons through the core first: {signing:.1f} s")
    print(f"  delivered {len(per_channel)}/{N}, missing {missing}, delivered twice {twice}")
    if dms:
        total = max(at for _, at in dms) - due
        first = min(opens) - due if opens else float("nan")
        print(f"  due → last DM: {total:.2f} s (first call {first * 1000:.0f} ms after due)")
        print(f"  floor (the limit's minimum, set by {binding}): {floor:.2f} s")
        print(f"  ratio to floor: {total / floor:.3f} (target ≤ 1.1)")
    ok = not missing and not twice and bool(dms)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
