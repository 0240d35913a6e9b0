"""Fixtures shared by the fault tests: the fake Slack (and no proxies for loopback), and a
Synapse of their own that they may stop and start without disturbing the Matrix tests."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.slack.conftest import _no_proxy, fake

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "matrix"))

from synapse import Synapse, running

__all__ = ["_no_proxy", "fake", "own_synapse"]


@pytest.fixture(scope="module")
def own_synapse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Synapse]:
    with running(tmp_path_factory.mktemp("faults-synapse")) as hs:
        yield hs
