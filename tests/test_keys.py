"""Key handling: `undersign rotate-key`, crash-safe, and what the files hold afterwards."""

from __future__ import annotations

import asyncio
import io
import os
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from bot.app import App
from bot.cli import main
from bot.config import Config
from bot.keys import DatabaseBusy, begin_rotation, rotate_key
from bot.seal import (
    KEY_ENV,
    NEW_KEY_ENV,
    KeyError_,
    Sealer,
    encode_key,
    key_file_for,
    load_key,
    new_key,
    pending_key_file_for,
)
from bot.store import Store
from tests.support.bot import Bot, Clock, RecordingAdapter, privately
from tests.support.storage import db_bytes

REACTION = "$reaction-of-bob"


@asynccontextmanager
async def running(config: Config) -> AsyncIterator[Bot]:
    app = App(config, clock=Clock())
    await app.open()
    recorders = {p: RecordingAdapter(p) for p in ("console", "matrix")}
    for rec in recorders.values():
        app.add_adapter(rec)
    try:
        yield Bot(app, recorders, Clock())
    finally:
        await app.close()


async def _letters(config: Config) -> None:
    """L1 public: alice signs by command, bob by a (Matrix-like) reaction with its own id;
    L2 count: organized by olga and colin, signed by sam."""
    async with running(config) as bot:
        await bot.new("olga", "visibility public")
        await bot.say("alice", "sign L1")
        await bot.react("bob", bot.announcement_ref("L1"), reaction_ref=REACTION)
        await bot.new("olga")
        await bot.say("olga", "organizer L2 add colin")
        await bot.say("sam", "sign L2")


async def _signers(config: Config) -> dict[str, str]:
    async with running(config) as bot:
        return {letter: privately(await bot.say("olga", f"signers {letter}"), "olga")
                for letter in ("L1", "L2")}


@pytest.fixture
def key_file_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(KEY_ENV)


