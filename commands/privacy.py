"""The privacy command: what is stored, who can see what, the safest way to sign."""

from __future__ import annotations

from bot.context import Context, RoomContext
from bot.registry import Router
from bot.store import DEDUPLICATION
from bot.syntax import Token
from commands.parser import no_more

router = Router()

STORED = (
    "What Undersign stores: letters (title, link, deadline, visibility, state, version, "
    "where they were announced); who organizes and who signed, as platform user ids "
    "encrypted at rest (a copied database file names nobody, and nothing in it links your "
    "signatures on two letters), with the id of a reaction that signed, when each signature "
    "was made and the line you chose to be listed by (sign … as), encrypted with it, and "
    "the version of the letter each signature was given to; a pledge's condition (sign … "
    "if N) encrypted with it too, and in the clear only while the pledge waits, beside no "
    "name; scheduled reviews and "
    "reminders; recent event ids for {hours} hours to avoid double counting. No message "
    "content, no display names (a signature block asks the platform for them each time it "
    "is made), no member lists, no reaction history, and the logs name nobody. Closed "
    "letters are purged {days} days after closing; unsign and forget-me (all your "
    "signatures at once) erase at once, leaving no trace in the database files."
)

def privacy_text(ctx: Context) -> str:
    """What is stored (the same everywhere), then the caller's platform's own paragraph
    and safest way to sign, from its adapter's words."""
    words = ctx.words()
    parts = [
        STORED.format(days=ctx.config.bot.retention_days,
                      hours=int(DEDUPLICATION.total_seconds() // 3600)),
        words.privacy.format(prefix=words.prefix),
        "A pledge (sign L<n> if N) counts, and shows your name to anyone, organizers "
        "included, only once N people, you included, are counted; until then nobody sees it, "
        "you get nothing but answers to your own commands, and a letter that closes first "
        "destroys it unseen. You are told once, privately, when it starts to count; if a "
        "withdrawal later makes it wait again, whoever saw your name meanwhile keeps it.",
        "The public count of a letter that is not public is refreshed every "
        f"{ctx.config.bot.count_refresh_minutes:g} minutes, not at each signature, and reads "
        "'fewer than 3' below 3, so nobody can tell when you signed.",
        words.safest.format(prefix=words.prefix),
    ]
    return "\n".join(parts)


@router.command("privacy", "privacy", "what is stored, who can see what, the safest way to sign",
                order=160, reads_only=True)
async def privacy(ctx: RoomContext, args: list[Token]) -> None:
    no_more(args)
    ctx.tell(privacy_text(ctx))
