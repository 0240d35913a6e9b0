"""Malformed Slack payloads: the translation to neutral events returns an event or None,
never raises, and the adapter keeps serving."""

from __future__ import annotations

import json
import urllib.parse
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from adapters import slack_translate as tr
from adapters.slack import SlackAdapter
from bot.events import Command, Reaction
from tests.support.fuzzing import mangled
from tests.support.slack import (
    FORM,
    JSON,
    EventRecorder,
    button_payload,
    form_payload,
    post_signed,
    reaction_event,
    slash_body,
)

pytestmark = pytest.mark.slack
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

SLASH = {k: v[0] for k, v in urllib.parse.parse_qs(slash_body("sign L1")).items()}
REACTION = reaction_event("reaction_added", reaction="writing_hand")
CLICK = button_payload(tr.SIGN_ACTION, "1")


def _who(body: Any) -> None:
    """What the adapter reads before translating (workspace checks, refusals)."""
    if isinstance(body, dict):
        tr.team_of(body), tr.enterprise_of(body), tr.user_of(body), tr.channel_of(body)


def test_the_templates_themselves_translate() -> None:
    assert isinstance(tr.slash_command(SLASH, None), Command)
    assert isinstance(tr.reaction(REACTION, "✍️"), Reaction)
    assert isinstance(tr.button_click(CLICK, None), Command)


@FUZZ
@given(mangled(SLASH))
def test_a_malformed_slash_command_form_is_dropped_not_raised(body: Any) -> None:
    _who(body)
    if isinstance(body, dict):
        assert tr.slash_command(body, None) is None or isinstance(
            tr.slash_command(body, None), Command)


@FUZZ
@given(mangled(REACTION))
def test_a_malformed_reaction_event_callback_is_dropped_not_raised(body: Any) -> None:
    _who(body)
    if isinstance(body, dict):
        event = tr.reaction(body, "✍️")
        assert event is None or isinstance(event, Reaction)


@FUZZ
@given(mangled(CLICK))
def test_a_malformed_block_actions_payload_is_dropped_not_raised(body: Any) -> None:
    _who(body)
    if isinstance(body, dict):
        event = tr.button_click(body, None)
        assert event is None or (isinstance(event, Command)
                                 and event.text.split()[0] in ("sign", "unsign"))


async def test_after_malformed_requests_the_adapter_still_serves(
    http_adapter: SlackAdapter, recorder: EventRecorder
) -> None:
    broken_slash = urllib.parse.urlencode({"command": "/undersign", "text": "sign L1"})
    broken_event = {**REACTION, "event": {"type": "reaction_added", "item": ["junk"]}}
    broken_click = {**CLICK, "actions": [{"action_id": tr.SIGN_ACTION, "value": {"x": 1}}]}
    for body, kind in ((broken_slash, FORM), (json.dumps(broken_event), JSON),
                       (form_payload(broken_click), FORM)):
        status, _ = await post_signed(http_adapter, body, kind)
        assert status == 200
    await http_adapter.drain()
    assert recorder.events == []
    await post_signed(http_adapter, slash_body("sign L1"), FORM)
    await http_adapter.drain()
    assert [e.text for e in recorder.events if isinstance(e, Command)] == ["sign L1"]
