"""A fake Slack Web API and Socket Mode server on 127.0.0.1, for driving the adapter offline.

It checks tokens, records every call, answers with the response shapes Slack documents
(see tests/slack/fixtures/api.*), serves ``apps.connections.open`` with a local ``ws://`` URL, pushes
Socket Mode envelopes and reads their acks, and can answer 429 with ``Retry-After``.

Every message, modal and Home view it is sent goes through slack_sdk's Block Kit models and
Slack's limits (tests/support/block_kit.py): a problem is answered as Slack would
(``invalid_blocks``) and kept in ``invalid``, which the ``fake`` fixture checks is empty.
``views.open`` takes only a trigger_id the test issued (``issue``), once, within 3 s.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from tests.support.block_kit import block_problems, view_problems

BOT_TOKEN = "xoxb-test-bot-token"
APP_TOKEN = "xapp-test-app-token"
TEAM = "T01ND2P8N91"
TRIGGER_SECONDS = 3.0  # how long Slack honours a trigger_id
BOT_USER = "U0BOTUSER1"


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    response: dict[str, Any] = field(default_factory=dict)

    @property
    def channel(self) -> str | None:
        value = self.params.get("channel") or self.params.get("channel_id")
        return str(value) if value is not None else None

    @property
    def text(self) -> str:
        return str(self.params.get("text", ""))

    @property
    def blocks(self) -> list[dict[str, Any]]:
        blocks = self.params.get("blocks") or []
        return json.loads(blocks) if isinstance(blocks, str) else list(blocks)


@dataclass
class Response:
    """What the adapter posted to a response_url (``tag`` names the action it answers)."""

    tag: str
    payload: dict[str, Any]

    @property
    def text(self) -> str:
        return str(self.payload.get("text", ""))

    @property
    def shown(self) -> str:
        """The text and every block's text: all that the reader sees."""
        blocks = self.payload.get("blocks") or []
        return "\n".join([self.text, *(str(b.get("text", {}).get("text", "")) for b in blocks)])


class SlackError(Exception):
    """A method's refusal, answered as ``{"ok": false, "error": ...}``."""


@dataclass
class Bucket:
    rate: float
    burst: float
    tokens: float = -1.0
    stamp: float = field(default_factory=time.monotonic)

    def take(self) -> bool:
        now = time.monotonic()
        if self.tokens < 0:
            self.tokens = self.burst
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


