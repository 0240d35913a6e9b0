"""help [SUB]: usage of every subcommand, or one."""

from __future__ import annotations

from commands import render
from commands.base import REGISTRY, Context, command
from commands.parser import Token, UsageError, shorten

ROLE_NOTE = {"anyone": "", "viewer": "", "organizer": " (organizers)"}
ORDER = ["new", "sign", "unsign", "status", "list", "signers", "review", "remind", "reminders",
         "cancel", "organizer", "announce", "close", "export", "forget-me", "privacy", "help"]


@command("help", "help [SUB]", "this list, or how to use one subcommand", reads_only=True)
async def help_(ctx: Context, args: list[Token]) -> None:
    prefix = render.prefix(ctx.config, ctx.user.platform)
    if args:
        name = args[0].text.lower()
        spec = REGISTRY.get(name)
        if spec is None or len(args) > 1:
            raise UsageError(f"There is no subcommand '{shorten(args[0].text)}'.")
        ctx.tell(f"{prefix} {spec.usage}\n{spec.summary}{ROLE_NOTE[spec.role]}.")
        return
    lines = [f"Undersign collects co-signers for a letter. Commands ({prefix} …):"]
    names = sorted(REGISTRY, key=lambda n: ORDER.index(n) if n in ORDER else len(ORDER))
    lines += [f"  {REGISTRY[n].usage} — {REGISTRY[n].summary}{ROLE_NOTE[REGISTRY[n].role]}"
              for n in names]
    lines.append("Times: 2026-12-01 15:00, in 2 hours, tomorrow 9am. Ids: L1 for letters.")
    ctx.tell("\n".join(lines))
