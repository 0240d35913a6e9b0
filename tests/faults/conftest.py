"""Fixtures shared by the fault tests: the fake Slack (and no proxies for loopback)."""

from tests.slack.conftest import _no_proxy, fake

__all__ = ["_no_proxy", "fake"]
