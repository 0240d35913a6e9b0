"""Online backups and restores: ``undersign backup`` while a real bot takes a storm of
sign-ons, ``undersign restore`` and its refusals, and the daily backup job."""

from __future__ import annotations

import asyncio
import base64
import re
import sqlite3
import stat
from datetime import timedelta
from pathlib import Path

import pytest

from bot.app import App
from bot.backup import rotate_backups
from bot.cli import main
from bot.config import Config
from bot.core import utc_now
from bot.seal import Sealer, load_key
from bot.store import Store
from tests.support.bot import TEST_KEY, Bot, Clock, RecordingAdapter
from tests.support.processes import BotProcess, environment, run_console
from tests.support.storage import db_bytes

OTHER_KEY = base64.urlsafe_b64encode(b"o" * 32).decode()
CONFIRMED = re.compile(r"^\[to (signer-\d+)\] You signed L1")


async def signers_in(db: Path) -> set[str]:
    store = await Store.open(db, Sealer(load_key(db)))
    try:
        async with store.transaction() as tx:
            return {s.user.id for s in await tx.signatures(1)}
    finally:
        await store.close()


async def sign_on(bot: BotProcess, people: int) -> None:
    """``people`` sign L1, twenty at a time, as a storm that lasts a while."""
    for first in range(0, people, 20):
        bot.type(*(f"signer-{n:03d}> /undersign sign L1" for n in range(first, first + 20)))
        await asyncio.sleep(0.02)


def check_single_private_file(copy: Path) -> None:
    assert stat.S_IMODE(copy.stat().st_mode) == 0o600
    assert not Path(f"{copy}-wal").exists() and not Path(f"{copy}.partial").exists()
    raw = sqlite3.connect(copy)
    assert raw.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    raw.close()


def cli(*args: str | Path) -> int:
    return main([str(a) for a in args])


