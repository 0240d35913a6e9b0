"""Driving the Slack adapter offline: the adapter against the fake Web API, signed requests,
payloads built from the recorded shapes in tests/slack/fixtures, and the whole App on Slack."""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import time
import urllib.parse
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp

from adapters.slack import SlackAdapter
from adapters.slack_pacing import Limit
from bot.app import App
from bot.config import BotConfig, Config, SlackConfig
from bot.core import utc_now
from bot.events import Event
from tests.support.fake_slack import APP_TOKEN, BOT_TOKEN, Call, FakeSlack

FIXTURES = Path(__file__).resolve().parents[1] / "slack" / "fixtures"
SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
FAST = {  # generous limits so that tests not about pacing are not paced
    "conversations.open": Limit(200, 50),
    "chat.postEphemeral": Limit(200, 50),
    "chat.postMessage": Limit(200, 50),
    "chat.update": Limit(200, 50),
    "users.info": Limit(200, 50),
}


def fixture(name: str) -> Any:
    text = (FIXTURES / name).read_text(encoding="utf-8")
    return json.loads(text) if name.endswith(".json") else text


class EventRecorder:
    """A stand-in for App.handle: records the neutral events."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    async def __call__(self, event: Event) -> None:
        self.events.append(event)


def slack_config(fake: FakeSlack, **overrides: Any) -> SlackConfig:
    values: dict[str, Any] = {
        "enabled": True,
        "mode": "http",
        "http_port": 0,
        "api_base_url": fake.base_url,
    }
    values.update(overrides)
    return SlackConfig(**values)


def make_adapter(
    fake: FakeSlack, limits: Mapping[str, Limit] = FAST, bot: BotConfig | None = None, **config: Any
) -> SlackAdapter:
    return SlackAdapter(
        slack_config(fake, **config),
        bot or BotConfig(),
        bot_token=BOT_TOKEN,
        app_token=APP_TOKEN,
        signing_secret=SECRET,
        limits=limits,
        ping_interval=0.3,
    )


# --- signed requests --------------------------------------------------------------------


def signature(body: str, timestamp: int, secret: str = SECRET) -> str:
    base = f"v0:{timestamp}:{body}".encode()
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


async def post_signed(
    adapter: SlackAdapter, body: str, content_type: str, **signing: Any
) -> tuple[int, str]:
    """A signed request to ``adapter`` (``signing``: as for ``post_signed_to``)."""
    assert adapter.http_port is not None
    return await post_signed_to(adapter.http_port, body, content_type, **signing)


async def post_signed_to(
    port: int,
    body: str,
    content_type: str,
    *,
    secret: str = SECRET,
    timestamp: int | None = None,
    retry: int | None = None,
) -> tuple[int, str]:
    """A signed request to the Slack adapter listening on ``port`` (in this process or not)."""
    ts = int(time.time()) if timestamp is None else timestamp
    headers = {
        "Content-Type": content_type,
        "X-Slack-Request-Timestamp": str(ts),
        "X-Slack-Signature": signature(body, ts, secret),
    }
    if retry is not None:
        headers["X-Slack-Retry-Num"] = str(retry)
        headers["X-Slack-Retry-Reason"] = "http_timeout"
    url = f"http://127.0.0.1:{port}/slack/events"
    timeout = aiohttp.ClientTimeout(total=5)
    async with (
        aiohttp.ClientSession(timeout=timeout) as session,
        session.post(url, data=body.encode(), headers=headers) as resp,
    ):
        return resp.status, await resp.text()


FORM = "application/x-www-form-urlencoded"
JSON = "application/json"


# --- payloads built from the recorded shapes --------------------------------------------


def slash_body(
    text: str,
    *,
    user: str = "U01NK1K9L68",
    channel: str = "C01N639ECTY",
    trigger: str = "2093168434705.1761091294307.7f8d01a322363a013721e32e83af484b",
    command: str = "/undersign",
    team: str = "T01ND2P8N91",
    response_url: str | None = None,
) -> str:
    """The recorded slash-command body with our command, text, user and channel (and
    response_url, else the recorded one, on Slack's host: the adapter ignores it when its
    Web API is the fake)."""
    fields = urllib.parse.parse_qs(fixture("slash_command.urlencoded"), keep_blank_values=True)
    flat = {k: v[0] for k, v in fields.items()}
    flat.update(
        command=command,
        text=text,
        user_id=user,
        channel_id=channel,
        trigger_id=trigger,
        team_id=team,
    )
    if response_url is not None:
        flat["response_url"] = response_url
    return urllib.parse.urlencode(flat)


def reaction_event(
    kind: str,
    *,
    reaction: str,
    user: str = "U0SIGNER01",
    channel: str = "C0ROOM0001",
    ts: str = "1700000000.000001",
    event_id: str = "Ev0REACT001",
    team: str = "T01ND2P8N91",
) -> dict[str, Any]:
    """An Events API envelope as current traffic carries it (authorizations, event_context,
    context_team_id), from java-slack-sdk's recorded shape with the placeholders filled."""
    body = copy.deepcopy(fixture("event_callback.reaction_added.shape.json"))
    body.update(
        token="verification_token",
        team_id=team,
        enterprise_id=None,
        api_app_id="A01NK2M4ABE",
        event_id=event_id,
        event_time=1700000100,
        event_context=f"4-{kind}-{team}-{channel}",
        context_team_id=team,
        context_enterprise_id=None,
    )
    body["authorizations"] = [
        {
            "enterprise_id": None,
            "team_id": team,
            "user_id": "U0BOTUSER1",
            "is_bot": True,
            "is_enterprise_install": False,
        }
    ]
    body["event"] = {
        "type": kind,
        "user": user,
        "item": {"type": "message", "channel": channel, "ts": ts},
        "reaction": reaction,
        "item_user": "U0BOTUSER1",
        "event_ts": "1700000100.000200",
    }
    return body


