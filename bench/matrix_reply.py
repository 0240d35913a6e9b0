"""Median time from a user's command to the bot's reply, as that user's client sees it,
beside the floor: a bare nio client that echoes each message, in its own process, on the
same homeserver. Both bots run as separate processes; Synapse comes from .synapse-venv.

Twice in the same run: in an unencrypted room (the bot with e2ee = false, a plain echo),
and in an encrypted room (the bot with its defaults, e2ee on and trust = "cross-signed";
the echo a nio client with E2EE that trusts every device). In the encrypted room the user
is a nio client with E2EE whose device is cross-signed (nio cannot, so the benchmark
uploads an identity for it), as the bot's default trust asks.

The peer, matrix-reminder-bot, runs in the same run on the same homeserver, from its own
virtual environment (bench/.venvs/reminder-bot, made by `make bench`), timed on its
`!remindme` command → its "OK, I will remind you…" reply. Each bot gets its own room.
Without that environment the peer is skipped, and the run says so.

The four are timed taking turns, a round each, after two warm-up rounds (the first
encrypted message sets up Olm sessions), so a slow moment of this shared machine falls on
floors and bots alike.

    python bench/matrix_reply.py [ROUNDS]
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from nio import AsyncClient, AsyncClientConfig, RoomMessageNotice, SyncResponse

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # `python bench/matrix_reply.py`
from adapters.matrix_signing import Identity  # noqa: E402
from tests.support.homeserver import Account, Synapse  # noqa: E402
from tests.support.matrix_people import MEGOLM, upkeep  # noqa: E402

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
  level: {level}
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


def client_for(url: str, user: str, device: str, token: str,
               store: Path | None = None) -> AsyncClient:
    """A nio client logged in as ``user``; with ``store``, one with E2EE keys kept there."""
    if store is not None:
        store.mkdir(parents=True, exist_ok=True)
    config = AsyncClientConfig(max_limit_exceeded=0, encryption_enabled=store is not None,
                               store_sync_tokens=False)
    client = AsyncClient(url, user, device, store_path=str(store or ""), config=config)
    client.restore_login(user, device, token)
    return client


async def echo(url: str, user: str, device: str, token: str, store: str = "") -> None:
    """The floor: join on invite, answer every text message with an m.notice (encrypted
    in an encrypted room, to every device, when ``store`` gives it E2EE)."""
    client = client_for(url, user, device, token, Path(store) if store else None)
    resp = await client.sync(timeout=0)
    while True:
        assert isinstance(resp, SyncResponse)
        await upkeep(client)
        for room_id in resp.rooms.invite:
            await client.join(room_id)
        for room_id, info in resp.rooms.join.items():
            for ev in info.timeline.events:
                body = ev.source.get("content", {}).get("body", "")
                text = getattr(ev, "body", None) if client.olm else None
                if ev.sender != user and (
                        ev.source.get("content", {}).get("msgtype") == "m.text" or text):
                    await client.room_send(
                        room_id, "m.room.message",
                        {"msgtype": "m.notice", "body": f"echo {text or body}"},
                        ignore_unverified_devices=True)
        resp = await client.sync(timeout=30000, since=resp.next_batch)


async def cross_sign(client: AsyncClient, account: Account) -> None:
    """Give the user a cross-signing identity that signs this device, as Element does at
    login (nio has no cross-signing): the bot's default trust asks for it."""
    identity = Identity.generate()
    user, device = account.user_id, account.device_id
    headers = {"Authorization": f"Bearer {account.access_token}",
               "Content-Type": "application/json"}

    async def post(path: str, body: dict[str, Any]) -> dict[str, Any]:
        resp = await client.send("POST", f"/_matrix/client/v3/{path}", json.dumps(body),
                                 headers)
        assert resp.status == 200, f"{path}: {resp.status} {await resp.text()}"
        return dict(await resp.json())

    await post("keys/device_signing/upload", identity.key_objects(user))
    keys = await post("keys/query", {"device_keys": {user: [device]}})
    signed = identity.self_signing.sign(keys["device_keys"][user][device], user)
    await post("keys/signatures/upload", {user: {device: signed}})


