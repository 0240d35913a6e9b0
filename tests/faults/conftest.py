"""Local to the fault tests: no proxies for loopback, and a Synapse of their own that they
may stop and start without disturbing the Matrix tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.homeserver import Synapse, started_synapse


@pytest.fixture(autouse=True)
def _no_proxy(no_proxy: None) -> None:
    """Every fault test runs without proxy variables (see the ``no_proxy`` fixture)."""


@pytest.fixture(scope="module")
def own_synapse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Synapse]:
    with started_synapse(tmp_path_factory.mktemp("faults-synapse")) as hs:
        yield hs
