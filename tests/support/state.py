"""Stand-ins for the store's ``get_state``/``set_state``, for an adapter run without the App."""

from __future__ import annotations


class MemoryState:
    """Keeps what it is given, in memory."""

    def __init__(self) -> None:
        self.values: dict[str, str] = {}
        self.secrets: dict[str, str] = {}

    async def get_state(self, key: str) -> str | None:
        return self.values.get(key)

    async def set_state(self, key: str, value: str) -> None:
        self.values[key] = value

    async def get_secret(self, key: str) -> str | None:
        return self.secrets.get(key)

    async def set_secret(self, key: str, value: str) -> None:
        self.secrets[key] = value


class NoState:
    """Keeps nothing: every key reads as never set."""

    async def get_state(self, key: str) -> str | None:
        return None

    async def set_state(self, key: str, value: str) -> None:
        return None

    async def get_secret(self, key: str) -> str | None:
        return None

    async def set_secret(self, key: str, value: str) -> None:
        return None
