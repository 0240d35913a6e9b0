"""The privacy command: what is stored, who can see what, the safest way to sign."""

from __future__ import annotations

from commands import render
from commands.base import Context, command
from commands.parser import Token, no_more

STORED = (
    "What Undersign stores: letters (title, link, deadline, visibility, state, where they "
    "were announced); who organizes and who signed, as platform user ids encrypted at rest "
    "(a copied database file names nobody, and nothing in it links your signatures on "
    "two letters), with the id of a reaction that signed and when each signature was made, "
    "encrypted with it; scheduled reviews and reminders; recent event ids for 48 hours to "
    "avoid double counting. No message content, no display "
    "names, no member lists, no reaction history, and the logs name nobody. Closed letters "
    "are purged {days} days after closing; unsign and forget-me (all your signatures at "
    "once) erase at once, leaving no trace in the database files."
)

PLATFORM = {
    "slack": (
        "On Slack: everyone in a channel can see who reacted, so reactions sign only public "
        "letters. The Sign button and the {prefix} command are seen by nobody else. Private "
        "replies are ephemeral (Slack does not keep them){dm}. Workspace owners on some plans "
        "can export direct messages."
    ),
    "matrix": (
        "On Matrix: reactions are visible to the room and to the servers even in encrypted "
        "rooms, and a command typed in a room is read by the room, so both sign only public "
        "letters. Private replies go to a direct room with you, encrypted where the bot has "
        "end-to-end encryption. Homeserver admins can see who talks to the bot and when."
    ),
    "console": "On the console: everything typed here is seen by whoever runs the terminal.",
}

SAFEST = {
    "slack": "Safest way to sign: the Sign button or {prefix} sign L<n>, never a reaction.",
    "matrix": "Safest way to sign: {prefix} sign L<n> in a direct message with me.",
    "console": "Safest way to sign: {prefix} sign L<n>.",
}


def privacy_text(ctx: Context) -> str:
    platform = ctx.user.platform
    prefix = render.prefix(ctx.config, platform)
    dm = " unless this bot is set to use direct messages" if (
        ctx.config.slack.private_replies == "ephemeral") else "; this bot uses direct messages"
    parts = [
        STORED.format(days=ctx.config.bot.retention_days),
        PLATFORM.get(platform, PLATFORM["console"]).format(prefix=prefix, dm=dm),
        "The public count of a letter that is not public is refreshed every "
        f"{ctx.config.bot.count_refresh_minutes:g} minutes, not at each signature, and reads "
        "'fewer than 3' below 3, so nobody can tell when you signed.",
        SAFEST.get(platform, SAFEST["console"]).format(prefix=prefix),
    ]
    return "\n".join(parts)


@command("privacy", "privacy", "what is stored, who can see what, the safest way to sign",
         reads_only=True)
async def privacy(ctx: Context, args: list[Token]) -> None:
    no_more(args)
    ctx.tell(privacy_text(ctx))
