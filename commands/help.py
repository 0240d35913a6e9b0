"""help [SUB]: usage of every subcommand, or one."""

from __future__ import annotations

from bot.context import RoomContext
from bot.registry import Router
from bot.syntax import Token, UsageError, shorten

router = Router()
ROLE_NOTE = {"anyone": "", "viewer": "", "organizer": " (organizers)"}


@router.command("help", "help [SUB]", "this list, or how to use one subcommand", order=170,
                reads_only=True)
async def help_(ctx: RoomContext, args: list[Token]) -> None:
    prefix = ctx.words().prefix
    if args:
        spec = ctx.commands.get(args[0].text.lower())
        if spec is None or len(args) > 1:
            raise UsageError(f"There is no subcommand '{shorten(args[0].text)}'.")
        ctx.tell(f"{prefix} {spec.usage}\n{spec.summary}{ROLE_NOTE[spec.role]}.")
        return
    lines = [f"Undersign collects co-signers for a letter. Commands ({prefix} …):"]
    ordered = sorted(ctx.commands.values(), key=lambda s: (s.order, s.name))
    lines += [f"  {s.usage} — {s.summary}{ROLE_NOTE[s.role]}" for s in ordered]
    lines.append("Times: 2026-12-01 15:00, in 2 hours, tomorrow 9am. Ids: L1 for letters.")
    ctx.tell("\n".join(lines))
