"""Local to the Matrix tests: every 429 is surfaced (the fixtures they share are in
tests/support/fixtures_matrix.py)."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def _no_rate_limits(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Every 429 is surfaced: the bot logs it at WARNING, and these tests must see none."""
    caplog.set_level(logging.INFO, logger="undersign")
    yield
    limited = [r for r in caplog.records if "rate limited" in r.getMessage()]
    assert not limited, f"the homeserver rate-limited the bot {len(limited)} times"
