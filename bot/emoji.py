"""Emoji as the core compares them: one normalisation for every platform."""

from __future__ import annotations

import unicodedata

_SKIN_TONES = frozenset(chr(c) for c in range(0x1F3FB, 0x1F400))
_VARIATIONS = frozenset(("\ufe0f", "\ufe0e"))


def emoji_key(emoji: str) -> str:
    """An emoji compared without variation selectors or skin tones (a platform's own
    spelling of them, like Slack's ``::skin-tone-N``, is its adapter's to remove)."""
    return "".join(c for c in unicodedata.normalize("NFC", emoji)
                   if c not in _SKIN_TONES and c not in _VARIATIONS)