def button_payload(
    action_id: str,
    value: str,
    *,
    user: str = "U01NK1K9L68",
    channel: str = "C01N9PM1D53",
    org_wide: bool = False,
    response_url: str | None = None,
) -> dict[str, Any]:
    """A click on our button: the recorded block_actions payload (or the org-wide ephemeral
    one, with ``team: null`` and no ``message``), with our action."""
    name = "block_actions.org_wide_install.json" if org_wide else "block_actions.button.json"
    body = copy.deepcopy(fixture(name))
    body["user"]["id"] = user
    body["container"]["channel_id"] = channel
    body["channel"]["id"] = channel
    action = body["actions"][0]
    action.update(action_id=action_id, value=value, block_id=f"undersign_L{value}")
    action["text"]["text"] = "Sign"
    if response_url is not None:
        body["response_url"] = response_url
    return body


def overflow_payload(value: str, *, user: str, channel: str,
                     response_url: str | None = None) -> dict[str, Any]:
    """A choice in our overflow menu: the recorded block_actions with an overflow action."""
    body = button_payload("undersign_menu", value, user=user, channel=channel,
                          response_url=response_url)
    body["actions"][0] = {"type": "overflow", "action_id": "undersign_menu",
                          "block_id": "undersign_L1", "action_ts": "1700000000.2",
                          "selected_option": {"text": {"type": "plain_text", "text": value},
                                              "value": value}}
    return body


def form_payload(payload: Mapping[str, Any]) -> str:
    return urllib.parse.urlencode({"payload": json.dumps(payload)})


def slash_envelope(text: str, user: str | None = None, trigger: str = "111.222.xxx", *,
                   channel: str | None = None) -> dict[str, Any]:
    """The recorded Socket Mode slash-command envelope with a new id and our command and
    text (and user and channel, else the recorded ones)."""
    envelope = copy.deepcopy(fixture("socket_mode.slash_commands.envelope.json"))
    envelope["envelope_id"] = str(uuid.uuid4())
    envelope["payload"].update(command="/undersign", text=text, trigger_id=trigger)
    if user is not None:
        envelope["payload"]["user_id"] = user
    if channel is not None:
        envelope["payload"]["channel_id"] = channel
    return dict(envelope)


# --- the whole App on Slack -------------------------------------------------------------

ORGANIZER, SIGNER, OTHER = "U0ORGANIZE", "U0SIGNERAA", "U0REACTORB"
ROOM = "C0LETTERS1"


