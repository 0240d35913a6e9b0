"""The bot as real processes: `python -m bot.cli run` with a config file, its output
gathered as it comes, ended by SIGKILL or by closing its input; or the console run once on
piped input. Loopback only: no proxies."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# What slack_sdk and aiohttp read; slack_sdk hands HTTP(S)_PROXY to aiohttp and ignores NO_PROXY.
PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY",
                   "all_proxy")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def without_proxies(env: Mapping[str, str]) -> dict[str, str]:
    """``env`` without any ``*_proxy`` variable, for a child process that talks to loopback."""
    return {k: v for k, v in env.items() if not k.lower().endswith("_proxy")}


def environment(**extra: str) -> dict[str, str]:
    """The test's environment (UNDERSIGN_DB_KEY included), no proxies: loopback only."""
    env = without_proxies(os.environ)
    env["PYTHONPATH"] = str(ROOT)
    env.update(extra)
    return env


def run_console(folder: Path, lines: list[str], *, key: str | None = None,
                timeout: float = 60, args: tuple[str, ...] = ()
                ) -> subprocess.CompletedProcess[str]:
    """`undersign run [args]` on the console in ``folder``, fed ``lines``, with ``key`` as
    its UNDERSIGN_DB_KEY (none if not given)."""
    env = {k: v for k, v in os.environ.items() if k != "UNDERSIGN_DB_KEY"}
    if key is not None:
        env["UNDERSIGN_DB_KEY"] = key
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", "run", *args], input="\n".join(lines) + "\n", text=True,
        capture_output=True, cwd=folder, env={**env, "PYTHONPATH": str(Path.cwd())},
        timeout=timeout,
    )


class BotProcess:
    """One `undersign run` process; ``lines`` is its standard output so far."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.lines: list[str] = []
        self.changed = asyncio.Event()
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def start(cls, config: Path, env: dict[str, str]) -> BotProcess:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot.cli", "run", "--config", str(config),
            cwd=config.parent, env=env, stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )
        return cls(proc)

    async def _read(self) -> None:
        assert self.proc.stdout is not None
        async for raw in self.proc.stdout:
            self.lines.append(raw.decode().rstrip("\n"))
            self.changed.set()

    def type(self, *lines: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write("".join(line + "\n" for line in lines).encode())

    async def wait_for(self, text: str, within: float = 15.0) -> str:
        async with asyncio.timeout(within):
            while True:
                for line in self.lines:
                    if text in line:
                        return line
                self.changed.clear()
                await self.changed.wait()

    async def kill(self) -> str:
        """SIGKILL: no clean-up of any kind runs in the bot."""
        with contextlib.suppress(ProcessLookupError):
            self.proc.send_signal(signal.SIGKILL)
        return await self._finish()

    async def end(self) -> str:
        """Close standard input (the console stops cleanly) or send SIGTERM."""
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(10):
                await self.proc.wait()
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
        return await self._finish()

    async def _finish(self) -> str:
        async with asyncio.timeout(15):
            await self.proc.wait()
            await self._reader
            assert self.proc.stderr is not None
            return (await self.proc.stderr.read()).decode(errors="replace")


async def wait_listening(port: int, within: float = 20.0) -> None:
    deadline = time.monotonic() + within
    while True:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            if time.monotonic() > deadline:
                raise AssertionError(f"nothing listens on port {port} after {within} s") from None
            await asyncio.sleep(0.05)
        else:
            writer.close()
            await writer.wait_closed()
            return
