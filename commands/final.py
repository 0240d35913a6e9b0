"""final L<n> [markdown]: the signature block organizers submit, privately."""

from __future__ import annotations

from bot.context import RoomContext
from bot.model import Letter
from bot.registry import Router
from bot.syntax import Token, UsageError, shorten
from commands import render
from commands.letters import visible_signatures
from commands.parser import joined

router = Router()


@router.letter_command(
    "final", "final L<n> [markdown]",
    "the signature block to submit: named signers alphabetically, privately; plain text "
    "or Markdown", order=135, role="organizer", reads_only=True)
async def final(ctx: RoomContext, letter: Letter, args: list[Token]) -> None:
    if len(args) > 1 or (args and args[0].word not in ("markdown", "plain")):
        raise UsageError(f"I did not expect '{shorten(joined(args))}' there; say markdown "
                         "for Markdown, or nothing for plain text.")
    found = await visible_signatures(ctx, letter)  # refused below a sealed threshold
    markdown = bool(args) and args[0].word == "markdown"
    block = render.signature_block(letter, found, ctx.now, markdown=markdown)
    ctx.tell(*block, sensitive=bool(found))
