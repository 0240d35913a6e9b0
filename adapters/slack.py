"""Slack at the edge: slack-bolt's AsyncApp over Socket Mode (default) or HTTP.

Every request is acknowledged at once (``process_before_response=True`` removes Bolt's
10 ms ack polling); the work runs afterwards in a task kept in ``self._tasks``. Redeliveries
keep their ``event_id`` (or ``trigger_id``), which the core de-duplicates on.

``allowed_teams`` is one global Bolt middleware in front of every listener. Bolt is told
who the bot is through ``authorize=``, answered from the one ``auth.test`` made at start,
so no request waits for a lazy ``auth.test`` before its ack.

Logs name Web API methods and error codes, never user ids, titles or texts.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler
from slack_bolt.app.async_app import AsyncApp
from slack_bolt.authorization import AuthorizeResult
from slack_bolt.authorization.async_authorize import AsyncAuthorize
from slack_bolt.context.async_context import AsyncBoltContext
from slack_bolt.middleware.async_middleware import AsyncMiddleware
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse
from slack_sdk.errors import SlackApiError, SlackRequestError
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient

from adapters import slack_translate as tr
from adapters.base import Handler
from adapters.slack_pacing import LIMITS, Limit, PacedRateLimitHandler, Pacer
from bot.config import BotConfig, SlackConfig, secret
from bot.events import Edit, Event, Post, Private, Redact, Reply, Rich
from bot.logsafe import fault, trace

log = logging.getLogger("undersign.slack")
# Bolt and the Socket Mode client log payloads in some messages: keep them quiet unless
# someone asks for DEBUG on purpose.
sdk_log = logging.getLogger("undersign.slack.sdk")
if sdk_log.level == logging.NOTSET:
    sdk_log.setLevel(logging.ERROR)

REFUSED = "Undersign is not enabled for this workspace."
FALL_BACK_TO_DM = {"channel_not_found", "not_in_channel", "user_not_in_channel", "is_archived"}
# Slack's documented limits on a response_url: 30 minutes, 5 responses.
RESPONSE_URL_SECONDS = 30 * 60
RESPONSE_URL_USES = 5
RESPONSE_URL_CACHE = 10_000

Message = tuple[str, list[dict[str, Any]]]  # a message's text and its blocks


@dataclass
class ResponseUrl:
    """Where to answer one slash command or click, kept in memory only (never stored)."""

    url: str
    expires: float
    uses: int = 0


def hooks_origin(api_base_url: str) -> str:
    """The origin response URLs may have: Slack's hooks host next to its Web API host
    (``https://hooks.slack.com`` for ``https://slack.com/api/``), else the Web API's own
    origin (a test double or a proxy). A payload's URL elsewhere is ignored, never fetched."""
    parts = urlsplit(api_base_url)
    host = parts.netloc
    if parts.hostname in ("slack.com", "slack-gov.com"):
        host = f"hooks.{host}"
    return f"{parts.scheme}://{host}"


def error_code(exc: SlackApiError) -> str:
    """Slack's error code, or the HTTP status when the body was not Slack's JSON."""
    data = getattr(exc.response, "data", None)
    if isinstance(data, dict) and data.get("error"):
        return str(data["error"])
    return f"HTTP {getattr(exc.response, 'status_code', '?')}"


class KnownIdentity(AsyncAuthorize):
    """Bolt's authorization answered from the ``auth.test`` made at start: one bot token,
    one workspace (or org), so no request waits for a lazy ``auth.test`` before its ack."""

    def __init__(self, identity: AuthorizeResult) -> None:
        self.identity = identity

    async def __call__(
        self,
        *,
        context: AsyncBoltContext,
        enterprise_id: str | None,
        team_id: str | None,
        user_id: str | None,
        actor_enterprise_id: str | None = None,
        actor_team_id: str | None = None,
        actor_user_id: str | None = None,
    ) -> AuthorizeResult:
        return self.identity


class WorkspaceGate(AsyncMiddleware):
    """The one check of ``allowed_teams``, a global middleware in front of every listener.
    A payload from a workspace not allowed is acknowledged and goes no further: a slash
    command or click is refused privately, anything else (a reaction in a shared channel)
    is ignored without a word."""

    def __init__(self, adapter: SlackAdapter) -> None:
        self.adapter = adapter

    async def async_process(
        self,
        *,
        req: AsyncBoltRequest,
        resp: BoltResponse,
        next: Callable[[], Awaitable[BoltResponse]],  # Bolt's name for it
    ) -> BoltResponse | None:
        body = req.body
        if self.adapter.allowed(body):
            return await next()
        if self.adapter.answers_people(body):
            self.adapter.refuse(body)
        return BoltResponse(status=200, body="")


# --- the adapter ------------------------------------------------------------------------


class SlackAdapter:
    """The Adapter protocol for Slack. Secrets default to the environment."""

    platform = "slack"

    def __init__(
        self,
        config: SlackConfig,
        bot: BotConfig,
        *,
        bot_token: str | None = None,
        app_token: str | None = None,
        signing_secret: str | None = None,
        limits: Mapping[str, Limit] = LIMITS,
        ping_interval: float = 10.0,
        tz_cache_size: int = 10_000,
    ) -> None:
        self.config = config
        self.bot = bot
        self._bot_token = bot_token or secret("SLACK_BOT_TOKEN") or ""
        self._app_token = app_token or secret("SLACK_APP_TOKEN") or ""
        self._signing_secret = signing_secret or secret("SLACK_SIGNING_SECRET") or ""
        self.pacer = Pacer(limits)
        self._newest_edit: dict[tuple[str, str], Edit] = {}
        self._ping_interval = ping_interval
        self._tz_cache: OrderedDict[str, str | None] = OrderedDict()
        self._tz_cache_size = tz_cache_size
        self._dm_channels: dict[str, str] = {}
        self._response_urls: OrderedDict[tuple[str, str], ResponseUrl] = OrderedDict()
        self._hooks_origin = hooks_origin(config.api_base_url)
        self._tasks: set[asyncio.Task[None]] = set()
        self._handle: Handler | None = None
        self._session: aiohttp.ClientSession | None = None
        self._client: AsyncWebClient | None = None
        self._app: AsyncApp | None = None
        self._socket: AsyncSocketModeHandler | None = None
        self._runner: web.AppRunner | None = None
        self.http_port: int | None = None  # the bound port in HTTP mode (useful with port 0)
        self.bot_user_id: str | None = None

    # -- lifecycle ----------------------------------------------------------------------

    @property
    def client(self) -> AsyncWebClient:
        assert self._client is not None, "SlackAdapter.start() has not run"
        return self._client

    async def start(self, handle: Handler) -> None:
        http = self.config.mode == "http"
        needed = {
            "SLACK_BOT_TOKEN": self._bot_token,
            "SLACK_SIGNING_SECRET" if http else "SLACK_APP_TOKEN": (
                self._signing_secret if http else self._app_token
            ),
        }
        missing = [name for name, value in needed.items() if not value]
        if missing:
            raise RuntimeError(f"slack: set {' and '.join(missing)} in the environment")
        self._handle = handle
        self._session = aiohttp.ClientSession()
        self._client = AsyncWebClient(
            token=self._bot_token,
            base_url=self.config.api_base_url,
            session=self._session,
            logger=sdk_log,
            retry_handlers=[
                AsyncConnectionErrorRetryHandler(),
                PacedRateLimitHandler(self.pacer),
                AsyncServerErrorRetryHandler(max_retry_count=2),
            ],
        )
        auth = await self._client.auth_test()  # fails loudly on a bad token, before serving
        self.bot_user_id = auth.get("user_id")
        identity = AuthorizeResult.from_auth_test_response(
            bot_token=self._bot_token, auth_test_response=auth
        )
        app = AsyncApp(
            client=self._client,
            authorize=KnownIdentity(identity),
            signing_secret=self._signing_secret,
            request_verification_enabled=http,
            process_before_response=True,
            logger=sdk_log,
            name=sdk_log.name,  # Bolt makes a logger of this name, with sdk_log's level
        )
        self._register(app)
        self._app = app
        if http:
            await self._serve_http(app)
        else:
            self._socket = AsyncSocketModeHandler(
                app,
                app_token=self._app_token,
                logger=sdk_log,
                web_client=self._client,
                ping_interval=self._ping_interval,
            )
            await self._socket.connect_async()  # type: ignore[no-untyped-call]
        log.info("Slack adapter started (%s mode)", self.config.mode)

    async def _serve_http(self, app: AsyncApp) -> None:
        async def events(request: web.Request) -> web.Response:
            response = await app.async_dispatch(await to_bolt_request(request))
            return await to_aiohttp_response(response)

        web_app = web.Application()
        web_app.router.add_post("/slack/events", events)
        self._runner = web.AppRunner(web_app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.config.http_host, self.config.http_port)
        await site.start()
        address = self._runner.addresses[0] if self._runner.addresses else None
        self.http_port = int(address[1]) if address else self.config.http_port

    async def stop(self) -> None:
        if self._socket is not None:
            await self._socket.close_async()  # type: ignore[no-untyped-call]
            self._socket = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._tasks:
            _, pending = await asyncio.wait(set(self._tasks), timeout=5)
            for task in pending:
                task.cancel()
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def drain(self, within: float = 10.0) -> None:
        """Wait until the work behind every acknowledged request is done (tests, shutdown)."""
        async with asyncio.timeout(within):
            while self._tasks:
                await asyncio.gather(*set(self._tasks), return_exceptions=True)

    # -- inbound ------------------------------------------------------------------------

    def _register(self, app: AsyncApp) -> None:
        Work = Callable[[dict[str, Any]], Coroutine[Any, Any, None]]

        def acking(work: Work) -> Callable[..., Awaitable[None]]:
            async def listener(ack: Callable[[], Awaitable[None]], body: dict[str, Any]) -> None:
                await ack()
                self._spawn(work(body))

            return listener

        async def ack_only(ack: Callable[[], Awaitable[None]]) -> None:
            await ack()

        app.middleware(WorkspaceGate(self))
        app.command(self.config.command)(acking(self._on_command))
        for action_id in tr.ACTIONS:
            app.action(action_id)(acking(self._on_click))
        for event_type in tr.REACTIONS:
            app.event(event_type)(acking(self._on_reaction))
        # Anything else is acknowledged so that Slack does not redeliver it, and dropped.
        anything = re.compile(r".*")
        for kind in (app.event, app.action, app.shortcut, app.view):
            kind(anything)(ack_only)

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(self._guarded(work))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _guarded(self, work: Coroutine[Any, Any, None]) -> None:
        try:
            await work
        except Exception as exc:  # the core's fault or ours: never the user's to see as silence
            log.error("Slack event failed: %s", fault(exc), exc_info=trace(exc))

    def allowed(self, body: Mapping[str, Any]) -> bool:
        """Whether the payload's workspace (or org) is in ``allowed_teams`` (or it is empty)."""
        allowed = self.config.allowed_teams
        return not allowed or tr.team_of(body) in allowed or tr.enterprise_of(body) in allowed

    def answers_people(self, body: Mapping[str, Any]) -> bool:
        """Whether a payload is one the bot answers: its slash command or a click on its
        buttons (as Bolt matches them: the first action). Reactions and anything else are
        not."""
        if body.get("command") == self.config.command:
            return True
        actions = body.get("actions") if body.get("type") == "block_actions" else None
        first = actions[0] if isinstance(actions, list) and actions else None
        return isinstance(first, Mapping) and first.get("action_id") in tr.ACTIONS


    async def _dispatch(self, event: Event | None) -> None:
        if event is not None and self._handle is not None:
            await self._handle(event)

    def refuse(self, body: Mapping[str, Any]) -> None:
        """Tell the person privately, after the ack, that this workspace is not enabled."""
        self._spawn(self._refuse(body))

    async def _refuse(self, body: Mapping[str, Any]) -> None:
        channel, user = tr.channel_of(body), tr.user_of(body)
        if channel and user:
            await self._safe(
                "chat.postEphemeral",
                self.client.chat_postEphemeral,
                channel,
                user=user,
                text=REFUSED,
            )

    async def _on_command(self, body: dict[str, Any]) -> None:
        user = tr.user_of(body)
        self._remember_response_url(body)
        await self._dispatch(tr.slash_command(body, await self.timezone(user) if user else None))

    async def _on_click(self, body: dict[str, Any]) -> None:
        user = tr.user_of(body)
        self._remember_response_url(body)
        await self._dispatch(tr.button_click(body, await self.timezone(user) if user else None))

    async def _on_reaction(self, body: dict[str, Any]) -> None:
        await self._dispatch(tr.reaction(body, self.bot.sign_emoji))

    def _remember_response_url(self, body: Mapping[str, Any]) -> None:
        """Keep the payload's response_url for the replies to this action, keyed by where
        and by whom it was taken (the context of those replies)."""
        url, channel, user = tr.response_url_of(body), tr.channel_of(body), tr.user_of(body)
        if url is None or channel is None or user is None:
            return
        if not url.startswith(self._hooks_origin + "/"):
            log.warning("Slack sent a response_url on an unexpected host; it is ignored")
            return
        key = (channel, user)
        self._response_urls.pop(key, None)
        self._response_urls[key] = ResponseUrl(url, time.monotonic() + RESPONSE_URL_SECONDS)
        while len(self._response_urls) > RESPONSE_URL_CACHE:
            self._response_urls.popitem(last=False)

    def _response_url(self, channel: str, user: str) -> ResponseUrl | None:
        found = self._response_urls.get((channel, user))
        if found is None:
            return None
        if found.expires <= time.monotonic() or found.uses >= RESPONSE_URL_USES:
            del self._response_urls[channel, user]
            return None
        return found

    async def _respond(self, channel: str, user: str, text: str,
                       blocks: list[dict[str, Any]]) -> bool:
        """An ephemeral answer through the response_url of the action this replies to.
        Failures are logged with the HTTP status only, never the URL."""
        answer = self._response_url(channel, user)
        if answer is None or self._session is None:
            return False
        answer.uses += 1
        payload = {"response_type": "ephemeral", "replace_original": False,
                   "text": text, "blocks": blocks}
        try:
            async with self._session.post(
                answer.url, json=payload, proxy=self.client.proxy,
                timeout=aiohttp.ClientTimeout(total=10),
            ) as resp:
                body = await resp.text()
                if resp.status == 200 and not body.lstrip().startswith('{"ok":false'):
                    return True
                log.warning("Slack response_url failed: HTTP %s", resp.status)
        except (TimeoutError, aiohttp.ClientError) as exc:
            log.warning("Slack response_url failed: %s", type(exc).__name__)
        return False

    async def timezone(self, user: str) -> str | None:
        """The user's IANA zone from users.info, cached in memory only (never stored)."""
        if user in self._tz_cache:
            self._tz_cache.move_to_end(user)
            return self._tz_cache[user]
        result = await self._safe("users.info", self.client.users_info, user=user)
        tz = (result or {}).get("user", {}).get("tz") or None
        if result is not None:
            self._tz_cache[user] = tz
            while len(self._tz_cache) > self._tz_cache_size:
                self._tz_cache.popitem(last=False)
        return tz

    # -- outbound -----------------------------------------------------------------------

    async def send(self, reply: Reply) -> str | None:
        sender = self._senders.get(type(reply))
        if sender is None:
            log.error("Slack cannot send a %s", type(reply).__name__)
            return None
        return await sender(self, reply)

    async def _call(
        self,
        method: str,
        fn: Callable[..., Awaitable[Any]],
        channel: str | None = None,
        *,
        paced: bool = True,
        **kwargs: Any,
    ) -> Any:
        """One paced Web API call (``paced=False`` when the caller already waited its turn);
        a platform fault is logged (method and error code only) and answered with None."""
        if channel is not None:
            kwargs["channel"] = channel
        if paced:
            await self.pacer.acquire(method, channel)
        try:
            return await fn(**kwargs)
        except SlackApiError as exc:
            log.warning("Slack %s failed: %s", method, error_code(exc))
            raise
        except (TimeoutError, aiohttp.ClientError, SlackRequestError) as exc:
            log.warning("Slack %s failed: %s", method, type(exc).__name__)
            return None

    async def _safe(
        self, method: str, fn: Callable[..., Awaitable[Any]], channel: str | None = None,
        *, paced: bool = True, **kw: Any,
    ) -> Any:
        try:
            return await self._call(method, fn, channel, paced=paced, **kw)
        except SlackApiError:
            return None

    async def _post(self, reply: Post) -> str | None:
        text = tr.render(reply.body)
        extra: dict[str, Any] = {"thread_ts": reply.room.thread} if reply.room.thread else {}
        result = await self._safe(
            "chat.postMessage",
            self.client.chat_postMessage,
            reply.room.id,
            text=text,
            blocks=tr.blocks(text, reply.announces),
            unfurl_links=False,
            unfurl_media=False,
            **extra,
        )
        return str(result["ts"]) if result is not None else None

    async def _edit(self, reply: Edit) -> str | None:
        """Update an announcement in place. chat.update is paced (Tier 3, and per channel),
        so a burst of signatures would queue many edits of one message of which only the
        last matters: an edit that finds another of the same message still waiting for its
        turn hands it the newer text and returns at once."""
        key = (reply.room.id, reply.message_ref)
        waiting = key in self._newest_edit
        self._newest_edit[key] = reply
        if waiting:
            return reply.message_ref
        try:
            await self.pacer.acquire("chat.update", reply.room.id)
        finally:
            newest = self._newest_edit.pop(key)
        text = tr.render(newest.body)
        result = await self._safe(
            "chat.update",
            self.client.chat_update,
            reply.room.id,
            paced=False,
            ts=reply.message_ref,
            text=text,
            blocks=tr.blocks(text, newest.announces),
        )
        return str(result["ts"]) if result is not None else None

    async def _private(self, reply: Private) -> str | None:
        """With ``private_replies = "ephemeral"``: ephemerally — through the response_url
        of the action this answers, else chat.postEphemeral in the room — and, where
        neither works, a DM; but a sensitive reply (it names a signer or says that someone
        signed) never goes to a DM or a file: its neutral ``fallback`` does, or nothing.
        With ``"dm"``: a DM (and an export as a file)."""
        if self.config.private_replies != "ephemeral":
            return await self._direct(reply)
        sent, may_dm, ref = await self._ephemeral(reply)
        if sent or not may_dm:
            return ref
        if not reply.sensitive:
            return await self._direct(reply)
        if reply.fallback is None:
            log.warning("Slack: a private reply that names signers had no ephemeral way "
                        "and is not sent to a DM")
            return None
        return await self._direct(Private(reply.user, reply.fallback))

    def _ephemeral_messages(self, reply: Private) -> list[Message]:
        text = tr.render(reply.body)
        if reply.attachment is None:
            return [(text, tr.blocks(text, None))]
        content = reply.attachment.content.decode("utf-8", "replace")
        return tr.code_messages(text, content)

    async def _ephemeral(self, reply: Private) -> tuple[bool, bool, str | None]:
        """Whether the reply went ephemerally, if not whether a DM may stand in (not after
        a fault that a DM would not cure), and chat.postEphemeral's message_ts if it was
        used. A reply of several messages that breaks off after the first counts as sent:
        it is not repeated elsewhere."""
        if reply.context is None:
            return False, True, None
        channel, user = reply.context.id, reply.user.id
        ref: str | None = None
        for n, (text, blocks) in enumerate(self._ephemeral_messages(reply)):
            if await self._respond(channel, user, text, blocks):
                continue
            try:
                result = await self._call("chat.postEphemeral", self.client.chat_postEphemeral,
                                          channel, user=user, text=text, blocks=blocks)
                may_dm = False
                if result is not None:
                    ref = str(result["message_ts"])
                    continue
            except SlackApiError as exc:
                may_dm = error_code(exc) in FALL_BACK_TO_DM
            if n:
                log.warning("Slack: a private reply was cut short after %d messages", n)
                return True, False, ref
            return False, may_dm, None
        return True, False, ref

    async def _direct(self, reply: Private) -> str | None:
        """The reply in a DM: as a file with its attachment, else as a message."""
        text = tr.render(reply.body)
        channel = await self._dm(reply.user.id)
        if channel is None:
            return None
        if reply.attachment is not None:
            attachment = reply.attachment
            return await self._upload(channel, reply.body, attachment.filename, attachment.content)
        result = await self._safe(
            "chat.postMessage",
            self.client.chat_postMessage,
            channel,
            text=text,
            blocks=tr.blocks(text, None),
        )
        return str(result["ts"]) if result is not None else None

    async def _dm(self, user: str) -> str | None:
        if user not in self._dm_channels:
            result = await self._safe(
                "conversations.open", self.client.conversations_open, users=user
            )
            if result is None:
                return None
            self._dm_channels[user] = str(result["channel"]["id"])
        return self._dm_channels[user]

    async def _upload(self, channel: str, body: Rich, filename: str, content: bytes) -> str | None:
        """A CSV as a file in the DM (files_upload_v2); if the upload fails, as a code block."""
        await self.pacer.acquire("files.getUploadURLExternal")
        result = await self._safe(
            "files.upload",
            self.client.files_upload_v2,
            channel,
            filename=filename,
            title=filename,
            content=content,
            initial_comment=tr.render(body),
        )
        if result is not None:
            return None
        text = f"{tr.render(body)}\n```{tr.escape(content.decode('utf-8', 'replace'))}```"
        posted = await self._safe(
            "chat.postMessage", self.client.chat_postMessage, channel, text=text
        )
        return str(posted["ts"]) if posted is not None else None

    async def _redact(self, reply: Redact) -> str | None:
        # Slack lets no bot remove another person's reaction; the core already sent a hint.
        return None

    _senders: Mapping[type, Callable[[SlackAdapter, Any], Awaitable[str | None]]] = {
        Post: _post,
        Edit: _edit,
        Private: _private,
        Redact: _redact,
    }