@dataclass
class Slack:
    app: App
    adapter: SlackAdapter
    fake: FakeSlack
    triggers: int = 0

    def trigger(self, prefix: str = "8.8") -> str:
        """A fresh trigger_id, issued by the fake as Slack issues one with each action."""
        self.triggers += 1
        return self.fake.issue(f"{prefix}.{self.triggers}")

    async def command(self, user: str, text: str, *, channel: str = ROOM,
                      response_url: str | None = None) -> list[Call]:
        return await self._send(
            slash_body(text, user=user, channel=channel, trigger=self.trigger("9.9"),
                       response_url=response_url), FORM
        )

    async def click(self, user: str, action: str, letter: int, *, channel: str = ROOM,
                    response_url: str | None = None) -> list[Call]:
        body = button_payload(action, str(letter), user=user, channel=channel,
                              response_url=response_url)
        body["trigger_id"] = self.trigger()
        return await self._send(form_payload(body), FORM)

    async def menu(self, user: str, value: str, *, channel: str = ROOM,
                   response_url: str | None = None) -> list[Call]:
        """A choice in an announcement's overflow menu (``value``: ``close:3``)."""
        body = overflow_payload(value, user=user, channel=channel, response_url=response_url)
        body["trigger_id"] = self.trigger()
        return await self._send(form_payload(body), FORM)

    async def shortcut(self, user: str, callback_id: str = "undersign_new") -> list[Call]:
        body = copy.deepcopy(fixture("socket_mode.interactive.shortcut.envelope.json")["payload"])
        body.update(callback_id=callback_id, trigger_id=self.trigger("7.7"))
        body["user"].update(id=user, team_id="T01ND2P8N91")
        body["team"]["id"] = "T01ND2P8N91"
        return await self._send(form_payload(body), FORM)

    async def submit(self, user: str, view: Mapping[str, Any],
                     values: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
        """Submit a modal the bot opened, with ``values`` (block id -> the element's state,
        keyed by the block id as our action ids are); the bot's answer in the ack."""
        body = copy.deepcopy(fixture("view_submission.json"))
        body["user"].update(id=user, team_id="T01ND2P8N91")
        body["team"] = {"id": "T01ND2P8N91", "domain": "opsdroidtests"}
        body["trigger_id"] = self.trigger("6.6")
        body["view"].update({k: v for k, v in view.items() if k != "state"})
        body["view"]["state"] = {"values": {b: {b: state} for b, state in values.items()}}
        status, answer = await post_signed(self.adapter, form_payload(body), FORM)
        assert status == 200
        await self.adapter.drain()
        return json.loads(answer) if answer else {}

    async def choose(self, user: str, view: Mapping[str, Any], block_id: str,
                     value: str) -> list[Call]:
        """Pick ``value`` in a modal's radio buttons (block ``block_id``) that dispatch
        their action: as Slack sends it, with the element's own action id."""
        [block] = [b for b in view["blocks"] if b.get("block_id") == block_id]
        action_id = block["element"]["action_id"]
        body = button_payload(action_id, value, user=user)
        del body["channel"], body["message"]
        body["container"] = {"type": "view", "view_id": view["id"]}
        body["view"] = dict(view)
        body["actions"][0] = {"type": "radio_buttons", "action_id": action_id,
                              "block_id": block_id, "action_ts": "1700000000.1",
                              "selected_option": {"value": value}}
        body["trigger_id"] = self.trigger()
        return await self._send(form_payload(body), FORM)

    async def open_home(self, user: str, event_id: str | None = None) -> list[Call]:
        body = copy.deepcopy(fixture("event_callback.app_home_opened.json"))
        body["event"]["user"] = user
        self.triggers += 1
        body["event_id"] = event_id or f"Ev0HOME{self.triggers:04d}"
        return await self._send(json.dumps(body), JSON)

    async def home_click(self, user: str, action_id: str, letter: int) -> list[Call]:
        """A button on the Home tab: no channel, the container is the view."""
        body = button_payload(action_id, str(letter), user=user)
        del body["channel"], body["message"]
        body["container"] = {"type": "view", "view_id": "VHOME0001"}
        body["view"] = {"id": "VHOME0001", "type": "home", "blocks": []}
        body["trigger_id"] = self.trigger()
        return await self._send(form_payload(body), FORM)

    def home(self, user: str) -> str:
        """Everything the user's published Home tab shows, as text."""
        return json.dumps(self.fake.homes.get(user, {}).get("blocks", []), ensure_ascii=False)

    async def react(
        self, user: str, ts: str, *, event_id: str, added: bool = True, retry: int | None = None
    ) -> list[Call]:
        kind = "reaction_added" if added else "reaction_removed"
        body = reaction_event(
            kind,
            reaction="writing_hand::skin-tone-2",
            user=user,
            channel=ROOM,
            ts=ts,
            event_id=event_id,
        )
        return await self._send(json.dumps(body), JSON, retry=retry)

    async def _send(self, body: str, content_type: str, retry: int | None = None) -> list[Call]:
        before = len(self.fake.calls)
        status, _ = await post_signed(self.adapter, body, content_type, retry=retry)
        assert status == 200
        await self.adapter.drain()
        return [c for c in self.fake.calls[before:] if c.method != "users.info"]

    async def announce(self, title: str, visibility: str) -> tuple[int, str]:
        calls = await self.command(ORGANIZER, f'new "{title}" visibility {visibility}')
        [post] = [c for c in calls if c.method == "chat.postMessage" and c.channel == ROOM]
        letter = int(post.blocks[-1]["elements"][0]["value"])
        return letter, str(post.response["ts"])


@asynccontextmanager
async def slack_app(fake: FakeSlack, tmp_path: Path, *, clock: Callable[[], datetime] = utc_now,
                  **slack: Any) -> AsyncIterator[Slack]:
    """The App on a SQLite file in ``tmp_path`` with the Slack adapter (``slack``: its
    config) against the fake."""
    config = Config.model_validate({"bot": {"database": str(tmp_path / "undersign.db")},
                                    "slack": {"private_replies": "ephemeral", **slack}})
    app = App(config, clock=clock)
    await app.open()
    adapter = make_adapter(fake, **slack)
    app.add_adapter(adapter)
    await adapter.start(app.handle)
    try:
        yield Slack(app, adapter, fake)
    finally:
        await adapter.stop()
        await app.close()
