"""Malformed Matrix events (any member's client may send any content): translation to
neutral events returns an event or None, never raises; invitations too."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from nio.events.invite_events import InviteEvent

from adapters.matrix import MatrixAdapter
from adapters.matrix_digest import Invitation, invitation, own_join, sent_at
from adapters.matrix_translate import translate
from bot.config import BotConfig, MatrixConfig
from bot.events import Command, Reaction
from tests.support.fuzzing import junk, mangled

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
ROOM = "!room:example.org"
BOT = "@undersign:example.org"
MESSAGE = {"type": "m.room.message", "sender": "@alice:example.org", "event_id": "$m",
           "origin_server_ts": 1, "content": {"msgtype": "m.text", "body": "!undersign sign L1",
                                              "m.relates_to": {"rel_type": "m.thread",
                                                               "event_id": "$root"}}}
REACTION = {"type": "m.reaction", "sender": "@alice:example.org", "event_id": "$r",
            "content": {"m.relates_to": {"rel_type": "m.annotation", "event_id": "$ann",
                                         "key": "✍️"}}}
REDACTION = {"type": "m.room.redaction", "sender": "@alice:example.org", "event_id": "$x",
             "redacts": "$r", "content": {"redacts": "$r"}}
INVITE = {"type": "m.room.member", "sender": "@alice:example.org", "state_key": BOT,
          "content": {"membership": "invite", "is_direct": True}}


def _adapter() -> MatrixAdapter:
    adapter = MatrixAdapter(MatrixConfig(enabled=True, user_id=BOT), BotConfig(), state=None)  # type: ignore[arg-type]
    adapter.client = SimpleNamespace(rooms={})  # type: ignore[assignment]
    return adapter


ADAPTER = _adapter()


def test_the_templates_themselves_translate() -> None:
    assert isinstance(translate(ADAPTER, ROOM, MESSAGE), Command)
    assert isinstance(translate(ADAPTER, ROOM, REACTION), Reaction)
    assert isinstance(translate(ADAPTER, ROOM, REDACTION), Reaction)


@FUZZ
@given(st.one_of(mangled(MESSAGE), mangled(REACTION), mangled(REDACTION), junk))
def test_a_malformed_timeline_event_is_dropped_not_raised(src: Any) -> None:
    event = translate(ADAPTER, ROOM, src)
    assert event is None or isinstance(event, Command | Reaction)
    if isinstance(src, dict):
        own_join(src, BOT)
        assert isinstance(sent_at(src), int)


@FUZZ
@given(st.lists(st.one_of(mangled(INVITE), junk), max_size=4))
def test_a_malformed_invitation_is_declined_or_ignored_not_raised(state: list[Any]) -> None:
    parsed = [InviteEvent.parse_event(s) for s in state if isinstance(s, dict)]
    decided = invitation(ROOM, [p for p in parsed if p is not None], ADAPTER.config)
    assert decided is None or isinstance(decided, Invitation)
