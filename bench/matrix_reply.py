"""Median time from a user's command to the bot's reply, as that user's client sees it,
beside the floor: a bare nio client that echoes each message, in its own process, on the
same homeserver. Both bots run as separate processes; Synapse comes from .synapse-venv.

The peer, matrix-reminder-bot, runs in the same run on the same homeserver, from its own
virtual environment (bench/.venvs/reminder-bot, made by `make bench`), timed on its
`!remindme` command → its "OK, I will remind you…" reply. Each bot gets its own room.
Without that environment the peer is skipped, and the run says so.

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
sys.path.insert(0, str(ROOT))  # `python bench/matrix_reply.py`
from tests.support.homeserver import Synapse  # noqa: E402

PEER = Path(__file__).resolve().parent / ".venvs" / "reminder-bot" / "bin" / "matrix-reminder-bot"
PEER_CONFIG = """command_prefix: "!"
matrix:
  user_id: "{user_id}"
  user_password: "{password}"
  homeserver_url: "{url}"
  device_id: REMINDERBENCH
  device_name: reminder-bench
storage:
  database: "sqlite://{folder}/reminders.db"
  store_path: "{folder}/store"
reminders:
  timezone: "Etc/UTC"
allowlist:
  enabled: false
  regexes: []
blocklist:
  enabled: false
  regexes: []
logging:
  level: WARNING
  file_logging:
    enabled: false
  console_logging:
    enabled: true
"""


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


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
    for n in range(rounds):
        start = time.perf_counter()
        body = text.format(n=n)  # the peer refuses a reminder it already has
        await client.room_send(room, "m.room.message", {"msgtype": "m.text", "body": body})
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
        peer_id = None
        if PEER.exists():
            password = "reminder-bench-password"
            peer_acc = hs.register("reminder", password)
            peer_dir = work / "reminder-bot"
            peer_dir.mkdir()
            (peer_dir / "config.yaml").write_text(PEER_CONFIG.format(
                user_id=peer_acc.user_id, password=password, url=hs.url, folder=peer_dir))
            procs.append(
                subprocess.Popen(  # noqa: ASYNC220 - started once, before measuring
                    [str(PEER), str(peer_dir / "config.yaml")], cwd=peer_dir,
                    stdout=subprocess.DEVNULL, stderr=(peer_dir / "log").open("wb"),
                )
            )
            peer_id = peer_acc.user_id
        floor = await measure(hs, floor_acc.user_id, "ping", rounds)
        bot_ms = await measure(hs, bot.user_id, "!undersign help", rounds)
        if peer_id and procs[2].poll() is not None:
            print((work / "reminder-bot" / "log").read_text()[-2000:], file=sys.stderr)
            raise SystemExit("matrix-reminder-bot stopped; its log is above")
        peer_ms = (await measure(hs, peer_id, "!remindme in 2 hours; bench {n}", rounds)
                   if peer_id else None)
        floor_med = statistics.median(floor)
        ours = statistics.median(bot_ms)
        print(f"rounds: {rounds} (sequential, loopback, unencrypted room, one room per bot)")
        print(f"undersign command -> reply  median {ours:6.1f} ms   "
              f"ratio {ours / floor_med:.2f} (target ≤ 1.1)   RSS {rss_mb(procs[1].pid):.0f} MB")
        if peer_ms is not None:
            peer = statistics.median(peer_ms)
            print(f"matrix-reminder-bot !remindme median {peer:6.1f} ms   "
                  f"ratio {peer / floor_med:.2f}   RSS {rss_mb(procs[2].pid):.0f} MB")
        else:
            print("matrix-reminder-bot: not installed in bench/.venvs/reminder-bot "
                  "(see bench/README.md); skipped")
        print(f"bare nio echo (floor)       median {floor_med:6.1f} ms")
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
