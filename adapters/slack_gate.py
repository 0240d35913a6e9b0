"""Who may reach the Slack listeners, and who the bot is: Bolt's global middleware and
its authorization.

``WorkspaceGate`` is the one check of ``allowed_teams``, in front of every listener.
``KnownIdentity`` answers Bolt from the one ``auth.test`` made at start, so no request
waits for a lazy ``auth.test`` before its ack.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from slack_bolt.authorization import AuthorizeResult
from slack_bolt.authorization.async_authorize import AsyncAuthorize
from slack_bolt.context.async_context import AsyncBoltContext
from slack_bolt.middleware.async_middleware import AsyncMiddleware
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse

from adapters import slack_translate as tr
from bot.config import SlackConfig

REFUSED = "Undersign is not enabled for this workspace."


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
    command or click is refused privately (by ``refuse``, which must not wait for the
    reply), anything else (a reaction in a shared channel) is ignored without a word."""

    def __init__(self, config: SlackConfig, refuse: Callable[[Mapping[str, Any]], None]) -> None:
        self.config = config
        self.refuse = refuse

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

    async def async_process(
        self,
        *,
        req: AsyncBoltRequest,
        resp: BoltResponse,
        next: Callable[[], Awaitable[BoltResponse]],  # Bolt's name for it
    ) -> BoltResponse | None:
        body = req.body
        if self.allowed(body):
            return await next()
        if self.answers_people(body):
            self.refuse(body)
        return BoltResponse(status=200, body="")