class Conversation:
    """A person in a room of their own with one bot, timing command → reply; with
    ``store``, the person has E2EE (cross-signed) and the room is encrypted."""

    def __init__(self, hs: Synapse, bot_id: str, text: str, answer: str,
                 store: Path | None = None) -> None:
        self.hs, self.bot_id, self.text, self.store = hs, bot_id, text, store
        self.answer = answer  # what the reply says: decrypted, and not some other notice
        self.person = hs.register(f"person{os.urandom(3).hex()}")
        self.client = client_for(hs.url, self.person.user_id, self.person.device_id,
                                 self.person.access_token, store)
        self.room = self.since = ""
        self.samples: list[float] = []

    async def open(self) -> None:
        client, bot_id = self.client, self.bot_id
        resp = await client.sync(timeout=0)
        assert isinstance(resp, SyncResponse)
        self.since = resp.next_batch
        if self.store is not None:
            await client.keys_upload()
            await cross_sign(client, self.person)
        self.room = (await client.room_create(
            invite=[bot_id], initial_state=[MEGOLM] if self.store is not None else [])).room_id
        deadline = time.monotonic() + 30
        while not (
            self.room in client.rooms
            and bot_id in client.rooms[self.room].users
            and not client.rooms[self.room].users[bot_id].invited
        ):
            assert time.monotonic() < deadline, "the bot did not join"
            await self._sync(1000)

    async def _sync(self, wait_ms: int) -> SyncResponse:
        resp = await self.client.sync(timeout=wait_ms, since=self.since)
        assert isinstance(resp, SyncResponse), resp
        self.since = resp.next_batch
        await upkeep(self.client)
        return resp

    async def once(self, n: int, keep: bool = True) -> None:
        """One command and its reply (not kept: a warm-up)."""
        client = self.client
        start = time.perf_counter()
        body = self.text.format(n=n)  # the peer refuses a reminder it already has
        await client.room_send(self.room, "m.room.message", {"msgtype": "m.text", "body": body},
                               ignore_unverified_devices=True)
        deadline = time.monotonic() + 30
        got = False
        while not got:
            assert time.monotonic() < deadline, f"{self.bot_id} did not answer within 30 s"
            resp = await self._sync(5000)
            for invited in resp.rooms.invite:  # a private reply opens a direct room
                await client.join(invited)
            got = any(
                isinstance(e, RoomMessageNotice) and e.sender == self.bot_id
                and self.answer in e.body
                for info in resp.rooms.join.values()
                for e in info.timeline.events
            )
        if keep:
            self.samples.append((time.perf_counter() - start) * 1000)

    @property
    def median(self) -> float:
        return statistics.median(self.samples)


async def measure(conversations: list[Conversation], rounds: int, warm_up: int = 2) -> None:
    """``rounds`` commands in each conversation, taking turns, so that a slow moment of
    this shared machine falls on the floor and the bot alike."""
    for conversation in conversations:
        await conversation.open()
    for n in range(warm_up + rounds):
        for conversation in conversations:
            await conversation.once(n, keep=n >= warm_up)
    for conversation in conversations:
        await conversation.client.close()


def start_echo(hs: Synapse, name: str, store: Path | None = None
               ) -> tuple[str, subprocess.Popen[bytes]]:
    account = hs.register(name)
    proc = subprocess.Popen(
        [sys.executable, __file__, "--echo", hs.url, account.user_id, account.device_id,
         account.access_token, str(store or "")])
    return account.user_id, proc


def start_undersign(hs: Synapse, work: Path, name: str, *, e2ee: bool
                    ) -> tuple[str, subprocess.Popen[bytes]]:
    """Undersign as `undersign run`, in ``work/name``; with E2EE, all else its defaults."""
    folder = work / name
    folder.mkdir()
    bot = hs.login(name, hs.register(name).password, "UNDERSIGN")
    (folder / "undersign.toml").write_text(
        f'[bot]\ndatabase = "undersign.db"\n[matrix]\nenabled = true\n'
        f'homeserver = "{hs.url}"\nuser_id = "{bot.user_id}"\n'
        f'e2ee = {"true" if e2ee else "false"}\n'
    )
    env = {
        **os.environ,
        "MATRIX_ACCESS_TOKEN": bot.access_token,
        "UNDERSIGN_DB_KEY": base64.urlsafe_b64encode(os.urandom(32)).decode(),
        "PYTHONPATH": str(ROOT),
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "run", "--config", str(folder / "undersign.toml")],
        cwd=folder, env=env)
    return bot.user_id, proc


