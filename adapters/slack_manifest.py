"""The Slack app manifest for ``undersign slack-manifest``: paste it when creating the app.

Imports neither slack_bolt nor the adapter, so the command works without the slack extra;
it lives beside the Slack adapter because it is Slack-only.
"""

from __future__ import annotations

import json
from typing import Any

from bot.config import Config, SlackConfig

# conversations.info (channels:read, groups:read, mpim:read) tells the bot whether it is in
# a channel before it announces there: where it is not, it says how to invite it.
BOT_SCOPES = ["commands", "chat:write", "reactions:read", "im:write", "users:read", "files:write",
              "channels:read", "groups:read", "mpim:read"]
BOT_EVENTS = ["reaction_added", "reaction_removed", "app_home_opened"]
# The global shortcut that opens the "Start a letter" modal (adapters/slack_views.py).
SHORTCUT_CALLBACK = "undersign_new"


def manifest_dict(config: Config | SlackConfig, request_url: str | None = None) -> dict[str, Any]:
    """The manifest as a dict. In HTTP mode Slack needs the public URL of /slack/events:
    ``request_url`` (a placeholder when not given)."""
    slack = config.slack if isinstance(config, Config) else config
    socket = slack.mode == "socket"
    url = request_url or "https://YOUR-PUBLIC-HOST/slack/events"
    command: dict[str, Any] = {
        "command": slack.command,
        "description": "Co-sign collective letters, safely",
        "usage_hint": 'help | new "TITLE" | sign L1 | status L1 | privacy',
        "should_escape": False,
    }
    events: dict[str, Any] = {"bot_events": BOT_EVENTS}
    interactivity: dict[str, Any] = {"is_enabled": True}
    if not socket:
        command["url"] = url
        events["request_url"] = url
        interactivity["request_url"] = url
    return {
        "display_information": {
            "name": "Undersign",
            "description": "Collect co-signers for a collective letter, keeping signers private.",
        },
        "features": {
            "app_home": {"home_tab_enabled": True, "messages_tab_enabled": True,
                         "messages_tab_read_only_enabled": False},
            "bot_user": {"display_name": "undersign", "always_online": True},
            "shortcuts": [{"name": "Start a letter", "type": "global",
                           "callback_id": SHORTCUT_CALLBACK,
                           "description": "Start a collective letter and announce it"}],
            "slash_commands": [command],
        },
        "oauth_config": {"scopes": {"bot": BOT_SCOPES}},
        "settings": {
            "event_subscriptions": events,
            "interactivity": interactivity,
            "org_deploy_enabled": False,
            "socket_mode_enabled": socket,
            "token_rotation_enabled": False,
        },
    }


def manifest(config: Config | SlackConfig, request_url: str | None = None) -> str:
    """The manifest as JSON (Slack's manifest editor accepts JSON as well as YAML)."""
    return json.dumps(manifest_dict(config, request_url), indent=2, ensure_ascii=False) + "\n"
