"""Validated arguments: titles, texts, links, numbers and options (the grammar of the line
itself, tokens and ids, is bot.syntax)."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from bot.syntax import Token, UsageError, shorten, strip_invisible

MAX_TITLE = 200
MAX_LINK = 2000
MAX_TEXT = 1000
MAX_LISTING = 120  # the line a signer is listed by in the signature block

# Not format characters, but they show nothing: Hangul fillers and the blank braille cell.
_BLANK = frozenset("\u115f\u1160\u3164\uffa0\u2800")


def clean_text(text: str, *, what: str, limit: int) -> str:
    """User text to store: control and format characters removed (see strip_invisible),
    spaces collapsed, length capped. Text that shows nothing is refused as empty."""
    typed, text = text, " ".join(strip_invisible(text).split())
    if all(ch.isspace() or ch in _BLANK for ch in text):
        raise UsageError(f"The {what} is empty." if not typed.strip() else
                         f"The {what} is empty: it has only invisible characters.")
    if len(text) > limit:
        raise UsageError(f"The {what} has {len(text):,} characters; at most {limit:,} are allowed.")
    return text


def http_url(text: str) -> str:
    text = text.strip()
    if len(text) > MAX_LINK:
        raise UsageError(f"The link is too long ({len(text):,} characters; at most {MAX_LINK:,}).")
    parts = urlsplit(text)
    if (
        parts.scheme.lower() not in ("http", "https")
        or not parts.netloc
        or strip_invisible(text) != text
        or any(c.isspace() or c in "<>\"|" for c in text)
    ):
        raise UsageError(f"'{shorten(text)}' is not a web link; links start with https://.")
    if "@" in parts.netloc:
        # Not quoted back: what comes before the @ may be a password.
        raise UsageError("That link has a user name or password in it (the part before @): "
                         "everyone who sees the letter would see it. Give the link without it.")
    return text


def positive_int(token: Token, *, what: str, maximum: int = 1_000_000) -> int:
    text = token.text.strip()
    if not re.fullmatch(r"[0-9]{1,9}", text) or not 1 <= int(text) <= maximum:
        raise UsageError(f"The {what} must be a whole number from 1 to {maximum:,}.")
    return int(text)


def split_options(
    tokens: list[Token], keys: set[str]
) -> tuple[list[Token], dict[str, list[Token]]]:
    """Positional tokens, then ``key value…`` options in any order. A value runs until the
    next option keyword; a keyword given twice is an error."""
    positional: list[Token] = []
    options: dict[str, list[Token]] = {}
    current: str | None = None
    for token in tokens:
        if token.word in keys:
            if token.word in options:
                raise UsageError(f"'{token.word}' is given twice.")
            current = token.word
            options[current] = []
        elif current is None:
            positional.append(token)
        else:
            options[current].append(token)
    for key, value in options.items():
        if not value:
            raise UsageError(f"'{key}' needs a value after it.")
    return positional, options


def joined(tokens: list[Token]) -> str:
    return " ".join(t.text for t in tokens)


def one(tokens: list[Token], what: str) -> Token:
    if len(tokens) != 1:
        raise UsageError(f"'{what}' takes one value; put several words in quotes.")
    return tokens[0]


def no_more(tokens: list[Token]) -> None:
    if tokens:
        raise UsageError(f"I did not expect '{shorten(joined(tokens))}' there.")
