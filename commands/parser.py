"""Command text into tokens and validated arguments; usage errors that say what was wrong."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from urllib.parse import urlsplit

MAX_LINE = 4000
MAX_TITLE = 200
MAX_LINK = 2000
MAX_TEXT = 1000

_QUOTES = {'"': '"”', "'": "'’", "“": "”\"", "‘": "’'", "«": "»"}
_LETTER = re.compile(r"^[lL](\d{1,9})$")
_REMINDER = re.compile(r"^[rR](\d{1,9})$")
_ZWJ = "\u200d"
# Not format characters, but they show nothing: Hangul fillers and the blank braille cell.
_BLANK = frozenset("\u115f\u1160\u3164\uffa0\u2800")


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
