"""Round trip of a signed slash command over HTTP: the Slack adapter vs a bare floor.

The floor is an aiohttp handler that only verifies the signature and answers 200; both run
in the same process and loop, measured alternately. Run: ``python bench/slack_ack.py [N]``.
The adapter's handler does nothing, so this measures Bolt and the adapter, not the core.

The modal path is timed too: a signed ``/undersign new`` with no arguments, from the
request to its ack, and from the request to the fake Slack serving ``views.open`` with its
trigger_id (the adapter asks ``conversations.info`` first, remembered once answered).
Targets: the ack within 2× the floor, ``views.open`` under 1 s at p99.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import os
import statistics
import sys
import time
from pathlib import Path

from aiohttp import ClientSession, web

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `python bench/slack_ack.py`

from adapters.slack import SlackAdapter
from bot.events import Event
from tests.support.fake_slack import FakeSlack
from tests.support.processes import PROXY_VARIABLES
from tests.support.slack import FORM, SECRET, make_adapter, signature, slash_body


async def floor_server() -> tuple[web.AppRunner, int]:
    async def events(request: web.Request) -> web.Response:
        body = await request.text()
        ts = request.headers.get("X-Slack-Request-Timestamp", "0")
        base = f"v0:{ts}:{body}".encode()
        expected = "v0=" + hmac.new(SECRET.encode(), base, hashlib.sha256).hexdigest()
        fresh = abs(time.time() - int(ts)) <= 300
        ok = fresh and hmac.compare_digest(expected, request.headers.get("X-Slack-Signature", ""))
        return web.Response(status=200 if ok else 401)

    app = web.Application()
    app.router.add_post("/slack/events", events)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    return runner, int(runner.addresses[0][1])


async def one(session: ClientSession, port: int, n: int, text: str = "status L1",
              trigger: str | None = None) -> float:
    body = slash_body(text, trigger=trigger or f"1.2.{n}")
    ts = int(time.time())
    headers = {
        "Content-Type": FORM,
        "X-Slack-Request-Timestamp": str(ts),
        "X-Slack-Signature": signature(body, ts),
    }
    started = time.perf_counter()
    url = f"http://127.0.0.1:{port}/slack/events"
    async with session.post(url, data=body, headers=headers) as resp:
        await resp.read()
        assert resp.status == 200, resp.status
    return (time.perf_counter() - started) * 1000


def summary(name: str, samples: list[float]) -> str:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    median = statistics.median(samples)
    return f"{name:<32} median {median:6.2f} ms   p99 {p99:6.2f} ms   (n={len(samples)})"


async def modal(session: ClientSession, port: int, fake: FakeSlack, adapter: SlackAdapter,
                n: int) -> tuple[float, float]:
    """``/undersign new``: the ack, and the time until the fake served views.open. The
    adapter finishes with the answer before the next request, so none overlaps the next."""
    fake.opened.clear()
    trigger = fake.issue(f"3.3.{n}")  # issued as the request leaves: waits count from here
    ack = await one(session, port, n, "new", trigger)
    await asyncio.wait_for(fake.opened.wait(), 5)
    await adapter.drain()
    return ack, fake.trigger_waits[-1] * 1000


async def main(n: int) -> None:
    for name in PROXY_VARIABLES:
        os.environ.pop(name, None)
    fake = FakeSlack()
    await fake.start()

    async def nothing(event: Event) -> None:
        return None

    adapter = make_adapter(fake)
    await adapter.start(nothing)
    runner, floor_port = await floor_server()
    bolt_port = adapter.http_port or 0
    bolt: list[float] = []
    floor: list[float] = []
    modal_ack: list[float] = []
    modal_floor: list[float] = []
    opened: list[float] = []
    try:
        async with ClientSession() as session:
            for i in range(20):  # warm up both
                await one(session, bolt_port, -i)
                await one(session, floor_port, -i)
            for i in range(n):
                bolt.append(await one(session, bolt_port, i))
                floor.append(await one(session, floor_port, i))
            await modal(session, bolt_port, fake, adapter, -1)  # warm up (conversations.info)
            # The fake runs in this process: its Block Kit check (slack_sdk's models) would
            # be timed as the bot's. The view was checked in the warm-up; not again.
            fake.check_blocks = False
            for i in range(n):
                ack, waited = await modal(session, bolt_port, fake, adapter, i)
                modal_ack.append(ack)
                opened.append(waited)
                modal_floor.append(await one(session, floor_port, i, "new"))
        await adapter.drain()
        assert not fake.invalid, fake.invalid
    finally:
        await adapter.stop()
        await runner.cleanup()
        await fake.stop()
    print(summary("Undersign on Bolt", bolt))
    print(summary("floor (verify only)", floor))
    print(summary("new (modal): ack", modal_ack))
    print(summary("new (modal): views.open served", opened))
    print(summary("floor (verify only), same runs", modal_floor))


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 500))
