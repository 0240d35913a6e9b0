"""Fixtures (a pytest plugin) for the Matrix tests: a real Synapse on 127.0.0.1 for the
whole session, people as nio clients or on matrix-js-sdk (Element's stack), and the
adapter under test.

Synapse comes from ``.synapse-venv`` (``scripts/synapse.sh`` makes it). Without it these
tests skip with the reason, except under CI=true where a missing server is a failure.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.homeserver import Synapse, started_synapse
from tests.support.js_people import JsPeople, require_harness
from tests.support.matrix_bot import MatrixBot, MatrixBotFactory
from tests.support.matrix_people import PersonFactory, gathering


@pytest.fixture(scope="session")
def synapse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Synapse]:
    with started_synapse(tmp_path_factory.mktemp("synapse")) as hs:
        yield hs


@pytest.fixture
async def people(synapse: Synapse, tmp_path: Path) -> AsyncIterator[PersonFactory]:
    async with gathering(synapse, tmp_path) as make:
        yield make


@pytest.fixture
async def js_people(synapse: Synapse, tmp_path: Path) -> AsyncIterator[JsPeople]:
    """People on matrix-js-sdk, one Node process per device, all stopped at the end."""
    require_harness()
    logs = tmp_path / "js-people"
    logs.mkdir()
    people = JsPeople(synapse, logs)
    try:
        yield people
    finally:
        await people.stop()


@pytest.fixture
async def make_bot(
    synapse: Synapse, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[MatrixBotFactory]:
    bots: list[MatrixBot] = []

    async def make(**matrix: Any) -> MatrixBot:
        bot = MatrixBot(synapse, tmp_path / f"bot{len(bots)}", monkeypatch, **matrix)
        await bot.start()
        bots.append(bot)
        return bot

    yield make
    for bot in bots:
        await bot.stop()
