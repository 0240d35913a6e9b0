"""The workspace gate and Bolt's authorization: one ``auth.test`` at start serves every
request, and a payload from a workspace not allowed stops in one global middleware."""

from __future__ import annotations

import json

import pytest

from tests.support.fake_slack import FakeSlack
from tests.support.slack import (
    FORM,
    JSON,
    EventRecorder,
    button_payload,
    form_payload,
    make_adapter,
    post_signed,
    reaction_event,
    slash_body,
)

pytestmark = pytest.mark.slack


async def test_requests_are_acknowledged_without_another_auth_test(
    fake: FakeSlack, recorder: EventRecorder
) -> None:
    adapter = make_adapter(fake)
    await adapter.start(recorder)
    try:
        for n in range(3):
            status, _ = await post_signed(adapter, slash_body("list", trigger=f"1.2.{n}"), FORM)
            assert status == 200
        await adapter.drain()
    finally:
        await adapter.stop()
    assert len(recorder.events) == 3
    assert len(fake.calls_to("auth.test")) == 1


async def test_another_workspace_is_acknowledged_refused_privately_or_ignored(
    fake: FakeSlack, recorder: EventRecorder
) -> None:
    adapter = make_adapter(fake, allowed_teams=["T0OTHER"])
    await adapter.start(recorder)
    try:
        statuses = [
            (await post_signed(adapter, slash_body("sign L1"), FORM))[0],
            (await post_signed(adapter, form_payload(button_payload("undersign_sign", "1")),
                               FORM))[0],
            (await post_signed(adapter, form_payload(button_payload("elsewhere", "1")),
                               FORM))[0],
            (await post_signed(adapter, json.dumps(
                reaction_event("reaction_added", reaction="writing_hand")), JSON))[0],
        ]
        await adapter.drain()
    finally:
        await adapter.stop()
    assert statuses == [200, 200, 200, 200]
    assert recorder.events == []
    assert len(fake.calls_to("chat.postEphemeral")) == 2, "the command and our button only"
