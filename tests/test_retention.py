"""Retention and erasure: what is purged when, and that the files keep no erased bytes."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.app import App
from bot.cli import main
from bot.config import Config
from bot.events import Room
from tests.support.bot import Bot, Clock, RecordingAdapter
from tests.support.storage import db_bytes, query_rows

TIED = ("organizers", "signatures", "announcements", "schedules")
TITLE = "Purgeable letter Qx"


def _wal_is_folded(db: Path) -> bool:
    wal = db.with_name(db.name + "-wal")
    return not wal.exists() or wal.stat().st_size == 0


def _sealed_of(db: Path, letter_id: int) -> list[bytes]:
    """Every sealed blob and blind index held for one letter."""
    out: list[bytes] = []
    for table in ("organizers", "signatures"):
        for index, sealed in query_rows(db, f"SELECT who_index, who_sealed FROM {table}"
                                   " WHERE letter_id = ?", letter_id):
            out += [index, sealed]  # type: ignore[list-item]
    return out


async def _closed_letter(bot: Bot) -> list[bytes]:
    """L1, public, signed by three, co-organized, announced in two rooms and on Matrix,
    closed now; a schedule row is tied to it too. Returns its sealed bytes."""
    await bot.say("olga", f'new "{TITLE}" link https://example.org/purge-me visibility public')
    await bot.say("olga", "organizer L1 add colin")
    await bot.say("olga", "announce L1", room="other")
    await bot.say("olga", "announce L1", platform="matrix", room="!room:example.org")
    for name in ("pia", "quinn", "rosa"):
        await bot.say(name, "sign L1")
    await bot.say("olga", "close L1")
    async with bot.app.store.transaction() as tx:  # a row that close would have cancelled
        await tx.add_schedule(letter_id=1, kind="reminder", next_at=bot.clock.now,
                              recurrence=None, tz=None, review_at=None, text="Reminder Zx",
                              audience="room", room=Room("console", "general"),
                              now=bot.clock.now)
    return _sealed_of(bot.app.config.database_path, 1)


def _tied_rows(db: Path, letter_id: int) -> dict[str, int]:
    return {t: len(query_rows(db, f"SELECT 1 FROM {t} WHERE letter_id = ?", letter_id))
            for t in TIED}


async def test_closed_letters_and_all_tied_to_them_go_retention_days_after_closing(
    bot: Bot,
) -> None:
    db = bot.app.config.database_path
    sealed = await _closed_letter(bot)
    await bot.say("sam", 'new "Still open"')
    await bot.say("pia", "sign L2")
    days = bot.app.config.bot.retention_days
    closed_at = bot.clock.now
    assert (await bot.app.store.purge(closed_at + timedelta(days=days, minutes=-1), days))[0] == 0
    assert all(_tied_rows(db, 1).values())
    assert (await bot.app.store.purge(closed_at + timedelta(days=days, minutes=1), days))[0] == 1
    assert query_rows(db, "SELECT id FROM letters") == [(2,)]
    assert _tied_rows(db, 1) == dict.fromkeys(TIED, 0)
    assert _tied_rows(db, 2)["signatures"] == 1, "an open letter is kept"
    assert _wal_is_folded(db)
    files = db_bytes(db)
    assert TITLE.encode() not in files and b"purge-me" not in files and b"Reminder Zx" not in files
    still_signing = bot.app.store.sealer.index("console:pia")
    for trace in sealed:
        assert trace not in files or trace == still_signing


async def test_the_daily_job_purges_too(bot: Bot) -> None:
    db = bot.app.config.database_path
    sealed = await _closed_letter(bot)
    scheduler = bot.app.scheduler
    bot.clock.now = datetime.now(UTC)
    await scheduler.start()
    try:
        job = scheduler._aps.get_job("purge")
        assert job.trigger.interval == timedelta(days=1)
        bot.clock.now += timedelta(days=bot.app.config.bot.retention_days + 1)
        await job.func()
    finally:
        await scheduler.stop()
    assert query_rows(db, "SELECT id FROM letters") == []
    assert _wal_is_folded(db)
    files = db_bytes(db)
    assert TITLE.encode() not in files and not any(trace in files for trace in sealed)


def test_undersign_purge_applies_retention_now(
    config: Config, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    async def past_letter() -> None:
        clock = Clock()
        clock.now = datetime.now(UTC) - timedelta(days=config.bot.retention_days + 2)
        app = App(config, clock=clock)
        await app.open()
        app.add_adapter(RecordingAdapter("console"))
        try:
            await _closed_letter(Bot(app, {"console": RecordingAdapter("console"),
                                           "matrix": RecordingAdapter("matrix")}, clock))
        finally:
            await app.close()

    asyncio.run(past_letter())
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'[bot]\ndatabase = "{config.database_path}"\n')
    assert main(["purge", "--config", str(cfg)]) == 0
    assert "purged 1 closed letter(s)" in capsys.readouterr().out
    assert query_rows(config.database_path, "SELECT id FROM letters") == []
    assert TITLE.encode() not in db_bytes(config.database_path)


async def test_de_duplication_records_are_forgotten_after_48_hours(bot: Bot) -> None:
    db = bot.app.config.database_path
    await bot.say("olga", "list", event_id="evt-1")
    seen = len(query_rows(db, "SELECT 1 FROM seen_events"))
    assert seen == 1
    start = bot.clock.now
    assert (await bot.app.store.purge(start + timedelta(hours=47), 30))[1] == 0
    assert (await bot.app.store.purge(start + timedelta(hours=49), 30))[1] == 1
    assert query_rows(db, "SELECT 1 FROM seen_events") == []


async def test_forget_me_folds_the_wal_and_leaves_no_sealed_byte_of_the_caller(bot: Bot) -> None:
    db = bot.app.config.database_path
    for _ in range(3):
        await bot.new("olga", "visibility public")
    for letter in ("L1", "L2", "L3"):
        await bot.say("dora", f"sign {letter}")
        await bot.say("eve", f"sign {letter}")
    sealer = bot.app.store.sealer
    dora = [sealer.person_index("signatures", n, "console:dora") for n in (1, 2, 3)]
    blobs = [r[0] for i in dora
             for r in query_rows(db, "SELECT who_sealed FROM signatures WHERE who_index = ?", i)]
    files = db_bytes(db)
    assert len(blobs) == 3 and all(i in files for i in dora)
    await bot.say("dora", "forget-me")
    assert _wal_is_folded(db)
    files = db_bytes(db)
    assert not any(i in files for i in dora) and not any(blob in files for blob in blobs)
    assert sealer.person_index("signatures", 1, "console:eve") in files


async def test_withdrawing_and_a_sealed_list_destroyed_unseen_leave_no_sealed_byte(
    bot: Bot,
) -> None:
    db = bot.app.config.database_path
    await bot.new("olga", "visibility public")
    await bot.say("dora", "sign L1")
    dora = bot.app.store.sealer.person_index("signatures", 1, "console:dora")
    assert dora in db_bytes(db)
    await bot.say("dora", "unsign L1")
    assert _wal_is_folded(db) and dora not in db_bytes(db)
    await bot.new("olga", "visibility sealed threshold 5")
    await bot.say("eve", "sign L2")
    eve = bot.app.store.sealer.person_index("signatures", 2, "console:eve")
    assert eve in db_bytes(db)
    await bot.say("olga", "close L2")
    assert _wal_is_folded(db) and eve not in db_bytes(db)
