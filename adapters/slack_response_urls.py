"""The response_urls of Slack's slash commands and clicks, kept in memory only (never
stored), for the ephemeral replies to the action each came with.

A URL is kept only on Slack's hooks host (or the Web API's own origin: a test double or
a proxy), for Slack's documented 30 minutes and 5 responses, keyed by where and by whom
the action was taken. A URL elsewhere is ignored, never fetched.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from adapters import slack_translate as tr

log = logging.getLogger("undersign.slack")

# Slack's documented limits on a response_url: 30 minutes, 5 responses.
RESPONSE_URL_SECONDS = 30 * 60
RESPONSE_URL_USES = 5
RESPONSE_URL_CACHE = 10_000


@dataclass
class ResponseUrl:
    """Where to answer one slash command or click, kept in memory only (never stored)."""

    url: str
    expires: float
    uses: int = 0


def hooks_origin(api_base_url: str) -> str:
    """The origin response URLs may have: Slack's hooks host next to its Web API host
    (``https://hooks.slack.com`` for ``https://slack.com/api/``), else the Web API's own
    origin (a test double or a proxy). A payload's URL elsewhere is ignored, never fetched."""
    parts = urlsplit(api_base_url)
    host = parts.netloc
    if parts.hostname in ("slack.com", "slack-gov.com"):
        host = f"hooks.{host}"
    return f"{parts.scheme}://{host}"


class ResponseUrls:
    """The latest usable response_url per (channel, user), the oldest dropped past
    ``RESPONSE_URL_CACHE``."""

    def __init__(self, api_base_url: str) -> None:
        self._origin = hooks_origin(api_base_url)
        self._urls: OrderedDict[tuple[str, str], ResponseUrl] = OrderedDict()
        self._warned = False  # a misconfigured api_base_url is said once, not per request

    def remember(self, body: Mapping[str, Any]) -> None:
        """Keep the payload's response_url for the replies to this action, keyed by where
        and by whom it was taken (the context of those replies)."""
        url, channel, user = tr.response_url_of(body), tr.channel_of(body), tr.user_of(body)
        if url is None or channel is None or user is None:
            return
        if not url.startswith(self._origin + "/"):
            (log.debug if self._warned else log.warning)(
                "Slack sent a response_url on an unexpected host; it is ignored")
            self._warned = True
            return
        key = (channel, user)
        self._urls.pop(key, None)
        self._urls[key] = ResponseUrl(url, time.monotonic() + RESPONSE_URL_SECONDS)
        while len(self._urls) > RESPONSE_URL_CACHE:
            self._urls.popitem(last=False)

    def usable(self, channel: str, user: str) -> ResponseUrl | None:
        """The response_url for a reply to ``user`` in ``channel``, unless it has expired
        or been used up (then it is forgotten)."""
        found = self._urls.get((channel, user))
        if found is None:
            return None
        if found.expires <= time.monotonic() or found.uses >= RESPONSE_URL_USES:
            del self._urls[channel, user]
            return None
        return found
