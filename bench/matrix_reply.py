"""Median time from a user's command to the bot's reply, as that user's client sees it,
beside the floor: a bare nio client that echoes each message, in its own process, on the
same homeserver. Both bots run as separate processes; Synapse comes from .synapse-venv.

    python bench/matrix_reply.py [ROUNDS]
"""

from __future__ import annotations

import asyncio
import base64
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from nio import AsyncClient, AsyncClientConfig, RoomMessageNotice, SyncResponse

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "matrix"))
from synapse import Synapse  # noqa: E402


async def echo(url: str, user: str, device: str, token: str) -> None:
    """The floor: join on invite, answer every text message with an m.notice."""
    client = AsyncClient(url, user, device, config=AsyncClientConfig(max_limit_exceeded=0))
    client.restore_login(user, device, token)
    resp = await client.sync(timeout=0)
    while True:
        assert isinstance(resp, SyncResponse)
        for room_id in resp.rooms.invite:
            await client.join(room_id)
        for room_id, info in resp.rooms.join.items():
            for ev in info.timeline.events:
                body = ev.source.get("content", {}).get("body", "")
                if ev.sender != user and ev.source.get("content", {}).get("msgtype") == "m.text":
                    await client.room_send(
                        room_id, "m.room.message", {"msgtype": "m.notice", "body": f"echo {body}"}
                    )
        resp = await client.sync(timeout=30000, since=resp.next_batch)


async def measure(hs: Synapse, bot_id: str, text: str, rounds: int) -> list[float]:
    person = hs.register(f"person{os.urandom(3).hex()}")
    client = AsyncClient(
        hs.url, person.user_id, person.device_id, config=AsyncClientConfig(max_limit_exceeded=0)
    )
    client.restore_login(person.user_id, person.device_id, person.access_token)
    room = (await client.room_create(invite=[bot_id])).room_id
    resp = await client.sync(timeout=0)
    since = resp.next_batch
    deadline = time.monotonic() + 30
    while not (
        room in client.rooms
        and bot_id in client.rooms[room].users
        and not client.rooms[room].users[bot_id].invited
    ):
        assert time.monotonic() < deadline, "the bot did not join"
        since = (await client.sync(timeout=1000, since=since)).next_batch
    samples: list[float] = []
    for _ in range(rounds):
        start = time.perf_counter()
        await client.room_send(room, "m.room.message", {"msgtype": "m.text", "body": text})
        got = False
        while not got:
            resp = await client.sync(timeout=5000, since=since)
            assert isinstance(resp, SyncResponse)
            since = resp.next_batch
            for invited in resp.rooms.invite:  # a private reply opens a direct room
                await client.join(invited)
            got = any(
                isinstance(e, RoomMessageNotice) and e.sender == bot_id
                for info in resp.rooms.join.values()
                for e in info.timeline.events
            )
        samples.append((time.perf_counter() - start) * 1000)
    await client.close()
    return samples


async def main(rounds: int) -> None:
    work = Path(tempfile.mkdtemp(prefix="undersign-bench-"))
    hs = Synapse(work / "synapse")
    hs.start()
    procs: list[subprocess.Popen[bytes]] = []
    try:
        floor_acc = hs.register("echo")
        procs.append(
            subprocess.Popen(  # noqa: ASYNC220 - started once, before measuring
                [
                    sys.executable,
                    __file__,
                    "--echo",
                    hs.url,
                    floor_acc.user_id,
                    floor_acc.device_id,
                    floor_acc.access_token,
                ]
            )
        )
        name = "undersign"
        bot = hs.login(name, hs.register(name).password, "UNDERSIGN")
        (work / "undersign.toml").write_text(
            f'[bot]\ndatabase = "undersign.db"\n[matrix]\nenabled = true\n'
            f'homeserver = "{hs.url}"\nuser_id = "{bot.user_id}"\ne2ee = false\n'
        )
        env = {
            **os.environ,
            "MATRIX_ACCESS_TOKEN": bot.access_token,
            "UNDERSIGN_DB_KEY": base64.urlsafe_b64encode(os.urandom(32)).decode(),
        }
        procs.append(
            subprocess.Popen(  # noqa: ASYNC220 - started once, before measuring
                [sys.executable, "-m", "bot.cli", "run", "--config", str(work / "undersign.toml")],
                cwd=ROOT,
                env=env,
            )
        )
        floor = await measure(hs, floor_acc.user_id, "ping", rounds)
        bot_ms = await measure(hs, bot.user_id, "!undersign help", rounds)
        print(f"rounds: {rounds} (sequential, loopback, unencrypted room)")
        print(f"undersign command -> reply  median {statistics.median(bot_ms):6.1f} ms")
        print(f"bare nio echo (floor)       median {statistics.median(floor):6.1f} ms")
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(timeout=10)
        hs.stop()


if __name__ == "__main__":
    if sys.argv[1:2] == ["--echo"]:
        asyncio.run(echo(*sys.argv[2:6]))
    else:
        asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 30))
