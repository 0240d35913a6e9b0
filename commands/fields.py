"""A letter's fields as ``new`` and ``edit`` take them (``title "…"``, ``link URL``,
``deadline WHEN``, ``visibility …``, ``threshold N``), each validated the same way for
both."""

from __future__ import annotations

import re
from datetime import datetime

from bot.model import Visibility
from bot.syntax import Token, UsageError, shorten
from bot.timeparse import parse_when
from commands.parser import MAX_TITLE, clean_text, http_url, joined, one, positive_int

FIELDS = ("title", "link", "deadline", "visibility", "threshold", "only")


def title(tokens: list[Token]) -> str:
    return clean_text(joined(tokens), what="title", limit=MAX_TITLE)


def link(tokens: list[Token]) -> str:
    return http_url(one(tokens, "link").text)


def deadline(tokens: list[Token], tz: str, now: datetime) -> datetime:
    return parse_when(joined(tokens), tz, now)


def visibility(tokens: list[Token]) -> Visibility:
    said = one(tokens, "visibility").text.lower()
    if said not in set(Visibility):
        raise UsageError(f"Visibility is public, count or sealed, not '{shorten(said)}'.")
    return Visibility(said)


def threshold(options: dict[str, list[Token]], visibility: Visibility,
              before: int | None = None) -> int | None:
    """The threshold a letter of ``visibility`` gets: the one given, else ``before`` (the
    letter's own, for an edit); only a sealed letter has one, and it must."""
    if "threshold" in options:
        if visibility is not Visibility.SEALED:
            raise UsageError("A threshold applies only to sealed letters (visibility sealed).")
        return positive_int(one(options["threshold"], "threshold"), what="threshold")
    if visibility is not Visibility.SEALED:
        return None
    if before is None:
        raise UsageError("A sealed letter needs a threshold: how many must sign before names show.")
    return before


MAX_ONLY = 20
# A Matrix server name (host, optional port) or a Slack team or organisation id.
_HOME = re.compile(r"^([a-z0-9\-]{1,63}(\.[a-z0-9\-]{1,63})*(:\d{1,5})?"
                   r"|\[[0-9a-f:.]{2,45}\](:\d{1,5})?)$")


def only(tokens: list[Token]) -> tuple[str, ...]:
    """``only SERVER[,SERVER]``: the Matrix servers and Slack team ids whose people may
    sign; ``only anyone`` lifts it."""
    said = [w for w in re.split(r"[,\s]+", joined(tokens).lower()) if w]
    if said in (["anyone"], ["*"]):
        return ()
    if not said:
        raise UsageError("'only' needs who may sign: Matrix server names or Slack team ids, "
                         "separated by commas (only example.org,T0123ABCD), or anyone.")
    if len(said) > MAX_ONLY:
        raise UsageError(f"'only' takes at most {MAX_ONLY} servers or teams.")
    for home in said:
        if not _HOME.match(home):
            raise UsageError(f"'{shorten(home)}' is not a Matrix server name (example.org) "
                             "or a Slack team id (T0123ABCD).")
    return tuple(dict.fromkeys(said))
