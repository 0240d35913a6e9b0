"""The bot's cross-signed identity on a real Synapse, whom it answers where, and what it
does when a person's app withholds keys from it."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import pytest

from adapters.matrix_signing import judge
from bot.events import Command, Private
from tests.support.bot import TEST_KEY
from tests.support.homeserver import Synapse
from tests.support.matrix_bot import MatrixBotFactory, Undersign
from tests.support.matrix_people import Person, PersonFactory, content, unique
from tests.support.processes import environment

pytestmark = pytest.mark.matrix


def keys_of(hs: Synapse, token: str, user: str) -> dict[str, Any]:
    """``/keys/query`` for ``user`` as the holder of ``token`` sees it."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    req = urllib.request.Request(
        f"{hs.url}/_matrix/client/v3/keys/query",
        data=json.dumps({"device_keys": {user: []}}).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    with opener.open(req, timeout=10) as resp:
        return dict(json.load(resp))


def identity(hs: Synapse, token: str, user: str) -> tuple[str | None, set[str]]:
    """The user's master key and which of their devices it signed (through the SSK)."""
    keys = keys_of(hs, token, user)
    judged = judge(user, keys.get("master_keys", {}).get(user),
                   keys.get("self_signing_keys", {}).get(user),
                   keys.get("device_keys", {}).get(user))
    return judged.master, set(judged.signed_devices)


async def test_the_identity_outlives_a_restart_a_lost_store_and_a_new_device(
    synapse: Synapse, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, people: PersonFactory
) -> None:
    viewer = await people("viewer")
    bot = Undersign(synapse, tmp_path, monkeypatch)
    await bot.start()
    await bot.stop()
    master, signed = identity(synapse, viewer.account.access_token, bot.id)
    assert master is not None and signed == {"UNDERSIGN"}
    await bot.start()  # a restart changes nothing
    await bot.stop()
    assert identity(synapse, viewer.account.access_token, bot.id) == (master, {"UNDERSIGN"})
    shutil.rmtree(tmp_path / "matrix-store")  # the device's keys are lost
    bot.new_device("UNDERSIGN2")
    await bot.start()
    try:
        assert bot.adapter.own is not None and bot.adapter.own.device_signed
    finally:
        await bot.stop()
    again, signed = identity(synapse, viewer.account.access_token, bot.id)
    assert again == master, "the same identity: clients do not warn of a reset"
    assert "UNDERSIGN2" in signed


async def test_a_command_typed_in_a_second_direct_room_is_answered_there(
    make_bot: MatrixBotFactory, people: PersonFactory
) -> None:
    bot, alice = await make_bot(trust="all"), await people("alice", e2ee=True)  # nio: TOFU
    assert bot.adapter is not None
    rooms = []
    for _ in range(2):
        dm = await alice.create_room([bot.id], direct=True, encrypted=True)
        await alice.joined(bot.id, dm)
        rooms.append(dm)
    for n, dm in enumerate([rooms[0], rooms[1], rooms[0]]):
        await alice.say(dm, f"!undersign status L{n + 1}")
        cmd = await bot.wait_for(
            lambda e, n=n: isinstance(e, Command) and e.text == f"status L{n + 1}", within=15)
        assert isinstance(cmd, Command)
        await bot.adapter.send(Private(cmd.user, (f"answer {n + 1}",), context=cmd.room))
        got = await alice.wait_for(
            lambda s, n=n: content(s).get("body") == f"answer {n + 1}", within=15,
            what=f"answer {n + 1}")
        assert got["room_id"] == dm, f"answer {n + 1} went to another direct room"


async def withhold(person: Person, bot_id: str, device_id: str, code: str) -> None:
    """``person``'s app tells the bot's device it will not get a room key (sent in the
    clear, as the spec has it)."""
    path = f"/_matrix/client/v3/sendToDevice/m.room_key.withheld/{uuid.uuid4().hex}"
    body = {"messages": {bot_id: {device_id: {
        "algorithm": "m.megolm.v1.aes-sha2", "code": code, "reason": "not verified",
        "room_id": "!somewhere:undersign.test", "session_id": uuid.uuid4().hex,
        "sender_key": "k" * 43}}}}
    resp = await person.client.send(
        "PUT", path, json.dumps(body),
        {"Authorization": f"Bearer {person.account.access_token}",
         "Content-Type": "application/json"})
    assert resp.status == 200, await resp.text()


async def test_a_withheld_key_is_explained_privately_once(
    make_bot: MatrixBotFactory, people: PersonFactory
) -> None:
    bot, alice = await make_bot(trust="all"), await people("alice", e2ee=True)
    assert bot.adapter is not None
    for _ in range(2):
        await withhold(alice, bot.id, "UNDERSIGN", "m.unverified")
    told = await alice.wait_for(
        lambda s: "withheld its keys from my device (m.unverified)" in str(content(s).get("body")),
        within=15, what="the explanation")
    assert alice.client.rooms[told["room_id"]].encrypted
    await alice.say(told["room_id"], "!undersign help")  # a later event: the sync moved on
    await bot.wait_for(lambda e: isinstance(e, Command), within=15)
    explained = [s for s in alice.events if "withheld its keys" in str(content(s).get("body"))]
    assert len(explained) == 1, "told once"


def test_matrix_verify_cross_signs_and_reports(synapse: Synapse, tmp_path: Path) -> None:
    name = unique("undersign")
    account = synapse.login(name, synapse.register(name).password, "VERIFY")
    (tmp_path / "undersign.toml").write_text(
        f'[matrix]\nenabled = true\nhomeserver = "{synapse.url}"\n'
        f'user_id = "{account.user_id}"\ndevice_id = "VERIFY"\n')
    env = environment(MATRIX_ACCESS_TOKEN=account.access_token, UNDERSIGN_DB_KEY=TEST_KEY)
    command = [sys.executable, "-m", "bot.cli", "matrix-verify", "--config",
               str(tmp_path / "undersign.toml")]
    first = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
    assert first.returncode == 0, first.stderr
    assert "device VERIFY is cross-signed by the bot's identity" in first.stdout
    master, signed = identity(synapse, account.access_token, account.user_id)
    assert signed == {"VERIFY"}
    again = subprocess.run([*command, "--accept-identity", "@someone:undersign.test"], env=env,
                           capture_output=True, text=True, timeout=60)
    assert again.returncode == 0, again.stderr
    assert "@someone:undersign.test: no identity was pinned" in again.stdout
    assert identity(synapse, account.access_token, account.user_id) == (master, {"VERIFY"})
    assert account.access_token not in first.stdout + first.stderr
