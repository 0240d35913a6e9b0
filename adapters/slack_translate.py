"""Slack payloads to neutral events and neutral replies to Slack text, with no I/O.

Kept apart from ``adapters/slack.py`` so that it imports neither slack_bolt nor aiohttp:
the tests of escaping and parsing need no server, and ``adapters/slack_manifest.py`` stays light.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from bot.config import Config, SlackConfig
from bot.emoji import emoji_key
from bot.events import (
    Command,
    Link,
    Person,
    Reaction,
    Rich,
    Room,
    Roster,
    Said,
    Standing,
    Strong,
    User,
)
from bot.platform import PlatformWords

PLATFORM = "slack"
SIGN_ACTION = "undersign_sign"
WITHDRAW_ACTION = "undersign_withdraw"
# Button action id -> the command it stands for.
ACTIONS: Mapping[str, str] = {SIGN_ACTION: "sign", WITHDRAW_ACTION: "unsign"}
MENU_ACTION = "undersign_menu"
# Events API type -> Reaction.added.
REACTIONS: Mapping[str, bool] = {"reaction_added": True, "reaction_removed": False}

SECTION_LIMIT = 3000  # Slack's limit on a section block's text

Payload = Mapping[str, Any]

# Slack names reactions by short name; the config names the sign emoji by character.
# The common choices for a "sign" emoji, with Slack's aliases.
EMOJI: Mapping[str, str] = {
    "writing_hand": "✍️",
    "black_nib": "✒️",
    "lower_left_ballpoint_pen": "🖊️",
    "pen": "🖊️",
    "lower_left_fountain_pen": "🖋️",
    "fountain_pen": "🖋️",
    "pencil2": "✏️",
    "memo": "📝",
    "pencil": "📝",
    "white_check_mark": "✅",
    "heavy_check_mark": "✔️",
    "ballot_box_with_check": "☑️",
    "+1": "👍",
    "thumbsup": "👍",
    "raised_hand": "✋",
    "hand": "✋",
    "fist": "✊",
    "raised_fist": "✊",
    "muscle": "💪",
    "handshake": "🤝",
    "raised_hands": "🙌",
    "heart": "❤️",
    "heavy_plus_sign": "➕",
    "star": "⭐",
    "tada": "🎉",
    "scroll": "📜",
    "envelope": "✉️",
    "email": "📧",
}

_SKIN_TONE = re.compile(r"::skin-tone-\d$")


def reaction_emoji(short_name: str, sign_emoji: str) -> str:
    """The emoji to hand to the core for a Slack reaction ``short_name``.

    The configured sign emoji comes back exactly as configured (a character, or a
    ``:name:``), so the core can compare with ``==``; others as their character where
    known, else as ``:name:``.
    """
    name = _SKIN_TONE.sub("", short_name)
    char = EMOJI.get(name)
    signs = char is not None and emoji_key(char) == emoji_key(sign_emoji)
    if sign_emoji.strip(":") == name or signs:
        return sign_emoji
    return char if char is not None else f":{name}:"


def sign_short_name(sign_emoji: str) -> str | None:
    """The Slack short name of the configured sign emoji, where the table knows it."""
    if sign_emoji.startswith(":") and sign_emoji.endswith(":"):
        return sign_emoji.strip(":")
    return next((n for n, c in EMOJI.items() if emoji_key(c) == emoji_key(sign_emoji)), None)


# --- neutral -> Slack -------------------------------------------------------------------


def escape(text: str) -> str:
    """Slack's escaping for user text: ``&``, ``<`` and ``>`` and nothing else.

    With these escaped, no ``<!channel>``, ``<@U…>`` or ``<url|label>`` can be formed.
    """
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


ZWSP = "\u200b"
# Slack has no escape for its formatting characters: a zero-width space on each side
# keeps them from opening or closing *bold*, _italic_, ~strike~ or `code`.
_FORMATTING = re.compile(r"([*_~`])")
_SLACK_ID = re.compile(r"^[UW][A-Z0-9]{2,20}$")


def user_text(text: str) -> str:
    """Text a user typed, as Slack mrkdwn that shows it as typed: it cannot ping, mention,
    link or format. (Slack makes no mention of a bare ``@here`` in a bot's message: only
    ``<!here>`` would, and ``<`` is escaped.)"""
    return _FORMATTING.sub(ZWSP + r"\1" + ZWSP, escape(text))


def display_name(user: Mapping[str, Any]) -> str | None:
    """The name Slack shows for a users.info ``user``: the profile's display name, else
    the real name, else the account name."""
    profile = user.get("profile") or {}
    for found in (profile.get("display_name"), profile.get("real_name"), user.get("real_name"),
                  user.get("name")):
        if isinstance(found, str) and found.strip():
            return found.strip()
    return None


def _person(user_id: str) -> str:
    return f"<@{user_id}>" if _SLACK_ID.match(user_id) else escape(user_id)


def _link(url: str) -> str:
    # ``|`` would start a label; a URL never needs a literal one.
    return f"<{escape(url).replace('|', '%7C')}>"


_SEGMENTS: Mapping[type, Callable[[Any], str]] = {
    str: escape,  # the bot's own words hold no markup: ``L<n>`` must read as typed
    Said: lambda s: user_text(s.text),
    Strong: lambda s: f"*{escape(s.text)}*",
    Link: lambda s: _link(s.url),
    Person: lambda s: _person(s.user.id),
    Roster: lambda s: render(s.lines({})),  # the App resolves names first (bot.app)
}


def render(body: Rich) -> str:
    """Rich text as Slack mrkdwn."""
    return "".join(_SEGMENTS[type(seg)](seg) for seg in body)


def _chunks(text: str, size: int = SECTION_LIMIT) -> list[str]:
    """Split on line breaks where possible, so that no section exceeds Slack's limit."""
    out: list[str] = []
    rest = text
    while len(rest) > size:
        cut = rest.rfind("\n", 0, size)
        cut = cut if cut > 0 else size
        out.append(rest[:cut])
        rest = rest[cut:].lstrip("\n")
    out.append(rest)
    return out


