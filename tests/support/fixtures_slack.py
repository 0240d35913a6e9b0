"""Fixtures (a pytest plugin) for driving Slack offline: the fake Web API, the adapter in
HTTP mode, the whole App on Slack, and no proxies for loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from adapters.slack import SlackAdapter
from tests.support.fake_slack import FakeSlack
from tests.support.processes import PROXY_VARIABLES
from tests.support.slack import EventRecorder, Slack, make_adapter, slack_app


@pytest.fixture
def no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """No proxy variables: slack_sdk hands HTTP(S)_PROXY to aiohttp and ignores NO_PROXY."""
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    server = FakeSlack()
    await server.start()
    yield server
    await server.stop()
    assert not server.invalid, f"Block Kit that Slack would refuse: {server.invalid}"


@pytest.fixture
def recorder() -> EventRecorder:
    return EventRecorder()


@pytest.fixture
async def http_adapter(fake: FakeSlack, recorder: EventRecorder) -> AsyncIterator[SlackAdapter]:
    adapter = make_adapter(fake)
    await adapter.start(recorder)
    yield adapter
    await adapter.stop()


@pytest.fixture
async def slack(fake: FakeSlack, tmp_path: Path) -> AsyncIterator[Slack]:
    async with slack_app(fake, tmp_path) as harness:
        yield harness