@pytest.mark.usefixtures("key_file_mode")
async def test_rotation_reseals_everyone_and_the_old_key_is_refused(
    config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = config.database_path
    await _letters(config)
    before = await _signers(config)
    assert "alice" in before["L1"] and "bob" in before["L1"] and "sam" in before["L2"]
    old = load_key(db)
    out = io.StringIO()
    done = await rotate_key(db, out)
    assert (done.identities, done.reactions) == (3 + 3, 1)  # organizers, signers; bob's reaction
    assert "key file undersign.db.key now holds the new key" in out.getvalue()
    assert encode_key(old) not in out.getvalue()
    assert load_key(db) != old and key_file_for(db).stat().st_mode & 0o777 == 0o600
    assert not pending_key_file_for(db).exists()
    assert await _signers(config) == before
    async with running(config) as bot:  # organizers are still known under the new key
        assert "Only the organizers" in privately(await bot.say("sam", "close L2"), "sam")
        assert "Closed" not in privately(await bot.say("colin", "close L2"), "colin")
        # bob's reaction is redacted: the reaction id, re-indexed, still finds his signature
        replies = await bot.react("bob", "", "", added=False, reaction_ref=REACTION)
        assert "You withdrew from L1" in privately(replies, "bob")
    monkeypatch.setenv(KEY_ENV, encode_key(old))
    with pytest.raises(KeyError_, match="sealed with another key"):
        await running(config).__aenter__()


def test_with_the_key_in_the_environment_the_new_key_is_printed_once(
    config: Config, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    asyncio.run(_letters(config))
    before = asyncio.run(_signers(config))
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'[bot]\ndatabase = "{config.database_path}"\nadmins = ["console:root"]\n')
    assert main(["rotate-key", "--config", str(cfg)]) == 0
    out = capsys.readouterr().out
    line = next(x for x in out.splitlines() if x.startswith(f"{KEY_ENV}="))
    fresh = line.split("=", 1)[1]
    assert "shown only this once" in out and f"set {KEY_ENV} to the new key" in out
    assert not key_file_for(config.database_path).exists(), "nothing was written to disk"
    assert main(["purge", "--config", str(cfg)]) == 1, "the old key is refused"
    assert "sealed with another key" in capsys.readouterr().err
    monkeypatch.setenv(KEY_ENV, fresh)
    assert asyncio.run(_signers(config)) == before
    # a key the operator chose is used as given, and not printed back
    chosen = encode_key(new_key())
    monkeypatch.setenv(NEW_KEY_ENV, chosen)
    assert main(["rotate-key", "--config", str(cfg)]) == 0
    assert chosen not in capsys.readouterr().out
    monkeypatch.setenv(KEY_ENV, chosen)
    assert asyncio.run(_signers(config)) == before


@pytest.mark.usefixtures("key_file_mode")
async def test_a_rotation_stopped_after_its_commit_is_finished_at_start_up(
    config: Config,
) -> None:
    db = config.database_path
    await _letters(config)
    before = await _signers(config)
    old, fresh = load_key(db), new_key()
    begin_rotation(db, fresh)
    store = await Store.open(db, Sealer(old))
    await store.rotate(Sealer(fresh))
    await store.close()  # ... and the process dies before renaming the key file
    assert load_key(db) == old and pending_key_file_for(db).exists()
    assert await _signers(config) == before
    assert load_key(db) == fresh and not pending_key_file_for(db).exists()


@pytest.mark.usefixtures("key_file_mode")
async def test_a_rotation_stopped_before_its_commit_keeps_the_old_key(config: Config) -> None:
    db = config.database_path
    await _letters(config)
    before = await _signers(config)
    old = load_key(db)
    begin_rotation(db, new_key())  # ... and the process dies before re-sealing anything
    assert await _signers(config) == before
    assert load_key(db) == old and not pending_key_file_for(db).exists()


async def test_after_rotation_the_files_hold_no_old_index_or_sealed_blob(config: Config) -> None:
    db = config.database_path
    await _letters(config)
    old = Sealer(load_key(db))
    with sqlite3.connect(db) as raw:
        blobs = [r[0] for t in ("organizers", "signatures")
                 for r in raw.execute(f"SELECT who_sealed FROM {t}")]
        blobs += [r[0] for r in raw.execute(
            "SELECT reaction_sealed FROM signatures WHERE reaction_sealed IS NOT NULL")]
        events = [r[0] for r in raw.execute("SELECT event_index FROM seen_events")]
        indexes = [r[0] for t in ("organizers", "signatures")
                   for r in raw.execute(f"SELECT who_index FROM {t}")]
    raw.close()
    traces = [*indexes, old.index("reaction:" + REACTION)]
    assert len(indexes) >= 6 and all(t in db_bytes(db) for t in traces), \
        "the indexes were there before"
    traces += [old.check_value().encode(), *blobs, *events]
    await rotate_key(db, io.StringIO())
    files = db_bytes(db)
    wal = db.with_name(db.name + "-wal")
    assert not wal.exists() or wal.stat().st_size == 0
    for trace in traces:
        assert trace not in files


async def test_rotation_refuses_while_the_bot_runs(config: Config) -> None:
    await _letters(config)
    async with running(config):
        with pytest.raises(DatabaseBusy, match="stop it before rotating"):
            await rotate_key(config.database_path, io.StringIO())


async def test_a_new_key_must_be_a_real_key_and_not_the_old_one(
    config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    await _letters(config)
    monkeypatch.setenv(NEW_KEY_ENV, "short")
    with pytest.raises(KeyError_, match=NEW_KEY_ENV):
        await rotate_key(config.database_path, io.StringIO())
    monkeypatch.setenv(NEW_KEY_ENV, os.environ[KEY_ENV])
    with pytest.raises(KeyError_, match="already in use"):
        await rotate_key(config.database_path, io.StringIO())
