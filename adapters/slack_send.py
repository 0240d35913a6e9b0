"""What the Slack adapter sends: its Web API client, every call through ``call`` (paced,
faults logged by method and error code only), and one sender per neutral reply (Post,
Edit, Private, Redact).

A private reply goes ephemerally (through the response_url of the action it answers,
else chat.postEphemeral) or to a DM, as the config says; an export goes as a file, or
as text where no file can. Logs name Web API methods and error codes, never user ids,
titles or texts.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError, SlackRequestError
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient

from adapters import slack_translate as tr
from adapters.slack_pacing import PacedRateLimitHandler, Pacer
from adapters.slack_response_urls import ResponseUrls
from bot.config import SlackConfig
from bot.events import Edit, Post, Private, Redact, Reply, Rich

log = logging.getLogger("undersign.slack")

FALL_BACK_TO_DM = {"channel_not_found", "not_in_channel", "user_not_in_channel", "is_archived"}

Message = tuple[str, list[dict[str, Any]]]  # a message's text and its blocks


def error_code(exc: SlackApiError) -> str:
    """Slack's error code, or the HTTP status when the body was not Slack's JSON."""
    data = getattr(exc.response, "data", None)
    if isinstance(data, dict) and data.get("error"):
        return str(data["error"])
    return f"HTTP {getattr(exc.response, 'status_code', '?')}"


class SlackSender:
    """The Web API side of the adapter: ``open`` makes the client, ``send`` sends a reply."""

    def __init__(self, config: SlackConfig, pacer: Pacer, response_urls: ResponseUrls) -> None:
        self.config = config
        self.pacer = pacer
        self.response_urls = response_urls
        self._newest_edit: dict[tuple[str, str], Edit] = {}
        self._dm_channels: dict[str, str] = {}
        self._session: aiohttp.ClientSession | None = None
        self._client: AsyncWebClient | None = None
        self.rate_limits: PacedRateLimitHandler | None = None

    @property
    def client(self) -> AsyncWebClient:
        assert self._client is not None, "SlackAdapter.start() has not run"
        return self._client

    def open(self, token: str, logger: logging.Logger) -> AsyncWebClient:
        """The client for ``token``: connection faults and 5xx retried, 429s paced."""
        self._session = aiohttp.ClientSession()
        self.rate_limits = PacedRateLimitHandler(self.pacer)
        self._client = AsyncWebClient(
            token=token,
            base_url=self.config.api_base_url,
            session=self._session,
            logger=logger,
            retry_handlers=[
                AsyncConnectionErrorRetryHandler(),
                self.rate_limits,
                AsyncServerErrorRetryHandler(max_retry_count=2),
            ],
        )
        return self._client

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def send(self, reply: Reply) -> str | None:
        sender = self._senders.get(type(reply))
        if sender is None:
            log.error("Slack cannot send a %s", type(reply).__name__)
            return None
        return await sender(self, reply)

    # -- Web API calls ------------------------------------------------------------------

    async def call(
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

    async def safe(
        self, method: str, fn: Callable[..., Awaitable[Any]], channel: str | None = None,
        *, paced: bool = True, **kw: Any,
    ) -> Any:
        """``call``, with Slack's refusals too answered with None (after the log)."""
        try:
            return await self.call(method, fn, channel, paced=paced, **kw)
        except SlackApiError:
            return None

    async def _respond(self, channel: str, user: str, text: str,
                       blocks: list[dict[str, Any]]) -> bool:
        """An ephemeral answer through the response_url of the action this replies to.
        Failures are logged with the HTTP status only, never the URL."""
        answer = self.response_urls.usable(channel, user)
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

    async def respond_only(self, channel: str, user: str, text: str) -> bool:
        """An ephemeral answer through the action's response_url and no other way: for
        where the bot is not a member (chat.postEphemeral would fail there, and a DM is
        not an answer)."""
        return await self._respond(channel, user, tr.escape(text), tr.blocks(tr.escape(text),
                                                                              None))

    # -- the senders --------------------------------------------------------------------

    async def _post(self, reply: Post) -> str | None:
        text = tr.render(reply.body)
        extra: dict[str, Any] = {"thread_ts": reply.room.thread} if reply.room.thread else {}
        result = await self.safe(
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
        result = await self.safe(
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
                result = await self.call("chat.postEphemeral", self.client.chat_postEphemeral,
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
        result = await self.safe(
            "chat.postMessage",
            self.client.chat_postMessage,
            channel,
            text=text,
            blocks=tr.blocks(text, None),
        )
        return str(result["ts"]) if result is not None else None

    async def _dm(self, user: str) -> str | None:
        if user not in self._dm_channels:
            result = await self.safe(
                "conversations.open", self.client.conversations_open, users=user
            )
            if result is None:
                return None
            self._dm_channels[user] = str(result["channel"]["id"])
        return self._dm_channels[user]

    async def _upload(self, channel: str, body: Rich, filename: str, content: bytes) -> str | None:
        """A CSV as a file in the DM (files_upload_v2); if the upload fails, as a code block."""
        await self.pacer.acquire("files.getUploadURLExternal")
        result = await self.safe(
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
        posted = await self.safe(
            "chat.postMessage", self.client.chat_postMessage, channel, text=text
        )
        return str(posted["ts"]) if posted is not None else None

    async def _redact(self, reply: Redact) -> str | None:
        # Slack lets no bot remove another person's reaction; the core already sent a hint.
        return None

    _senders: Mapping[type, Callable[[SlackSender, Any], Awaitable[str | None]]] = {
        Post: _post,
        Edit: _edit,
        Private: _private,
        Redact: _redact,
    }