class FakeSlack:
    """Start with ``await fake.start()``; ``fake.base_url`` is the ``api_base_url``."""

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.uploads: dict[str, bytes] = {}
        self.time_zones: dict[str, str] = {}
        self.display_names: dict[str, str] = {}  # user id -> profile.display_name
        # user id -> users.info fields that differ from a full member of TEAM (a guest:
        # is_restricted; a Slack Connect user: team_id of their own organisation, ...)
        self.user_facts: dict[str, dict[str, Any]] = {}
        self.limits: dict[str, Bucket] = {}
        self.force_429: dict[str, int] = {}
        self.fail: dict[str, str] = {}  # method -> Slack error code to answer with
        self.delays: dict[str, float] = {}  # method -> seconds it takes to answer
        self.responses: list[Response] = []  # what was posted to response URLs
        self.response_status = 200  # the HTTP status response URLs answer with
        self.rate_limited: list[str] = []
        self.acks: dict[str, dict[str, Any]] = {}
        self.invalid: list[str] = []  # Block Kit problems in what the bot sent
        self.check_blocks = True  # a benchmark checks once, outside what it times
        self.not_member: set[str] = set()  # channels the bot is not in
        self.triggers: dict[str, float] = {}  # trigger_id -> when it was issued
        self.trigger_waits: list[float] = []  # seconds from issue to views.open
        self.views: dict[str, dict[str, Any]] = {}  # modals open, by view id
        self.homes: dict[str, dict[str, Any]] = {}  # each user's published Home tab
        self.opened = asyncio.Event()  # set at each views.open (benchmarks wait on it)
        self.connections = 0
        self.mute_pongs = False  # a half-dead link: open, but silent
        self._ack_events: dict[str, asyncio.Event] = {}
        self._socket: web.WebSocketResponse | None = None
        self._changed = asyncio.Condition()
        self._ts = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self.port = 0
        self._handlers: Mapping[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
            "auth.test": self._auth_test,
            "users.info": self._users_info,
            "chat.postMessage": self._post_message,
            "chat.update": self._update,
            "chat.postEphemeral": lambda p: {"message_ts": self._next_ts()},
            "conversations.open": lambda p: {"channel": {"id": "D" + str(p["users"])[1:]}},
            "files.getUploadURLExternal": self._upload_url,
            "files.completeUploadExternal": self._complete_upload,
            "conversations.info": self._conversations_info,
            "views.open": self._views_open,
            "views.update": self._views_update,
            "views.publish": self._views_publish,
        }

    # -- lifecycle ----------------------------------------------------------------------

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/api/{method}", self._api)
        app.router.add_post("/upload/{file_id}", self._upload)
        app.router.add_get("/link", self._link)
        app.router.add_post("/response/{tag}", self._response)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = int(self._runner.addresses[0][1])

    async def stop(self) -> None:
        if self._socket is not None:
            await self._socket.close()
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/"

    def response_url(self, tag: str) -> str:
        """A response_url for a payload, as Slack gives one with each slash command and
        click; what is posted to it lands in ``responses``."""
        return f"http://127.0.0.1:{self.port}/response/{tag}"

    async def _response(self, request: web.Request) -> web.Response:
        if self.response_status != 200:
            return web.Response(status=self.response_status, text="expired_url")
        payload = await request.json()
        problems = block_problems(payload.get("blocks") or [])
        if problems:
            self.invalid += problems
            return web.Response(status=400, text="invalid_blocks")
        self.responses.append(Response(request.match_info["tag"], payload))
        return web.Response(text="ok")

    def issue(self, trigger: str) -> str:
        """A trigger_id as Slack issues one with a slash command, a shortcut or a click."""
        self.triggers[trigger] = time.monotonic()
        return trigger

    # -- Web API ------------------------------------------------------------------------

    def _next_ts(self) -> str:
        return f"1700000000.{next(self._ts):06d}"

    def calls_to(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method]

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        params: dict[str, Any] = dict(request.query)
        if request.content_type == "application/json":
            params.update(await request.json())
        elif request.method == "POST":
            params.update(await request.post())
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        if not token:
            token = str(params.get("token", ""))
        wanted = APP_TOKEN if method == "apps.connections.open" else BOT_TOKEN
        if token != wanted:
            return web.json_response({"ok": False, "error": "invalid_auth"})
        if self.force_429.get(method, 0) > 0 or (
            method in self.limits and not self.limits[method].take()
        ):
            self.force_429[method] = max(0, self.force_429.get(method, 0) - 1)
            self.rate_limited.append(method)
            return web.json_response(
                {"ok": False, "error": "ratelimited"}, status=429, headers={"Retry-After": "1"}
            )
        if method == "apps.connections.open":
            return web.json_response({"ok": True, "url": f"ws://127.0.0.1:{self.port}/link"})
        await asyncio.sleep(self.delays.get(method, 0.0))
        call = Call(method, params)
        self.calls.append(call)
        handler = self._handlers.get(method)
        problems = self._problems(params) if self.check_blocks else []
        if problems:
            self.invalid += [f"{method}: {p}" for p in problems]
            call.response = {"ok": False, "error": "invalid_blocks"}
        elif method in self.fail:
            call.response = {"ok": False, "error": self.fail[method]}
        elif handler is None:
            call.response = {"ok": False, "error": "unknown_method"}
        else:
            try:
                call.response = {"ok": True, **handler(params)}
            except SlackError as exc:
                call.response = {"ok": False, "error": str(exc)}
        return web.json_response(call.response)

    @staticmethod
    def _problems(params: dict[str, Any]) -> list[str]:
        problems: list[str] = []
        if params.get("blocks"):
            problems += block_problems(params["blocks"])
        if params.get("view"):
            problems += view_problems(params["view"])
        return problems

    def _conversations_info(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = str(params["channel"])
        return {"channel": {"id": channel, "is_member": channel not in self.not_member}}

    def _view(self, params: dict[str, Any], view_id: str | None = None) -> dict[str, Any]:
        view = params["view"]
        view = dict(json.loads(view) if isinstance(view, str) else view)
        view.update(id=view_id or f"V{next(self._ts):08d}", hash=f"{time.time():.0f}.h",
                    state={"values": {}})
        return view

    def _views_open(self, params: dict[str, Any]) -> dict[str, Any]:
        trigger = str(params.get("trigger_id", ""))
        issued = self.triggers.pop(trigger, None)
        if issued is None:
            raise SlackError("invalid_trigger_id")
        waited = time.monotonic() - issued
        self.trigger_waits.append(waited)
        self.opened.set()
        if waited > TRIGGER_SECONDS:
            raise SlackError("expired_trigger_id")
        view = self._view(params)
        self.views[view["id"]] = view
        return {"view": view}

    def _views_update(self, params: dict[str, Any]) -> dict[str, Any]:
        view_id = str(params.get("view_id", ""))
        if view_id not in self.views:
            raise SlackError("not_found")
        self.views[view_id] = self._view(params, view_id)
        return {"view": self.views[view_id]}

    def _views_publish(self, params: dict[str, Any]) -> dict[str, Any]:
        view = self._view(params)
        self.homes[str(params["user_id"])] = view
        return {"view": view}

    def _auth_test(self, params: dict[str, Any]) -> dict[str, Any]:
        return {
            "url": "https://opsdroidtests.slack.com/",
            "team": "opsdroidtests",
            "user": "undersign",
            "team_id": TEAM,
            "user_id": BOT_USER,
            "bot_id": "B01MY4ZRP5M",
            "is_enterprise_install": False,
        }

    def _users_info(self, params: dict[str, Any]) -> dict[str, Any]:
        user = str(params["user"])
        tz = self.time_zones.get(user, "Europe/Berlin")
        return {
            "user": {
                "id": user,
                "team_id": TEAM,
                "name": "someone",
                "deleted": False,
                "tz": tz,
                "tz_label": "Central European Time",
                "tz_offset": 3600,
                "real_name": "",
                "profile": {"display_name": self.display_names.get(user, ""),
                            "display_name_normalized": self.display_names.get(user, ""),
                            "real_name": "", "real_name_normalized": "", "team": TEAM},
                "is_admin": False,
                "is_owner": False,
                "is_primary_owner": False,
                "is_restricted": False,
                "is_ultra_restricted": False,
                "is_bot": False,
                "is_app_user": False,
                "updated": 1700000000,
                **self.user_facts.get(user, {}),
            }
        }

    def _post_message(self, params: dict[str, Any]) -> dict[str, Any]:
        ts = self._next_ts()
        message = {"type": "message", "text": params.get("text", ""), "user": BOT_USER, "ts": ts}
        return {"channel": params["channel"], "ts": ts, "message": message}

    def _update(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"channel": params["channel"], "ts": params["ts"], "text": params.get("text", "")}

    def _upload_url(self, params: dict[str, Any]) -> dict[str, Any]:
        file_id = f"F{next(self._ts):08d}"
        return {"upload_url": f"http://127.0.0.1:{self.port}/upload/{file_id}", "file_id": file_id}

    def _complete_upload(self, params: dict[str, Any]) -> dict[str, Any]:
        files = params["files"]
        files = json.loads(files) if isinstance(files, str) else files
        return {"files": [{"id": f["id"], "title": f.get("title", "")} for f in files]}

    async def _upload(self, request: web.Request) -> web.Response:
        self.uploads[request.match_info["file_id"]] = await request.read()
        return web.Response(text="OK - 1")

    # -- Socket Mode --------------------------------------------------------------------

    async def _link(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=False)
        await ws.prepare(request)
        self.connections += 1
        self._socket = ws
        async with self._changed:
            self._changed.notify_all()
        await ws.send_json(
            {
                "type": "hello",
                "num_connections": 1,
                "debug_info": {"host": "applink-test", "approximate_connection_time": 18060},
                "connection_info": {"app_id": "A01NK2M4ABE"},
            }
        )
        async for msg in ws:
            if msg.type == WSMsgType.PING and not self.mute_pongs:
                await ws.pong(msg.data)
            elif msg.type == WSMsgType.TEXT:
                data = json.loads(msg.data)
                envelope_id = str(data.get("envelope_id"))
                self.acks[envelope_id] = data
                self._ack_events.setdefault(envelope_id, asyncio.Event()).set()
        if self._socket is ws:
            self._socket = None
        return ws

    async def wait_connected(self, count: int = 1, within: float = 5.0) -> None:
        """Wait until the client has opened ``count`` connections in all and one is open."""
        async with asyncio.timeout(within), self._changed:
            await self._changed.wait_for(
                lambda: self.connections >= count and self._socket is not None
            )

    async def push(self, envelope: dict[str, Any], within: float = 5.0) -> dict[str, Any]:
        """Send an envelope and return the ack the client sent for it."""
        assert self._socket is not None, "no Socket Mode connection"
        envelope_id = str(envelope["envelope_id"])
        event = self._ack_events.setdefault(envelope_id, asyncio.Event())
        event.clear()
        await self._socket.send_json(envelope)
        await asyncio.wait_for(event.wait(), within)
        return self.acks[envelope_id]

    async def send_disconnect(self) -> None:
        assert self._socket is not None
        await self._socket.send_json(
            {
                "type": "disconnect",
                "reason": "link_disabled",
                "debug_info": {"host": "applink-test"},
            }
        )

    async def drop(self) -> None:
        """Cut the connection without a goodbye, as a network failure would."""
        assert self._socket is not None
        ws, self._socket = self._socket, None
        transport = ws._req.transport if ws._req is not None else None
        if transport is not None:
            transport.abort()
