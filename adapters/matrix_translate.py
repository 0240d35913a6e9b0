"""Matrix payloads and neutral types, both ways, with no I/O: rendering rich text as an
``m.notice`` (plain body and escaped HTML) and translating timeline events into neutral
events, one small function per event type. Kept apart from adapters/matrix.py so that it
can be read, tested and fuzzed without a homeserver.
"""

from __future__ import annotations

import html
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any, Protocol

from bot.config import MatrixConfig
from bot.events import (
    Command,
    Event,
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

log = logging.getLogger("undersign.matrix")

HTML = "org.matrix.custom.html"
ZWJ = "\u200d"  # after '@' in user text, so that "@room" in a title cannot ping


class Receiver(Protocol):
    """What translation needs to know of the adapter."""

    config: MatrixConfig
    user_id: str

    def neutral_room(self, room_id: str, thread: str | None = None) -> Room: ...


# --- rendering --------------------------------------------------------------------------


def _neutralise(text: str) -> str:
    return text.replace("@", "@" + ZWJ)


def render(body: Rich) -> tuple[str, str]:
    """Rich text as (plain body, HTML formatted_body). Only ``str`` and ``Strong`` are the
    bot's own words; everything a user typed is escaped and cannot mention anybody."""
    plain: list[str] = []
    rich: list[str] = []
    for seg in body:
        if isinstance(seg, str):
            plain.append(seg)
            rich.append(html.escape(seg, quote=False).replace("\n", "<br>"))
        elif isinstance(seg, Said):
            plain.append(_neutralise(seg.text))
            rich.append(html.escape(_neutralise(seg.text), quote=False).replace("\n", "<br>"))
        elif isinstance(seg, Strong):
            plain.append(seg.text)
            rich.append(f"<b>{html.escape(seg.text, quote=False)}</b>")
        elif isinstance(seg, Link):
            plain.append(seg.url)
            rich.append(f'<a href="{html.escape(seg.url)}">{html.escape(seg.url, quote=False)}</a>')
        elif isinstance(seg, Person):
            plain.append(seg.user.id)
            rich.append(html.escape(seg.user.id, quote=False))
        elif isinstance(seg, Roster):  # the App resolves names first (bot.app)
            lines = render(seg.lines({}))
            plain.append(lines[0])
            rich.append(lines[1])
    return "".join(plain), "".join(rich)


def notice(plain: str, rich: str) -> dict[str, Any]:
    return {
        "msgtype": "m.notice",
        "body": plain,
        "format": HTML,
        "formatted_body": rich,
        "m.mentions": {},
    }


def edit_content(message_ref: str, plain: str, rich: str) -> dict[str, Any]:
    return {
        **notice(f"* {plain}", f"* {rich}"),
        "m.new_content": notice(plain, rich),
        "m.relates_to": {"rel_type": "m.replace", "event_id": message_ref},
    }


# --- translation: one small function per event type -------------------------------------


def as_mapping(value: Any) -> Mapping[str, Any]:
    """A field of an event as a mapping, or an empty one when it is anything else."""
    return value if isinstance(value, Mapping) else {}


def _relation(content: Mapping[str, Any]) -> Mapping[str, Any]:
    return as_mapping(content.get("m.relates_to"))


def is_edit(content: Mapping[str, Any]) -> bool:
    body = content.get("body")
    return _relation(content).get("rel_type") == "m.replace" or (
        isinstance(body, str) and body.startswith(("* ", " * "))
    )


def command_text(body: str, prefix: str) -> str | None:
    """The command after the prefix, or None when the body is not a command."""
    if not body.startswith(prefix):
        return None
    rest = body[len(prefix) :]
    if rest and not rest[0].isspace():
        return None  # "!undersignx" is somebody else's command
    return rest.strip()


Translator = Callable[[Receiver, str, dict[str, Any], User], Event | None]


def _message(adapter: Receiver, room_id: str, src: dict[str, Any], user: User) -> Event | None:
    content = as_mapping(src.get("content"))
    body = content.get("body")
    if content.get("msgtype") != "m.text" or not isinstance(body, str) or is_edit(content):
        return None
    text = command_text(body, adapter.config.prefix)
    if text is None:
        return None
    rel = _relation(content)
    thread = rel.get("event_id") if rel.get("rel_type") == "m.thread" else None
    room = adapter.neutral_room(room_id, thread if isinstance(thread, str) else None)
    return Command(
        src["event_id"],
        user,
        room,
        text,
        seen_by_room=not room.direct,
        tz=None,
        message_ref=src["event_id"],
    )


def _reaction(
    adapter: Receiver, room_id: str, src: dict[str, Any], user: User
) -> Event | None:
    rel = _relation(as_mapping(src.get("content")))
    target, key = rel.get("event_id"), rel.get("key")
    if (
        rel.get("rel_type") != "m.annotation"
        or not isinstance(target, str)
        or not isinstance(key, str)
    ):
        return None
    return Reaction(
        src["event_id"],
        user,
        adapter.neutral_room(room_id),
        target,
        key,
        added=True,
        reaction_ref=src["event_id"],
    )


def _redaction(
    adapter: Receiver, room_id: str, src: dict[str, Any], user: User
) -> Event | None:
    # Room versions 1-10 put `redacts` at the top level, v11 in content; servers send both.
    redacts = src.get("redacts") or as_mapping(src.get("content")).get("redacts")
    if not isinstance(redacts, str):
        return None
    return Reaction(
        src["event_id"],
        user,
        adapter.neutral_room(room_id),
        "",
        "",
        added=False,
        reaction_ref=redacts,
    )


TRANSLATORS: dict[str, Translator] = {
    "m.room.message": _message,
    "m.reaction": _reaction,
    "m.room.redaction": _redaction,
}


def translate(adapter: Receiver, room_id: str, src: Any) -> Event | None:
    """One timeline event to a neutral event, or None: not for us, sent by the bot, or
    malformed. Event content is whatever the sender's client chose to send, so nothing
    in it may raise; a translator that still does is logged by exception type only."""
    if not isinstance(src, Mapping):
        return None
    kind, sender, event_id = src.get("type"), src.get("sender"), src.get("event_id")
    translator = TRANSLATORS.get(kind) if isinstance(kind, str) else None
    if (translator is None or not isinstance(sender, str) or not isinstance(event_id, str)
            or sender == adapter.user_id):
        return None
    try:
        event = translator(adapter, room_id, dict(src), User("matrix", sender))
    except Exception as exc:
        log.warning("ignored a malformed event (%s)", type(exc).__name__)
        return None
    if not isinstance(event, Command | Reaction):
        return event
    return replace(event, standing=standing(adapter.config, sender))


def standing(config: MatrixConfig, user_id: str) -> Standing:
    """Who may sign, from the user id alone: its server (``signer_servers``)."""
    server = user_id.partition(":")[2].lower()
    return Standing(server or None, bool(server) and config.may_sign(server))


# --- what Matrix tells the commands about itself ----------------------------------------


def words(config: MatrixConfig) -> PlatformWords:
    """Matrix's words for the commands (bot.platform)."""
    return PlatformWords(
        name="matrix",
        prefix=config.prefix,
        sign_privately="send me {cmd} in a direct message",
        say_privately="send me {cmd} in a direct message",
        user_form=re.compile(r"^(@[^:\s]{1,255}:[A-Za-z0-9.\-:\[\]]{1,255})$"),
        privacy=(
            "On Matrix: reactions are visible to the room and to the servers even in "
            "encrypted rooms, and a command typed in a room is read by the room, so both sign "
            "only public letters. Private replies go to a direct room with you, encrypted "
            "where the bot has end-to-end encryption. Homeserver admins can see who talks to "
            "the bot and when."
        ),
        safest="Safest way to sign: {prefix} sign L<n> in a direct message with me.",
        not_a_signer=(
            "Only people on "
            + ", ".join(config.signer_servers or [config.server_name]).replace("*", "any server")
            + " may sign letters with this bot."),
        signers_caution=("Each signer gets a direct message: the platform's admins can see "
                         "whom the bot writes to, though not what on an encrypted Matrix room."),
    )
