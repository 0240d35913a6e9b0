"""Local to the Slack tests: no proxies for loopback (the fixtures and helpers they share
are in tests/support/fixtures_slack.py and tests/support/slack.py)."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _no_proxy(no_proxy: None) -> None:
    """Every Slack test runs without proxy variables (see the ``no_proxy`` fixture)."""
