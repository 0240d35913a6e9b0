"""Fixtures (a pytest plugin): the database key, and a real App on a real SQLite file with a
recording adapter per platform."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.app import App
from bot.config import Config
from tests.support.bot import TEST_KEY, Bot, Clock, RecordingAdapter


@pytest.fixture(autouse=True)
def _db_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UNDERSIGN_DB_KEY", TEST_KEY)


@pytest.fixture
def config(tmp_path: Path) -> Config:
    return Config.model_validate({"bot": {"database": str(tmp_path / "undersign.db"),
                                          "admins": ["console:root"]}})


@pytest.fixture
async def bot(config: Config) -> AsyncIterator[Bot]:
    clock = Clock()
    app = App(config, clock=clock)
    await app.open()
    recorders = {p: RecordingAdapter(p) for p in ("console", "slack", "matrix")}
    for rec in recorders.values():
        app.add_adapter(rec)
    yield Bot(app, recorders, clock)
    await app.close()