CODE_CHUNK = 2900  # CSV text per code block: with the fences it stays under SECTION_LIMIT
CODE_BLOCKS_PER_MESSAGE = 5  # at most ~15,000 characters per ephemeral message


def code_messages(lead: str, content: str) -> list[tuple[str, list[dict[str, Any]]]]:
    """A text (a CSV) as code blocks, split on line breaks over as many messages as it
    takes: each message is (its notification text, its blocks); the first opens with
    ``lead``. For where a file cannot go (an ephemeral message carries no file)."""
    chunks = [f"```{chunk}```" for chunk in _chunks(escape(content).rstrip("\n"), CODE_CHUNK)]
    groups = [chunks[i:i + CODE_BLOCKS_PER_MESSAGE]
              for i in range(0, len(chunks), CODE_BLOCKS_PER_MESSAGE)]
    out: list[tuple[str, list[dict[str, Any]]]] = []
    for n, group in enumerate(groups, 1):
        head = lead if n == 1 else ""
        if len(groups) > 1:
            head += f"{' ' if head else ''}(part {n} of {len(groups)})"
        sections = ([head] if head else []) + group
        out.append((head or f"part {n} of {len(groups)}",
                    [{"type": "section", "text": {"type": "mrkdwn", "text": text}}
                     for text in sections]))
    return out


@dataclass(frozen=True)
class MenuEntry:
    """One entry of an announcement's overflow menu: its label and the command it runs
    (``{ref}``: the letter's id). ``opens``: None, the command is answered as typed
    (ephemerally); "answer", its answer opens in a modal; "close", a modal asks first (an
    answer that cannot be undone); "edit", the Edit modal, filled in from the core's
    answer to ``fields`` (refused privately, with no form, to anyone else), whose
    submission is the command. Entries for organizers say so; the core refuses them to
    anyone else."""

    label: str
    command: str
    opens: Literal["answer", "close", "edit"] | None = None

    @property
    def key(self) -> str:
        return self.command.split()[0]


# The overflow menu of an announcement, in its order (Slack shows at most five).
MENU: tuple[MenuEntry, ...] = (
    MenuEntry("Privacy", "privacy"),
    MenuEntry("Edit (organizers)", "edit {ref}", opens="edit"),
    MenuEntry("Final signature block (organizers)", "final {ref}", opens="answer"),
    MenuEntry("Close (organizers)", "close {ref}", opens="close"),
)


def menu(letter: int) -> dict[str, Any]:
    return {
        "type": "overflow",
        "action_id": MENU_ACTION,
        "options": [{"text": {"type": "plain_text", "text": e.label},
                     "value": f"{e.key}:{letter}"} for e in MENU],
    }


