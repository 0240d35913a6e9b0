"""The grammar of a command line, shared by the dispatcher and the commands: tokens,
letter and reminder ids, the usage error that says what was wrong, and how user words are
quoted back."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

MAX_LINE = 4000

_QUOTES = {'"': '"”', "'": "'’", "“": "”\"", "‘": "’'", "«": "»"}
_LETTER = re.compile(r"^[lL](\d{1,9})$")
_REMINDER = re.compile(r"^[rR](\d{1,9})$")
_ZWJ = "\u200d"


class UsageError(Exception):
    """Something the user typed was wrong. ``problem`` says what, in one sentence."""

    def __init__(self, problem: str, usage: str | None = None) -> None:
        super().__init__(problem)
        self.problem = problem
        self.usage = usage


@dataclass(frozen=True)
class Token:
    text: str
    quoted: bool = False

    @property
    def word(self) -> str:
        """The token as a keyword: lower case, and only when it was not quoted."""
        return "" if self.quoted else self.text.lower()


def tokenize(line: str) -> list[Token]:
    """Split on white space; "…", '…', “…” and ‘…’ hold several words. A quote opens only at
    the start of a token, so words like don't need no quoting."""
    if len(line) > MAX_LINE:
        raise UsageError(
            f"That is {len(line):,} characters; a command may have at most {MAX_LINE:,}."
        )
    tokens: list[Token] = []
    i, n = 0, len(line)
    while i < n:
        ch = line[i]
        if ch.isspace():
            i += 1
            continue
        if ch in _QUOTES:
            closers = _QUOTES[ch]
            j = i + 1
            while j < n and line[j] not in closers:
                j += 1
            if j >= n:
                raise UsageError(f"A quote ({ch}) is opened but never closed.")
            tokens.append(Token(line[i + 1 : j], quoted=True))
            i = j + 1
            continue
        j = i
        while j < n and not line[j].isspace():
            j += 1
        tokens.append(Token(line[i:j]))
        i = j
    return tokens


def letter_id(token: Token | None) -> int:
    if token is None:
        raise UsageError("Which letter? Give its id, like L1.")
    match = _LETTER.match(token.text.strip())
    if not match:
        raise UsageError(f"'{shorten(token.text)}' is not a letter id; ids look like L1.")
    return int(match.group(1))


def reminder_id(token: Token | None) -> int:
    if token is None:
        raise UsageError("Which review or reminder? Give its id, like R1.")
    match = _REMINDER.match(token.text.strip())
    if not match:
        raise UsageError(f"'{shorten(token.text)}' is not a reminder id; ids look like R1.")
    return int(match.group(1))


def _emoji(ch: str) -> bool:
    return unicodedata.category(ch) == "So"


def _joins_emoji(text: str, i: int) -> bool:
    """Whether the zero-width joiner at ``text[i]`` joins two emoji (👩‍👩‍👧, 🏳️‍🌈): after
    a symbol, maybe with a variation selector or skin tone, and before another symbol."""
    before = text[:i].rstrip("\ufe0f\ufe0e" + "".join(map(chr, range(0x1F3FB, 0x1F400))))
    return bool(before) and _emoji(before[-1]) and i + 1 < len(text) and _emoji(text[i + 1])


def strip_invisible(text: str) -> str:
    """``text`` without control characters and without format characters (Unicode category
    Cf: zero-width spaces and joiners, direction marks and overrides, word joiners, the
    byte-order mark, U+180E, U+061C, tags…), except a zero-width joiner inside an emoji
    sequence, which only makes one emoji of several."""
    return "".join(
        ch for i, ch in enumerate(text)
        if not (unicodedata.category(ch) in ("Cc", "Cf") and ch not in "\t\n")
        or (ch == _ZWJ and _joins_emoji(text, i))
    )


def shorten(text: str, limit: int = 40) -> str:
    text = strip_invisible(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"
