"""The one seam between the core and a platform."""

from __future__ import annotations

from typing import Protocol

from bot.events import Event, Reply, User


class Handler(Protocol):
    """What an adapter calls with each neutral event (``bot.app.App.handle``)."""

    async def __call__(self, event: Event) -> None: ...


class Adapter(Protocol):
    """A platform at the edge: events in, replies out.

    ``start`` connects and begins feeding events to ``handle``; it returns once the adapter
    is ready (it keeps its own background tasks). ``send`` renders one neutral reply and
    returns the platform's id of the message it posted (needed for announcements, which
    are edited in place later), or None. ``send`` never raises for a platform fault: it
    logs, retries with back-off where sensible, and gives up loudly in the log.
    ``display_name`` is the name the platform shows for one of its users, asked when a
    signature block is sent and never stored, or None when it cannot be had.
    """

    platform: str

    async def start(self, handle: Handler) -> None: ...

    async def send(self, reply: Reply) -> str | None: ...

    async def display_name(self, user: User) -> str | None: ...

    async def stop(self) -> None: ...


class StateStore(Protocol):
    """Small named values an adapter keeps in the store (the Matrix sync position)."""

    async def get_state(self, key: str) -> str | None: ...

    async def set_state(self, key: str, value: str) -> None: ...


class SecretStore(Protocol):
    """Small values the store keeps sealed under the database key (the Matrix bot's
    cross-signing keys); a key rotation re-seals them."""

    async def get_secret(self, key: str) -> str | None: ...

    async def set_secret(self, key: str, value: str) -> None: ...
