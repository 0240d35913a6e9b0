"""The app manifest, and what the adapter writes to its log."""

from __future__ import annotations

import json
import logging

import pytest

from adapters.slack import SlackAdapter
from adapters.slack_manifest import manifest
from bot.config import BotConfig, Config, SlackConfig
from bot.events import Post, Private, Room, Said, User
from tests.support.fake_slack import FakeSlack
from tests.support.slack import FORM, JSON, EventRecorder, post_signed, reaction_event, slash_body

pytestmark = pytest.mark.slack


def test_the_manifest_asks_for_what_the_adapter_uses_and_no_more() -> None:
    data = json.loads(manifest(Config(slack=SlackConfig(command="/cosign"))))
    assert data["features"]["slash_commands"][0]["command"] == "/cosign"
    assert set(data["oauth_config"]["scopes"]["bot"]) == {
        "commands",
        "chat:write",
        "reactions:read",
        "im:write",
        "users:read",
        "files:write",
        "channels:read",
        "groups:read",
        "mpim:read",
    }
    settings = data["settings"]
    assert settings["event_subscriptions"]["bot_events"] == [
        "reaction_added", "reaction_removed", "app_home_opened"]
    assert settings["interactivity"]["is_enabled"] is True
    assert data["features"]["app_home"]["home_tab_enabled"] is True
    [shortcut] = data["features"]["shortcuts"]
    assert (shortcut["name"], shortcut["type"], shortcut["callback_id"]) == (
        "Start a letter", "global", "undersign_new")
    assert settings["socket_mode_enabled"] is True
    assert "request_url" not in settings["interactivity"]


def test_the_http_manifest_names_the_request_url() -> None:
    data = json.loads(manifest(SlackConfig(mode="http"), "https://bot.example.org/slack/events"))
    assert data["settings"]["socket_mode_enabled"] is False
    assert data["settings"]["event_subscriptions"]["request_url"].endswith("/slack/events")
    assert data["features"]["slash_commands"][0]["url"] == "https://bot.example.org/slack/events"


async def test_logs_at_info_name_no_user_channel_or_text(
    http_adapter: SlackAdapter,
    fake: FakeSlack,
    recorder: EventRecorder,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    fake.fail["chat.postMessage"] = "channel_not_found"
    fake.fail["chat.postEphemeral"] = "not_in_channel"
    fake.force_429["users.info"] = 1
    await post_signed(http_adapter, slash_body('new "Secret memo"', user="U0SECRET01"), FORM)
    body = reaction_event("reaction_added", reaction="writing_hand", user="U0SECRET02")
    await post_signed(http_adapter, json.dumps(body), JSON)
    await http_adapter.drain()
    await http_adapter.send(Post(Room("slack", "C0SECRET03"), ("New: ", Said("Secret memo"))))
    await http_adapter.send(
        Private(
            User("slack", "U0SECRET04"),
            ("You signed ", Said("Secret memo")),
            Room("slack", "C0SECRET05"),
        )
    )
    assert len(recorder.events) == 2
    assert caplog.records  # the faults were logged ...
    for record in caplog.records:  # ... without anybody's id or words
        message = record.getMessage()
        assert "SECRET" not in message and "Secret" not in message, message


@pytest.mark.parametrize(
    ("mode", "missing"), [("http", "SLACK_SIGNING_SECRET"), ("socket", "SLACK_APP_TOKEN")]
)
async def test_start_refuses_without_the_secret_its_mode_needs(
    fake: FakeSlack, monkeypatch: pytest.MonkeyPatch, mode: str, missing: str
) -> None:
    monkeypatch.delenv(missing, raising=False)
    adapter = SlackAdapter(
        SlackConfig(enabled=True, mode=mode, api_base_url=fake.base_url),
        BotConfig(),
        bot_token="xoxb-x",
    )
    with pytest.raises(RuntimeError, match=missing):
        await adapter.start(EventRecorder())
    assert fake.calls == []