def menu_choice(body: Payload) -> tuple[MenuEntry, int] | None:
    """The entry and letter chosen in an announcement's overflow menu."""
    actions = body.get("actions")
    action = map_of(actions[0]) if isinstance(actions, list) and actions else {}
    value = map_of(action.get("selected_option")).get("value")
    if action.get("action_id") != MENU_ACTION or not isinstance(value, str):
        return None
    key, _, number = value.partition(":")
    entry = next((e for e in MENU if e.key == key), None)
    if entry is None or not number.isascii() or not number.isdigit() or len(number) > 9:
        return None
    return entry, int(number)


def blocks(text: str, announces: int | None) -> list[dict[str, Any]]:
    """Block Kit for a message: mrkdwn sections, then Sign / Withdraw on an announcement."""
    out: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": chunk or " "}}
        for chunk in _chunks(text)
    ]
    if announces is not None:
        value = str(announces)
        out.append(
            {
                "type": "actions",
                "block_id": f"undersign_L{value}",
                "elements": [
                    {
                        "type": "button",
                        "action_id": SIGN_ACTION,
                        "text": {"type": "plain_text", "text": "Sign"},
                        "style": "primary",
                        "value": value,
                    },
                    {
                        "type": "button",
                        "action_id": WITHDRAW_ACTION,
                        "text": {"type": "plain_text", "text": "Withdraw"},
                        "value": value,
                    },
                    menu(announces),
                ],
            }
        )
    return out


# --- Slack -> neutral -------------------------------------------------------------------


def _room(channel: str) -> Room:
    return Room(PLATFORM, channel, direct=channel.startswith("D"))


# Payloads are read defensively: a field of the wrong type or missing makes the payload
# unusable (None), never an exception. Bolt has checked the signature; the shape is ours
# to check.


