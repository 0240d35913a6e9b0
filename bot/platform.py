"""What a platform tells the commands about itself, so that no command names a platform.

Each adapter module supplies one ``PlatformWords`` (``words(config)``); the composition
root hands them to the core, and commands read them from their context. Adding a
platform means adding an adapter, not editing commands.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class PlatformWords:
    name: str
    prefix: str  # how a command starts: "/undersign", "!undersign"
    # How to sign privately, with {cmd} for the command ("press Sign below, or type {cmd}").
    sign_privately: str
    # How to say something privately, with {cmd}: "send me {cmd} in a direct message".
    say_privately: str
    # A USER argument as people write it here; group 1 is the platform's user id.
    user_form: re.Pattern[str]
    # Its paragraph of `privacy` ({prefix} and {dm} filled in) and its safest way to sign.
    privacy: str
    safest: str
    # Said when scheduling a reminder to each signer: what the platform's admins then see.
    # Why someone may not sign here (Slack signers, Matrix signer_servers).
    not_a_signer: str = "You may not sign letters here."
    signers_caution: str = ("Each signer gets a direct message: the platform's admins can see "
                            "whom the bot writes to.")


def console_words(prefix: str = "/undersign") -> PlatformWords:
    """The console's words, and those used for a platform no adapter describes."""
    return PlatformWords(
        name="console",
        prefix=prefix,
        sign_privately="type {cmd}",
        say_privately="type {cmd}",
        user_form=re.compile(r"^@?([\w.\-]{1,32})$"),
        privacy="On the console: everything typed here is seen by whoever runs the terminal.",
        safest="Safest way to sign: {prefix} sign L<n>.",
    )