def peer_config(hs: Synapse, work: Path, level: str) -> tuple[str, Path]:
    """A new account for matrix-reminder-bot on ``hs`` and its config file in
    ``work/reminder-bot``: its user id and the config's path."""
    password = "reminder-bench-password"
    account = hs.register("reminder", password)
    folder = work / "reminder-bot"
    folder.mkdir()
    config = folder / "config.yaml"
    config.write_text(PEER_CONFIG.format(
        user_id=account.user_id, password=password, url=hs.url, folder=folder, level=level))
    return account.user_id, config


def start_peer(hs: Synapse, work: Path) -> tuple[str, subprocess.Popen[bytes]]:
    user_id, config = peer_config(hs, work, "WARNING")
    proc = subprocess.Popen(
        [str(PEER), str(config)], cwd=config.parent,
        stdout=subprocess.DEVNULL, stderr=(config.parent / "log").open("wb"),
    )
    return user_id, proc


def line(what: str, timed: Conversation, floor: Conversation, proc: subprocess.Popen[bytes],
         target: str = "") -> str:
    return (f"{what:<31} median {timed.median:6.1f} ms   ratio "
            f"{timed.median / floor.median:.2f}{target}   RSS {rss_mb(proc.pid):.0f} MB")


async def main(rounds: int) -> None:
    logging.getLogger("nio").setLevel(logging.ERROR)  # "Missing session…" at each new room
    work = Path(tempfile.mkdtemp(prefix="undersign-bench-"))
    hs = Synapse(work / "synapse")
    hs.start()
    procs: list[subprocess.Popen[bytes]] = []
    try:
        echo_id, echo_proc = start_echo(hs, "echo")
        secret_echo_id, secret_echo_proc = start_echo(hs, "echo-e2ee", work / "echo-store")
        bot_id, bot_proc = start_undersign(hs, work, "undersign", e2ee=False)
        secret_bot_id, secret_bot_proc = start_undersign(hs, work, "undersign-e2ee", e2ee=True)
        procs += [echo_proc, secret_echo_proc, bot_proc, secret_bot_proc]
        peer = start_peer(hs, work) if PEER.exists() else None
        if peer is not None:
            procs.append(peer[1])
        helped = "Undersign collects co-signers"
        floor = Conversation(hs, echo_id, "ping", "echo ping")
        ours = Conversation(hs, bot_id, "!undersign help", helped)
        secret_floor = Conversation(hs, secret_echo_id, "ping", "echo ping", work / "person-echo")
        secret_ours = Conversation(hs, secret_bot_id, "!undersign help", helped,
                                   work / "person-bot")
        await measure([floor, ours, secret_floor, secret_ours], rounds)
        if peer is not None and peer[1].poll() is not None:
            print((work / "reminder-bot" / "log").read_text()[-2000:], file=sys.stderr)
            raise SystemExit("matrix-reminder-bot stopped; its log is above")
        theirs = None
        if peer is not None:
            theirs = Conversation(hs, peer[0], "!remindme in 2 hours; bench {n}", "remind")
            await measure([theirs], rounds)
        print(f"rounds: {rounds} each, after 2 warm-up rounds, taking turns (sequential, "
              "loopback, one room per bot)")
        print(line("undersign command -> reply", ours, floor, bot_proc, " (target ≤ 1.1)"))
        if theirs is not None and peer is not None:
            print(line("matrix-reminder-bot !remindme", theirs, floor, peer[1]))
        else:
            print("matrix-reminder-bot: not installed in bench/.venvs/reminder-bot "
                  "(see bench/README.md); skipped")
        print(f"{'bare nio echo (floor)':<31} median {floor.median:6.1f} ms")
        print("encrypted room (the person cross-signed; the bot e2ee on, trust cross-signed):")
        print(line("undersign command -> reply", secret_ours, secret_floor, secret_bot_proc,
                   " (target ≤ 1.1)"))
        print(f"{'bare nio E2EE echo (floor)':<31} median {secret_floor.median:6.1f} ms")
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(timeout=10)
        hs.stop()


if __name__ == "__main__":
    if sys.argv[1:2] == ["--echo"]:
        asyncio.run(echo(*sys.argv[2:7]))
    else:
        asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 30))