async def test_a_backup_during_a_storm_holds_every_confirmed_signature_and_names_nobody(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "undersign.toml"
    config.write_text('[bot]\ndatabase = "undersign.db"\n')
    bot = await BotProcess.start(config, environment(UNDERSIGN_DB_KEY=TEST_KEY))
    try:
        bot.type('alice> /undersign new "Backups under load" visibility count')
        await bot.wait_for("Created L1")
        storm = asyncio.create_task(sign_on(bot, 600))
        await bot.wait_for("[to signer-060] You signed L1", within=30)
        confirmed = {m[1] for line in list(bot.lines) if (m := CONFIRMED.match(line))}
        copy = tmp_path / "backups" / "copy.db"
        assert await asyncio.to_thread(cli, "backup", copy, "--config", config) == 0
        await storm
        await bot.wait_for("[to signer-599] You signed L1", within=60)
    finally:
        await bot.end()
    assert "integrity checked" in capsys.readouterr().out
    check_single_private_file(copy)
    copied = await signers_in(copy)
    assert len(confirmed) >= 60 and confirmed <= copied, confirmed - copied
    assert len(copied) < 600, "the backup was not made during the storm"
    data = db_bytes(copy)
    for name in ("alice", "signer-001", "signer-060"):  # titles are not sealed; people are
        assert name.encode() not in data
    assert TEST_KEY.encode() not in data and base64.urlsafe_b64decode(TEST_KEY) not in data


def make_letters(folder: Path, monkeypatch: pytest.MonkeyPatch, n: int) -> Path:
    done = run_console(folder, [f'alice> /undersign new "Letter {i}"' for i in range(n)]
                       + ["bob> /undersign sign L1"], key=TEST_KEY)
    assert done.returncode == 0, done.stderr
    monkeypatch.chdir(folder)
    return folder / "undersign.db"


async def test_restore_puts_a_backup_back_and_refuses_another_key_or_a_newer_schema(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    db = make_letters(tmp_path, monkeypatch, 2)
    assert cli("backup", "two.db") == 0
    make_letters(tmp_path, monkeypatch, 1)  # a third letter after the backup
    assert cli("restore", "two.db") == 0
    assert "restored 2 letter(s)" in capsys.readouterr().out
    assert await signers_in(db) == {"bob"}
    # made with another key: refused, and the database is untouched
    before = db.read_bytes()
    other = tmp_path / "other"
    other.mkdir()
    done = run_console(
        other, ['alice> /undersign new "Elsewhere"'], key=OTHER_KEY)
    assert done.returncode == 0
    assert cli("restore", other / "undersign.db") == 1
    err = capsys.readouterr().err
    assert "sealed with another key" in err
    # from a newer Undersign: refused
    newer = tmp_path / "newer.db"
    assert cli("backup", newer) == 0
    raw = sqlite3.connect(newer)
    raw.execute("PRAGMA user_version = 999")
    raw.commit()
    raw.close()
    assert cli("restore", newer) == 1
    assert "newer Undersign" in capsys.readouterr().err
    # not a database at all, or not there
    (tmp_path / "junk.db").write_bytes(b"not sqlite" * 100)
    assert cli("restore", "junk.db") == 1
    assert cli("restore", "missing.db") == 1
    assert "does not exist" in capsys.readouterr().err
    assert db.read_bytes() == before


def test_a_backup_never_overwrites_and_a_restore_is_refused_while_the_bot_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    make_letters(tmp_path, monkeypatch, 1)
    (tmp_path / "taken.db").write_text("mine")
    assert cli("backup", "taken.db") == 1
    assert "exists already" in capsys.readouterr().err
    assert (tmp_path / "taken.db").read_text() == "mine"
    assert cli("backup", "ok.db") == 0
    from bot.keys import DatabaseLock

    running = DatabaseLock(tmp_path / "undersign.db")
    running.acquire(exclusive=False)  # as a running bot holds it
    try:
        assert cli("restore", "ok.db") == 1
        assert "stop it before restoring a backup" in capsys.readouterr().err
        assert cli("backup", "ok2.db") == 0  # a backup works beside the running bot
    finally:
        running.release()


def test_rotation_keeps_the_newest_backups(tmp_path: Path) -> None:
    names = [f"undersign-2026-12-0{d}T030000Z.db" for d in range(1, 10)]
    for name in names:
        (tmp_path / name).write_text("x")
    (tmp_path / "notes.txt").write_text("mine")
    removed = rotate_backups(tmp_path, 3)
    assert sorted(p.name for p in removed) == names[:6]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt", *names[6:]]


async def test_the_daily_backup_job_is_armed_writes_and_keeps_the_newest(
    tmp_path: Path
) -> None:
    config = Config.model_validate({"bot": {"database": str(tmp_path / "undersign.db"),
                                            "backup_dir": "daily", "backup_keep": 2},
                                    "base_dir": tmp_path})
    clock = Clock()
    app = App(config, clock=clock)
    await app.open()
    try:
        app.add_adapter(RecordingAdapter("console"))
        bot = Bot(app, {"console": app.adapters["console"]}, clock)  # type: ignore[dict-item]
        await bot.new("alice")
        for _ in range(3):
            await app.scheduler._backup()  # what the daily job runs
            clock.now += timedelta(days=1)
    finally:
        await app.close()
    made = sorted(p.name for p in (tmp_path / "daily").iterdir())
    assert made == ["undersign-2026-11-27T120000Z.db", "undersign-2026-11-28T120000Z.db"]
    assert stat.S_IMODE((tmp_path / "daily" / made[-1]).stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "daily").stat().st_mode) == 0o700


async def test_the_daily_backup_is_armed_only_when_a_folder_is_configured(
    tmp_path: Path
) -> None:
    for backup_dir, armed in ((None, False), ("daily", True)):
        config = Config.model_validate({"bot": {"database": str(tmp_path / "undersign.db"),
                                                "backup_dir": backup_dir}})
        clock = Clock()
        clock.now = utc_now()  # real time: nothing is due yet
        app = App(config, clock=clock)
        await app.open()
        try:
            await app.scheduler.start()
            runs = app.scheduler.next_runs()
        finally:
            await app.close()
        assert ("backup" in runs) is armed
        if armed:
            assert runs["backup"] == clock.now + timedelta(minutes=5)
