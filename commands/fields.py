"""A letter's fields as ``new`` and ``edit`` take them (``title "…"``, ``link URL``,
``deadline WHEN``, ``visibility …``, ``threshold N``), each validated the same way for
both."""

from __future__ import annotations

from datetime import datetime

from bot.model import Visibility
from bot.syntax import Token, UsageError, shorten
from bot.timeparse import parse_when
from commands.parser import MAX_TITLE, clean_text, http_url, joined, one, positive_int

FIELDS = ("title", "link", "deadline", "visibility", "threshold")


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