def map_of(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _id(value: Any) -> str | None:
    """A Slack id or token: a non-empty string (numbers are not ids)."""
    return value if isinstance(value, str) and value else None


def team_of(body: Payload) -> str | None:
    """The workspace a payload comes from. Org-wide installs send ``team: null`` on
    interactivity: the clicking user's ``team_id`` holds it then."""
    found = (_id(map_of(body.get("team")).get("id")) or _id(body.get("team_id"))
             or _id(map_of(body.get("user")).get("team_id")))
    if found:
        return found
    auths = body.get("authorizations")
    for auth in auths if isinstance(auths, list) else ():
        if _id(map_of(auth).get("team_id")):
            return str(auth["team_id"])
    return None


def enterprise_of(body: Payload) -> str | None:
    return _id(map_of(body.get("enterprise")).get("id")) or _id(body.get("enterprise_id"))


def user_of(body: Payload) -> str | None:
    """The acting user of a slash command, a click or an event."""
    user = body.get("user")
    if isinstance(user, Mapping):
        return _id(user.get("id"))
    return _id(body.get("user_id")) or _id(map_of(body.get("event")).get("user"))


def channel_of(body: Payload) -> str | None:
    """Where a reply to this payload belongs."""
    return (_id(body.get("channel_id")) or _id(map_of(body.get("container")).get("channel_id"))
            or _id(map_of(body.get("channel")).get("id"))
            or _id(map_of(map_of(body.get("event")).get("item")).get("channel")))


def response_url_of(body: Payload) -> str | None:
    """The ``response_url`` of a slash command or block_actions payload: the way to answer
    that very action ephemerally, even where the bot is not a member. Never stored."""
    url = _id(body.get("response_url"))
    return url if url is not None and url.isascii() and url.startswith(("https://", "http://")) \
        else None


def slash_command(body: Payload, tz: str | None) -> Command | None:
    """A slash command form. ``trigger_id`` is unique per invocation: the de-duplication key."""
    trigger, user, channel = (_id(body.get("trigger_id")), _id(body.get("user_id")),
                              _id(body.get("channel_id")))
    text = body.get("text")
    if trigger is None or user is None or channel is None or not isinstance(text, str | None):
        return None
    return Command(
        event_id=f"cmd:{trigger}",
        user=User(PLATFORM, user),
        room=_room(channel),
        text=(text or "").strip(),
        seen_by_room=False,
        tz=tz,
    )


def button_click(body: Payload, tz: str | None) -> Command | None:
    """A Sign / Withdraw click. The message it sits on may be ephemeral (then there is no
    ``message`` key); the container always names the channel and message."""
    actions = body.get("actions")
    action = next((map_of(a) for a in (actions if isinstance(actions, list) else ())
                   if (_id(map_of(a).get("action_id")) or "") in ACTIONS), None)
    channel = channel_of(body)
    user = user_of(body)
    if action is None or channel is None or user is None:
        return None
    number = action.get("value")
    if not isinstance(number, str) or not number.isascii() or not number.isdigit():
        return None
    container = map_of(body.get("container"))
    unique = _id(body.get("trigger_id")) or (
        f"{container.get('message_ts')}:{action.get('action_ts')}")
    return Command(
        event_id=f"act:{unique}",
        user=User(PLATFORM, user),
        room=_room(channel),
        text=f"{ACTIONS[action['action_id']]} L{int(number)}",
        seen_by_room=False,
        tz=tz,
    )


def reaction(body: Payload, sign_emoji: str) -> Reaction | None:
    """``reaction_added`` / ``reaction_removed``: the target is ``event.item``; only
    reactions on messages matter. Redeliveries keep ``event_id``, which the core dedups on."""
    event = map_of(body.get("event"))
    item = map_of(event.get("item"))
    kind = event.get("type")
    added = REACTIONS.get(kind) if isinstance(kind, str) else None
    event_id, user = _id(body.get("event_id")), _id(event.get("user"))
    channel, ts = _id(item.get("channel")), _id(item.get("ts"))
    name = event.get("reaction")
    if (added is None or item.get("type") != "message" or not isinstance(name, str)
            or event_id is None or user is None or channel is None or ts is None):
        return None
    return Reaction(
        event_id=event_id,
        user=User(PLATFORM, user),
        room=_room(channel),
        message_ref=ts,
        emoji=reaction_emoji(name, sign_emoji),
        added=added,
    )


def standing(user: Mapping[str, Any] | None, config: SlackConfig,
             own_team: str | None) -> Standing:
    """Who may sign, from a users.info ``user``: with ``signers = "members"``, a full
    member (not a single- or multi-channel guest, not a bot, not a deactivated account,
    not a Slack Connect stranger) of an allowed team — of the bot's own workspace when
    ``allowed_teams`` is empty. ``home`` is their team, for a letter's ``only``. Without
    an answer from Slack nobody is taken for a member."""
    if not user:
        return Standing(None, config.signers == "anyone")
    team = _id(user.get("team_id"))
    if config.signers == "anyone":
        return Standing(team, True)
    teams = config.allowed_teams or ([own_team] if own_team else [])
    org = _id(map_of(user.get("enterprise_user")).get("enterprise_id"))
    ours = team in teams or (org is not None and org in teams)
    full = not any(user.get(flag) is True for flag in (
        "is_restricted", "is_ultra_restricted", "is_bot", "is_app_user", "is_stranger",
        "deleted")) and user.get("id") != "USLACKBOT"
    return Standing(team, ours and full)


# --- what Slack tells the commands about itself -----------------------------------------


def words(config: Config) -> PlatformWords:
    """Slack's words for the commands (bot.platform)."""
    dm = (" unless this bot is set to use direct messages"
          if config.slack.private_replies == "ephemeral" else "; this bot uses direct messages")
    return PlatformWords(
        name=PLATFORM,
        prefix=config.slack.command,
        sign_privately="press Sign below, or type {cmd} (nobody else sees either)",
        say_privately="send me {cmd} in a direct message",
        user_form=re.compile(r"^<?@?([UW][A-Z0-9]{2,20})(?:\|[^>]*)?>?$"),
        privacy=(
            "On Slack: everyone in a channel can see who reacted, so reactions sign only "
            "public letters. The Sign button and the {prefix} command are seen by nobody "
            f"else. Private replies are ephemeral (Slack does not keep them){dm}. Workspace "
            "owners on some plans can export direct messages."
        ),
        safest="Safest way to sign: the Sign button or {prefix} sign L<n>, never a reaction.",
        not_a_signer=(
            "Only full members of this workspace may sign letters with this bot: not guests, "
            "bots or people of other organisations (Slack Connect). If you are a member, "
            "Slack could not confirm it just now: try again in a minute."
            if config.slack.signers == "members" else "Slack could not confirm who you are."),
    )
