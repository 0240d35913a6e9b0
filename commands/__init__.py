"""What users can say: one router per group of subcommands, joined by ``registry()``
for the composition root (bot.app) to hand to the core."""

from __future__ import annotations

from bot.registry import Registry
from commands import (
    announcements,
    editing,
    final,
    help,
    letters,
    mine,
    privacy,
    schedule,
    signing,
)


def registry() -> Registry:
    return Registry([letters.router, editing.router, final.router, signing.router,
                     schedule.router, announcements.router, mine.router, privacy.router,
                     help.router])
