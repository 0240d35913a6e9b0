"""Slack at the edge: slack-bolt's AsyncApp over Socket Mode (default) or HTTP, its
lifecycle and its inbound listeners; what it sends is ``adapters/slack_send.py``.

Every request is acknowledged at once (``process_before_response=True`` removes Bolt's
10 ms ack polling); the work runs afterwards in a task kept in ``self._tasks``. Redeliveries
keep their ``event_id`` (or ``trigger_id``), which the core de-duplicates on.

``allowed_teams`` is one global Bolt middleware in front of every listener. Bolt is told
who the bot is through ``authorize=``, answered from the one ``auth.test`` made at start,
so no request waits for a lazy ``auth.test`` before its ack (both in
``adapters/slack_gate.py``).

Logs name Web API methods and error codes, never user ids, titles or texts.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import replace
from typing import Any

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler
from slack_bolt.app.async_app import AsyncApp
from slack_bolt.authorization import AuthorizeResult
from slack_sdk.web.async_client import AsyncWebClient

from adapters import slack_translate as tr
from adapters import slack_views as views
from adapters.base import Handler
from adapters.slack_gate import REFUSED, KnownIdentity, WorkspaceGate
from adapters.slack_pacing import LIMITS, Limit, Pacer
from adapters.slack_response_urls import ResponseUrls
from adapters.slack_send import SlackSender
from adapters.slack_surfaces import Surfaces, posts_in_room
from bot.config import BotConfig, SlackConfig, secret, unset_secrets
from bot.events import Command, Event, Reaction, Reply, User
from bot.logsafe import fault, trace
from bot.observe import AdapterStats

log = logging.getLogger("undersign.slack")
ACK_TURNS = 2
# How long users.info's facts about a person (zone, guest or member, team) are kept, in
# memory only: a guest made a member, or a member made a guest, counts as such within it.
PERSON_TTL = 3600.0
# Bolt and the Socket Mode client log payloads in some messages: keep them quiet unless
# someone asks for DEBUG on purpose.
sdk_log = logging.getLogger("undersign.slack.sdk")
if sdk_log.level == logging.NOTSET:
    sdk_log.setLevel(logging.ERROR)


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
        people_cache_size: int = 10_000,
    ) -> None:
        self.config = config
        self.bot = bot
        self._bot_token = bot_token or secret("SLACK_BOT_TOKEN") or ""
        self._app_token = app_token or secret("SLACK_APP_TOKEN") or ""
        self._signing_secret = signing_secret or secret("SLACK_SIGNING_SECRET") or ""
        self.pacer = Pacer(limits)
        self.response_urls = ResponseUrls(config.api_base_url)
        self.sender = SlackSender(config, self.pacer, self.response_urls)
        self.gate = WorkspaceGate(config, self.refuse)
        self.surfaces = Surfaces(self)
        self._ping_interval = ping_interval
        self._people: OrderedDict[str, tuple[float, Mapping[str, Any]]] = OrderedDict()
        self._people_size = people_cache_size
        self._tasks: set[asyncio.Task[None]] = set()
        self._handle: Handler | None = None
        self._app: AsyncApp | None = None
        self._socket: AsyncSocketModeHandler | None = None
        self._runner: web.AppRunner | None = None
        self._stats = AdapterStats()
        self._session_seen: object = None
        self.http_port: int | None = None  # the bound port in HTTP mode (useful with port 0)
        self.bot_user_id: str | None = None
        self.bot_name = "undersign"  # the bot user's name, for /invite @NAME
        self.team_id: str | None = None  # the bot's own workspace (auth.test)

    # -- lifecycle ----------------------------------------------------------------------

    @property
    def stats(self) -> AdapterStats:
        """Connected while the HTTP server runs or the Socket Mode session is open; a new
        Socket Mode session after the first is a reconnect (bot/ops.py reads this)."""
        stats = self._stats
        limits = self.sender.rate_limits
        stats.rate_limit_waits = limits.waits if limits is not None else 0
        if self._socket is None:
            stats.connected = self._runner is not None
            return stats
        client = self._socket.client
        session = client.current_session
        stats.connected = not client.closed and session is not None and not session.closed
        if session is not None and session is not self._session_seen:
            stats.reconnects += self._session_seen is not None
            self._session_seen = session
        return stats

    @property
    def client(self) -> AsyncWebClient:
        return self.sender.client

    async def start(self, handle: Handler) -> None:
        http = self.config.mode == "http"
        given = {
            "SLACK_BOT_TOKEN": self._bot_token,
            "SLACK_APP_TOKEN": self._app_token,
            "SLACK_SIGNING_SECRET": self._signing_secret,
        }
        missing = unset_secrets("slack", self.config.mode, given.get)
        if missing:
            raise RuntimeError(f"slack: set {' and '.join(missing)} in the environment")
        self._handle = handle
        client = self.sender.open(self._bot_token, sdk_log)
        auth = await client.auth_test()  # fails loudly on a bad token, before serving
        self.bot_user_id = auth.get("user_id")
        self.bot_name = str(auth.get("user") or self.bot_name)
        self.team_id = auth.get("team_id")
        identity = AuthorizeResult.from_auth_test_response(
            bot_token=self._bot_token, auth_test_response=auth
        )
        app = AsyncApp(
            client=client,
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
                web_client=client,
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
        await self.sender.close()

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

        app.middleware(self.gate)
        app.command(self.config.command)(acking(self._on_command))
        for action_id in tr.ACTIONS:
            app.action(action_id)(acking(self._on_click))
        for event_type in tr.REACTIONS:
            app.event(event_type)(acking(self._on_reaction))
        surfaces = self.surfaces
        app.shortcut(views.NEW_CALLBACK)(acking(self._on_shortcut))
        app.action(views.VISIBILITY_ACTION)(acking(surfaces.on_visibility))
        app.action(tr.MENU_ACTION)(acking(surfaces.on_menu))
        for action_id in (*views.HOME_ACTIONS, views.HOME_CLOSE):
            app.action(action_id)(acking(surfaces.on_home_click))
        app.event("app_home_opened")(acking(surfaces.on_home_opened))
        # A submission is answered in its ack (field errors, or the answer in the modal).
        app.view_submission(views.NEW_CALLBACK)(self._answering(surfaces.on_new_submission))
        app.view_submission(views.EDIT_CALLBACK)(self._answering(surfaces.on_edit_submission))
        app.view_submission(views.CLOSE_CALLBACK)(
            self._answering(surfaces.on_close_submission))
        # Anything else is acknowledged so that Slack does not redeliver it, and dropped.
        anything = re.compile(r".*")
        for kind in (app.event, app.action, app.shortcut, app.view):
            kind(anything)(ack_only)

    def _answering(self, work: Callable[..., Awaitable[None]]) -> Callable[..., Awaitable[None]]:
        """A listener that answers in its own ack; a fault still acks (and is logged)."""

        async def listener(ack: Callable[..., Awaitable[None]], body: dict[str, Any]) -> None:
            acked = False

            async def once(**kw: Any) -> None:
                nonlocal acked
                if not acked:
                    acked = True
                    await ack(**kw)

            try:
                await work(once, body)
            except Exception as exc:
                log.error("Slack submission failed: %s", fault(exc), exc_info=trace(exc))
            finally:
                await once()

        return listener

    def spawn(self, work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        """Run ``work`` after the ack, kept until done (see ``drain``)."""
        task = asyncio.create_task(self._guarded(work))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        self.spawn(work)

    async def _guarded(self, work: Coroutine[Any, Any, None]) -> None:
        # Two turns of the loop let the ack's response be written before the work behind
        # it takes the loop (bench/slack_ack.py: the modal path's ack 0.60 -> 0.38 ms).
        for _ in range(ACK_TURNS):
            await asyncio.sleep(0)
        try:
            await work
        except Exception as exc:  # the core's fault or ours: never the user's to see as silence
            log.error("Slack event failed: %s", fault(exc), exc_info=trace(exc))

    def allowed(self, body: Mapping[str, Any]) -> bool:
        """Whether the payload's workspace (or org) is in ``allowed_teams`` (or it is empty)."""
        return self.gate.allowed(body)

    def answers_people(self, body: Mapping[str, Any]) -> bool:
        """Whether a payload is one the bot answers (its slash command or its buttons)."""
        return self.gate.answers_people(body)

    async def handle(self, event: Event) -> None:
        if self._handle is not None:
            await self._handle(event)

    async def dispatch(self, event: Event | None) -> None:
        """Hand ``event`` to the core; then, if its author has opened the Home tab, bring
        it up to date (what it shows may have changed)."""
        if event is None:
            return
        await self.handle(event)
        if (isinstance(event, Command | Reaction) and event.user.id in self.surfaces.home_viewers
                and not (isinstance(event, Command) and event.text == "mine")):
            await self.surfaces.refresh_home(event.user.id)


    def refuse(self, body: Mapping[str, Any]) -> None:
        """Tell the person privately, after the ack, that this workspace is not enabled."""
        self._spawn(self._refuse(body))

    async def _refuse(self, body: Mapping[str, Any]) -> None:
        channel, user = tr.channel_of(body), tr.user_of(body)
        if channel and user:
            await self.sender.safe(
                "chat.postEphemeral",
                self.client.chat_postEphemeral,
                channel,
                user=user,
                text=REFUSED,
            )

    async def _on_command(self, body: dict[str, Any]) -> None:
        """A slash command. One that would post where the bot is not a member is answered
        through its response_url with how to invite the bot; ``new`` alone opens the modal."""
        user, channel = tr.user_of(body), tr.channel_of(body)
        self._remember_response_url(body)
        text = body.get("text")
        words = text.split() if isinstance(text, str) else []
        if user and channel and posts_in_room(words) \
                and not await self.surfaces.is_member(channel):
            await self.surfaces.answer_not_member(channel, user)
            return
        if [w.lower() for w in words] == ["new"] and channel and not channel.startswith("D"):
            await self.surfaces.open_new_letter(body, channel)
            return
        await self.dispatch(await self._standing(tr.slash_command, body))

    async def _on_shortcut(self, body: dict[str, Any]) -> None:
        await self.surfaces.open_new_letter(body, None)

    async def _on_click(self, body: dict[str, Any]) -> None:
        self._remember_response_url(body)
        await self.dispatch(await self._standing(tr.button_click, body))

    async def _standing(self, translate: Callable[[tr.Payload, str | None], Command | None],
                        body: dict[str, Any]) -> Command | None:
        """A command with the caller's zone and standing, from one users.info."""
        user = tr.user_of(body)
        info = await self.person(user) if user else None
        command = translate(body, (info or {}).get("tz") or None)
        if command is None:
            return None
        return replace(command, standing=tr.standing(info, self.config, self.team_id))

    async def _on_reaction(self, body: dict[str, Any]) -> None:
        reaction = tr.reaction(body, self.bot.sign_emoji)
        if reaction is not None and reaction.added and reaction.emoji == self.bot.sign_emoji:
            info = await self.person(reaction.user.id)
            reaction = replace(reaction, standing=tr.standing(info, self.config, self.team_id))
        await self.dispatch(reaction)

    def _remember_response_url(self, body: Mapping[str, Any]) -> None:
        self.response_urls.remember(body)

    async def person(self, user: str) -> Mapping[str, Any] | None:
        """users.info's ``user``: zone and membership facts (guest, bot, team), kept in
        memory only, for at most ``PERSON_TTL`` seconds (never stored). None when Slack
        does not answer (not kept: asked again next time)."""
        now = time.monotonic()
        hit = self._people.get(user)
        if hit is not None and now - hit[0] < PERSON_TTL:
            self._people.move_to_end(user)
            return hit[1]
        result = await self.sender.safe("users.info", self.client.users_info, user=user)
        if result is None:
            return None
        found = result.get("user")
        info: Mapping[str, Any] = found if isinstance(found, Mapping) else {}
        self._people[user] = (now, info)
        self._people.move_to_end(user)
        while len(self._people) > self._people_size:
            self._people.popitem(last=False)
        return info

    async def timezone(self, user: str) -> str | None:
        """The user's IANA zone from users.info (``person``)."""
        return ((await self.person(user)) or {}).get("tz") or None

    async def display_name(self, user: User) -> str | None:
        """The name Slack shows for ``user``, from users.info, asked each time a signature
        block is sent: never cached or stored (None when Slack does not answer)."""
        result = await self.sender.safe("users.info", self.client.users_info, user=user.id)
        return tr.display_name((result or {}).get("user") or {})

    # -- outbound -----------------------------------------------------------------------

    async def send(self, reply: Reply) -> str | None:
        if await self.surfaces.intercept(reply):
            return None
        return await self.sender.send(reply)
