"""The Matrix bot's session with its homeserver: the nio client made and logged in, every
request run through ``call`` with retries, and the E2EE key upkeep between syncs.

Connection faults are retried with full-jitter exponential back-off, 429s after the
server's ``retry_after_ms``, 5xx answers with back-off, all within a deadline; after that
``call`` gives up with a WARNING naming the request, never its room or person.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import stat
from collections.abc import Awaitable, Callable
from contextlib import suppress
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
from nio import (
    Api,
    AsyncClient,
    AsyncClientConfig,
    ErrorResponse,
    KeysUploadError,
    KeysUploadResponse,
    LocalProtocolError,
    WhoamiResponse,
)

from bot.config import MatrixConfig, secret, unset_secrets
from bot.observe import AdapterStats

log = logging.getLogger("undersign.matrix")

SYNC_TIMEOUT_MS = 30_000
BACKOFF_CAP_S = 30.0
SEND_DEADLINE_S = 120.0
TRANSIENT = (aiohttp.ClientError, asyncio.TimeoutError, OSError)

R = TypeVar("R")


def backoff(attempt: int) -> float:
    """Full-jitter exponential back-off: 0.5 s, 1 s, 2 s ... capped at BACKOFF_CAP_S."""
    return random.uniform(0.5, 1.0) * min(BACKOFF_CAP_S, 0.5 * 2.0 ** max(0, attempt - 1))


class MatrixSession:
    """One logged-in nio ``AsyncClient`` for ``config.user_id``, and the retrying ``call``."""

    def __init__(self, config: MatrixConfig, store_path: Path) -> None:
        self.config = config
        self.store_path = store_path
        self.user_id = config.user_id
        self.client: AsyncClient | None = None
        self.stats = AdapterStats()
        self._keys_lock = asyncio.Lock()
        # Told whose device lists were asked for again (adapters/matrix_trust.py judges anew).
        self.keys_changed: Callable[[set[str]], None] = lambda users: None
        # Signs this device's keys before their first upload (the bot's self-signing key).
        self.sign_device: Callable[[dict[str, Any]], dict[str, Any]] | None = None

    @property
    def c(self) -> AsyncClient:
        assert self.client is not None, "MatrixAdapter.start() first"
        return self.client

    async def open(self) -> None:
        """Make the client and log in; raises RuntimeError with a clear message when the
        E2EE store is readable by others or no credential works."""
        if self.config.e2ee:
            self.store_path.mkdir(mode=0o700, parents=True, exist_ok=True)
            mode = stat.S_IMODE(self.store_path.stat().st_mode)
            if mode & 0o077:  # it holds the device's private keys
                raise RuntimeError(f"matrix: the E2EE store {self.store_path.name} can be read "
                                   f"by others (mode {mode:o}); run: chmod 700 "
                                   f"{self.store_path.name}")
        cfg = AsyncClientConfig(
            max_limit_exceeded=0,
            max_timeouts=0,
            request_timeout=SYNC_TIMEOUT_MS / 1000 + 15,
            encryption_enabled=self.config.e2ee,
            store_sync_tokens=False,
        )
        self.client = AsyncClient(
            self.config.homeserver,
            self.user_id,
            self.config.device_id,
            store_path=str(self.store_path) if self.config.e2ee else "",
            config=cfg,
        )
        await self._login()

    async def close(self) -> None:
        if self.client is not None:
            await self.client.close()

    async def _login(self) -> None:
        token, password = secret("MATRIX_ACCESS_TOKEN"), secret("MATRIX_PASSWORD")
        if token:
            self.c.access_token = token
            who = await self.call("whoami", self.c.whoami)
            if not isinstance(who, WhoamiResponse) or who.user_id != self.user_id:
                raise RuntimeError(
                    "matrix: MATRIX_ACCESS_TOKEN was refused or belongs to another user"
                )
            device = who.device_id or self.config.device_id
            if device != self.config.device_id:
                log.warning(
                    "the access token belongs to another device than matrix.device_id; using it"
                )
            self.c.restore_login(self.user_id, device, token)
        elif password:
            resp = await self.call(
                "login", lambda: self.c.login(password, device_name="Undersign")
            )
            if isinstance(resp, ErrorResponse) or resp is None:
                raise RuntimeError("matrix: login with MATRIX_PASSWORD failed")
        else:
            missing = " and ".join(unset_secrets("matrix"))
            raise RuntimeError(f"matrix: set {missing}")
        if self.config.e2ee and self.c.should_upload_keys:
            await self.call("keys upload", self.upload_keys)

    # --- requests with retries ---

    async def call(
        self, what: str, request: Callable[[], Awaitable[R]], deadline: float = SEND_DEADLINE_S
    ) -> R | None:
        """Run one nio request, retrying connection faults with back-off and 429s after
        ``retry_after_ms``. Returns the response (maybe an ErrorResponse), or None after
        giving up, which is logged at WARNING."""
        loop = asyncio.get_running_loop()
        started, attempt = loop.time(), 0
        while True:
            attempt += 1
            try:
                resp = await request()
            except TRANSIENT as exc:
                delay, why = backoff(attempt), type(exc).__name__
            else:
                status = getattr(getattr(resp, "transport_response", None), "status", 200)
                if isinstance(resp, ErrorResponse) and (
                    resp.status_code == "M_LIMIT_EXCEEDED" or status == 429
                ):
                    delay, why = (resp.retry_after_ms or 1000) / 1000, "rate limited (429)"
                    self.stats.rate_limit_waits += 1
                    log.warning(
                        "%s: rate limited by the homeserver, retrying in %.1f s", what, delay
                    )
                elif isinstance(resp, ErrorResponse) and status >= 500:
                    delay, why = backoff(attempt), f"HTTP {status}"
                else:
                    return resp
            if loop.time() - started + delay > deadline:
                log.warning("%s: gave up after %d attempts (%s)", what, attempt, why)
                return None
            await asyncio.sleep(delay)

    async def api(self, what: str, method: str, path: str, body: Any = None
                  ) -> tuple[int, Any] | None:
        """One client-server API request nio has no method for: (HTTP status, parsed JSON
        body or None), or None when ``call`` gave up."""

        async def request() -> tuple[int, Any]:
            resp = await self.c.send(method, path, None if body is None else json.dumps(body), {
                "Authorization": f"Bearer {self.c.access_token}",
                "Content-Type": "application/json",
            })
            try:
                data = await resp.json(content_type=None)
            except (ValueError, aiohttp.ContentTypeError):
                data = None
            return resp.status, data

        return await self.call(what, request)

    # --- end-to-end encryption ---

    async def key_upkeep(self) -> None:
        """What nio's sync_forever does between syncs for E2EE."""
        c = self.c
        steps: list[tuple[bool, Callable[[], Awaitable[Any]]]] = [
            (bool(c.outgoing_to_device_messages), c.send_to_device_messages),
            (c.should_upload_keys, self.upload_keys),
            (c.should_query_keys, self.query_keys),
            (c.should_claim_keys, lambda: c.keys_claim(c.get_users_for_key_claiming())),
        ]
        for needed, step in steps:
            if needed:
                with suppress(LocalProtocolError, *TRANSIENT):
                    await step()

    async def upload_keys(self) -> KeysUploadResponse | KeysUploadError:
        """nio's ``keys_upload``, with this device's keys signed by ``sign_device`` first:
        a new device is never published unsigned, so no person's app, seeing it in the
        moment before its signature, withholds room keys from it."""
        c = self.c
        if c.olm is None or not c.should_upload_keys:
            raise LocalProtocolError("No key upload needed.")
        keys = c.olm.share_keys()
        if self.sign_device is not None and "device_keys" in keys:
            keys["device_keys"] = self.sign_device(keys["device_keys"])
        method, path, data = Api.keys_upload(c.access_token, keys)
        # nio's own sender: its response handler marks the keys as published.
        return await c._send(KeysUploadResponse, method, path, data)

    async def query_keys(self) -> set[str]:
        """Learn the devices of the people in encrypted rooms before a group session is
        shared, or they could never read what the bot says. Returns whose devices were
        asked for (their device lists changed)."""
        async with self._keys_lock:
            users = set(self.c.users_for_key_query)
            if self.c.should_query_keys:
                await self.call("keys query", self.c.keys_query)
                self.keys_changed(users)
            return users


__all__ = ["SYNC_TIMEOUT_MS", "TRANSIENT", "MatrixSession", "backoff"]
