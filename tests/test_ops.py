"""Health and metrics (``[ops] listen``): ``/healthz`` follows the database, each adapter
and the scheduler; ``/metrics`` counts a console and Slack scenario and names nothing in it.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from bot.events import Command, Room, User
from bot.ops import Ops
from tests.support.bot import RecordingAdapter
from tests.support.fake_slack import FakeSlack
from tests.support.slack import ORGANIZER, ROOM, SIGNER, Slack, slack_app

pytestmark = pytest.mark.slack

TITLE = "Metrics must not carry this title"
REMINDER = "nor this reminder text"


@pytest.fixture
async def socket_slack(fake: FakeSlack, tmp_path: Path, no_proxy: None) -> AsyncIterator[Slack]:
    async with slack_app(fake, tmp_path, mode="socket") as harness:
        await fake.wait_connected()
        harness.app.add_adapter(RecordingAdapter("console"))
        await harness.app.scheduler.start()
        yield harness


@pytest.fixture
async def ops(socket_slack: Slack) -> Ops:
    return await socket_slack.app.start_ops("127.0.0.1", 0)


@pytest.fixture
async def http_ops(slack: Slack, no_proxy: None) -> Ops:
    """Slack in HTTP mode (signed requests), a console beside it."""
    slack.app.add_adapter(RecordingAdapter("console"))
    return await slack.app.start_ops("127.0.0.1", 0)


async def get(ops: Ops, path: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as http, http.get(
            f"http://127.0.0.1:{ops.port}{path}") as resp:
        return resp.status, await resp.text()


async def health_becomes(ops: Ops, status: int, within: float = 20) -> str:
    async with asyncio.timeout(within):
        while True:
            got, body = await get(ops, "/healthz")
            if got == status:
                return body
            await asyncio.sleep(0.05)


async def test_healthz_follows_the_database_the_adapters_and_the_scheduler(
    ops: Ops, socket_slack: Slack, fake: FakeSlack
) -> None:
    assert await get(ops, "/healthz") == (200, "ok\n")
    store = socket_slack.app.store
    await store._db.execute("PRAGMA query_only = 1")  # as a read-only file refuses writes
    assert await get(ops, "/healthz") == (503, "database: not writable\n")
    await store._db.execute("PRAGMA query_only = 0")
    assert await get(ops, "/healthz") == (200, "ok\n")
    # the Socket Mode link is cut and Slack refuses new ones for a while
    fake.force_429["apps.connections.open"] = 3
    await fake.drop()
    assert await health_becomes(ops, 503) == "slack: not connected\n"
    await fake.wait_connected(count=2, within=60)
    await health_becomes(ops, 200)
    await socket_slack.app.scheduler.stop()
    assert await get(ops, "/healthz") == (503, "scheduler: not running\n")


async def test_metrics_after_a_console_and_slack_scenario_name_nobody_and_nothing(
    http_ops: Ops, slack: Slack, fake: FakeSlack
) -> None:
    ops, app = http_ops, slack.app
    letter, _ = await slack.announce(TITLE, "count")
    fake.force_429["chat.postEphemeral"] = 1  # one rate-limit wait on the way
    await slack.click(SIGNER, "undersign_sign", letter)
    await slack.command(ORGANIZER, f'remind L{letter} in 2 hours "{REMINDER}"')
    await slack.command(SIGNER, "nonsense words")
    for who, text in (("console-alice", f'new "{TITLE} too"'), ("console-bob", "sign L2"),
                      ("console-bob", "forget-me")):
        await app.handle(Command(str(uuid.uuid4()), User("console", who),
                                 Room("console", "general"), text))
    status, text = await get(ops, "/metrics")
    assert status == 200

    def value(name: str, **labels: str) -> float:
        wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
        found = re.search(rf"^{name}\{{{wanted}\}} ([0-9.e+]+)$", text, re.M)
        assert found, (name, labels)
        return float(found[1])

    assert value("undersign_events_total", kind="command", platform="slack", result="ok") == 4
    assert value("undersign_events_total", kind="command", platform="console", result="ok") == 3
    assert value("undersign_event_seconds_count", kind="command") == 7
    assert value("undersign_replies_total", platform="slack", result="sent") >= 5
    assert value("undersign_rate_limit_waits_total", platform="slack") == 1
    assert value("undersign_adapter_connected", platform="slack") == 1
    assert value("undersign_adapter_connected", platform="console") == 1
    assert value("undersign_reconnects_total", platform="slack") == 0
    for secret in (TITLE, REMINDER, ORGANIZER, SIGNER, ROOM, "console-alice", "console-bob",
                   "general", "L1", "L2", "nonsense"):
        assert secret not in text, secret
    labels = set(re.findall(r'(\w+)="', text))
    assert labels <= {"kind", "platform", "result", "le"}, labels
