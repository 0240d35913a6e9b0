"""What a copied database reveals: someone holding the file, its WAL and SHM, or a backup,
without the key, reads every byte and every row. These tests play what such a person
would try, and are the experiment behind SECURITY.md's "What a copied database reveals"."""

from __future__ import annotations

import asyncio
import re
import sqlite3
from collections import defaultdict
from pathlib import Path

import aiosqlite
import pytest
from cryptography.exceptions import InvalidTag

from bot.app import App
from bot.cli import main
from bot.config import Config
from bot.events import Due
from bot.migrations import MIGRATIONS
from bot.model import utc_iso
from bot.seal import KEY_ENV, LEGACY_BINDING, KeyError_, Sealer, binding, key_file_for, new_key
from bot.store import Store, StoreError
from tests.support.bot import TEST_KEY, Bot, Clock, RecordingAdapter, privately
from tests.support.storage import database_at, db_bytes, table_rows

# A clear time finer than a day: 2026-11-26T12:00 or 12:00:05, in text or bytes.
CLEAR_TIME = re.compile(rb"\d{4}-\d\d-\d\d[T ]\d\d:\d\d")
PEOPLE = ("pat", "quinn", "rosa", "sami", "tove", "ulla", "vic")


def _windows(value: object, size: int = 8) -> set[bytes]:
    data = value if isinstance(value, bytes) else str(value).encode()
    return {data[i:i + size] for i in range(len(data) - size + 1)}


async def _mixed_scenario(bot: Bot) -> None:
    """One person signs a public, a count and a sealed letter; another organizes one and
    signs another; withdrawals, forget-me and a key rotation along the way."""
    public = await bot.new("olga", "visibility public")
    count = await bot.new("olga")
    sealed = await bot.new("colin", "visibility sealed threshold 3")
    await bot.say("colin", f"organizer {count} add @pat")
    for letter in (public, count, sealed):
        await bot.say("pat", f"sign {letter}")
        await bot.say("quinn", f"sign {letter}")
    await bot.say("colin", f"sign {public}")
    await bot.react("rosa", bot.announcement_ref(public), reaction_ref="$reaction-rosa")
    await bot.say("sami", f"sign {count}")
    await bot.say("sami", f"unsign {count}")
    await bot.say("tove", f"sign {sealed}")
    await bot.say("tove", "forget-me")
    await bot.app.store.rotate(Sealer(new_key()))
    for letter in (count, sealed):
        await bot.say("ulla", f"sign {letter}")
    await bot.say("vic", f"sign {public}")


async def test_a_copied_database_shares_no_value_between_two_letters_rows(bot: Bot) -> None:
    await _mixed_scenario(bot)
    db = bot.app.config.database_path
    owners: dict[bytes, set[tuple[str, int]]] = defaultdict(set)
    for table in ("organizers", "signatures"):
        rows = table_rows(db, table)
        assert rows, table
        for row in rows:
            columns = row.keys()
            for column in columns:
                if column != "letter_id" and row[column] is not None:
                    for window in _windows(row[column]):
                        owners[window].add((table, row["letter_id"]))
    shared = {w: o for w, o in owners.items() if len(o) > 1}
    assert not shared, f"{len(shared)} 8-byte values are shared between rows: {shared}"


async def test_a_copied_database_holds_no_clear_time_finer_than_a_day_beside_a_signature(
    bot: Bot,
) -> None:
    await _mixed_scenario(bot)
    db = bot.app.config.database_path
    for table in ("organizers", "signatures", "seen_events"):
        for row in table_rows(db, table):
            columns = row.keys()
            for column in columns:
                value = row[column]
                text = value if isinstance(value, bytes) else str(value).encode()
                assert not CLEAR_TIME.search(text) or table == "seen_events", (table, column)
    for row in table_rows(db, "seen_events"):  # de-duplication keeps the hour, never the second
        assert str(row["seen_at"]).endswith(":00:00Z")
    raw = sqlite3.connect(db)
    columns = {r[1] for r in raw.execute("PRAGMA table_info(signatures)")}
    assert "signed_at" not in columns
    assert raw.execute("SELECT sql FROM sqlite_master WHERE name = 'signatures'"
                       ).fetchone()[0].rstrip().endswith("WITHOUT ROWID")
    raw.close()
    for name in (*PEOPLE, "olga", "colin"):
        assert name.encode() not in db_bytes(db)


async def _layout(folder: Path, order: list[str], *, refresh: bool) -> list[str]:
    """Sign two letters in ``order``; the signers of L1 in the order their rows lie in
    the database file."""
    config = Config.model_validate({"bot": {"database": str(folder / "undersign.db")}})
    app = App(config, clock=Clock())
    await app.open()
    app.add_adapter(RecordingAdapter("console"))
    bot = Bot(app, {"console": app.adapters["console"]}, Clock())  # type: ignore[dict-item]
    await bot.new("olga")
    await bot.new("olga")
    for who in order:
        await bot.say(who, "sign L1")
        await bot.say(who, "sign L2")
    if refresh:
        await app.handle(Due("refresh", "refresh-counts"))  # the count refresh timer
        wal = config.database_path.with_name("undersign.db-wal")
        assert not wal.exists() or wal.stat().st_size == 0, "the refresh folds the WAL"
    await app.store.checkpoint()
    raw = config.database_path.read_bytes()
    offsets = {w: raw.find(app.store.sealer.person_index("signatures", 1, f"console:{w}"))
               for w in order}
    await app.close()
    assert all(o >= 0 for o in offsets.values())
    return sorted(order, key=lambda w: offsets[w])


async def test_after_a_refresh_the_file_lays_out_signatures_the_same_whatever_their_order(
    tmp_path: Path,
) -> None:
    signers = [f"signer{n:02d}" for n in range(24)]
    shuffled = signers[::-1]
    as_written = [await _layout(tmp_path / name, order, refresh=False)
                  for name, order in (("a1", signers), ("a2", shuffled))]
    assert as_written[0] != as_written[1], "as written, the layout follows the signing order"
    layouts = [await _layout(tmp_path / name, order, refresh=True)
               for name, order in (("b", signers), ("c", shuffled), ("d", signers[1::2]
                                                                       + signers[::2]))]
    assert layouts[0] == layouts[1] == layouts[2], "the layout depends on the signing order"
    assert layouts[0] not in (signers, signers[::-1])
    assert {len(r.keys()) for r in table_rows(tmp_path / "b" / "undersign.db", "signatures")} == {8}


async def test_status_of_a_public_letter_names_signers_alphabetically(bot: Bot) -> None:
    letter = await bot.new("olga", "visibility public")
    for who in ("zed", "amy", "mo"):
        await bot.say(who, f"sign {letter}")
    shown = privately(await bot.say("olga", f"status {letter}"), "olga")
    assert shown.endswith("Signed by: amy, mo, zed")


async def test_a_sealed_value_copied_into_another_letter_does_not_open(bot: Bot) -> None:
    first, second = await bot.new("olga"), await bot.new("olga")
    await bot.say("pat", f"sign {first}")
    await bot.say("quinn", f"sign {second}")
    db = bot.app.config.database_path
    sealer = bot.app.store.sealer
    pat = sealer.person_index("signatures", 1, "console:pat")
    (row,) = [r for r in table_rows(db, "signatures") if r["who_index"] == pat]
    with pytest.raises(InvalidTag):
        sealer.open(row["who_sealed"], binding("signatures", 2, pat))
    with pytest.raises(InvalidTag):
        sealer.open(row["who_sealed"], binding("organizers", 1, pat))
    await bot.app.close()  # a copy, edited behind the bot's back
    raw = sqlite3.connect(db)
    with raw:
        raw.execute("INSERT INTO signatures (letter_id, who_index, who_sealed)"
                    " VALUES (2, ?, ?)", (pat, row["who_sealed"]))
    raw.close()
    store = await Store.open(db, sealer)
    try:
        async with store.transaction() as tx:
            with pytest.raises(InvalidTag):
                await tx.signatures(2)
            assert [s.user.id for s in await tx.signatures(1)] == ["pat"]
    finally:
        await store.close()


async def test_database_files_are_made_0600_and_wider_ones_are_refused(
    bot: Bot, config: Config,
) -> None:
    await bot.new("olga")
    db = config.database_path
    for file in (db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")):
        assert file.exists() and file.stat().st_mode & 0o777 == 0o600, file.name
    await bot.app.close()
    db.chmod(0o644)
    with pytest.raises(StoreError, match=r"chmod 600 undersign\.db"):
        await App(config).open()


# --- the migration of an existing database --------------------------------------------


def _tighten(db: Path) -> None:
    db.chmod(0o600)


async def _legacy_database(db: Path, sealer: Sealer) -> None:
    """A database as versions before migration 5 left it: one blind index per person for
    every letter, identities sealed under one constant, the time of each signature."""
    conn = await aiosqlite.connect(str(db))
    for migration in MIGRATIONS[:4]:
        await migration.run(conn, sealer)
        await conn.execute(f"PRAGMA user_version = {migration.number}")
    await conn.execute("INSERT INTO meta VALUES ('key_check', ?)", (sealer.check_value(),))
    for n in (1, 2):
        await conn.execute("INSERT INTO letters (id, title, visibility, threshold, created_at)"
                           " VALUES (?, 'Old letter', ?, ?, '2026-11-01T09:00:00Z')",
                           (n, "public" if n == 1 else "sealed", None if n == 1 else 2))
        await conn.execute("INSERT INTO organizers VALUES (?, ?, ?)",
                           (n, sealer.index("console:olga"),
                            sealer.seal("console:olga", LEGACY_BINDING)))
        for who, at in (("pat", "2026-11-02T10:11:12Z"), ("quinn", "2026-11-03T08:09:10Z")):
            await conn.execute(
                "INSERT INTO signatures (letter_id, who_index, who_sealed, signed_at,"
                " by_reaction, reaction_index, reaction_sealed) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (n, sealer.index(f"console:{who}"), sealer.seal(f"console:{who}", LEGACY_BINDING),
                 at, int(who == "pat"), sealer.index(f"reaction:$r-{who}-{n}"),
                 sealer.seal(f"$r-{who}-{n}", LEGACY_BINDING)))
    await conn.commit()
    await conn.close()
    _tighten(db)  # made as the old versions made it, 0644 under the usual umask


async def test_an_existing_database_is_migrated_in_place_leaving_no_old_index_or_time(
    tmp_path: Path,
) -> None:
    db = tmp_path / "undersign.db"
    sealer = Sealer(new_key())
    await _legacy_database(db, sealer)
    old = [sealer.index(f"console:{w}") for w in ("olga", "pat", "quinn")]
    assert all(i in db_bytes(db) for i in old)
    store = await Store.open(db, sealer)
    try:
        async with store.transaction() as tx:
            for n in (1, 2):
                found = await tx.signatures(n)
                assert [(s.user.id, utc_iso(s.signed_at)) for s in found] == [
                    ("pat", "2026-11-02T10:11:12Z"), ("quinn", "2026-11-03T08:09:10Z")]
                assert [u.id for u in await tx.organizers(n)] == ["olga"]
                assert await tx.signed_by_reaction(n, found[0].user)
            assert await tx.signature_by_reaction("$r-quinn-2") is not None
            assert await tx.letters_signed_by(found[0].user) == [1, 2]
    finally:
        await store.close()
    files = db_bytes(db)
    assert not any(i in files for i in old), "an old blind index survived the migration"
    assert b"2026-11-02T10:11" not in files and b"10:11:12" not in files
    assert table_rows(db, "meta") and not [r for r in table_rows(db, "meta")
                                      if r["key"] == "vacuum_pending"]


async def test_a_schema_5_database_gains_versions_in_place_and_its_signatures_still_count(
    tmp_path: Path,
) -> None:
    """Migration 6: letters and signatures gain their version (1), and a signature sealed
    before it (no listing, no padding) opens and counts as given to version 1."""
    db = tmp_path / "undersign.db"
    sealer = Sealer(new_key())
    conn = await database_at(db, sealer, 5)
    await conn.execute("INSERT INTO letters (id, title, visibility, created_at)"
                       " VALUES (1, 'Old letter', 'count', '2026-11-01T09:00:00Z')")
    index = sealer.person_index("signatures", 1, "console:pat")
    payload = '{"who":"console:pat","at":"2026-11-02T10:11:12Z"}'
    await conn.execute("INSERT INTO signatures (letter_id, who_index, who_sealed) VALUES (1, ?, ?)",
                       (index, sealer.seal(payload, binding("signatures", 1, index))))
    await conn.commit()
    await conn.close()
    _tighten(db)
    store = await Store.open(db, sealer)
    try:
        async with store.transaction() as tx:
            letter = await tx.letter(1)
            assert letter is not None and letter.version == 1
            [found] = await tx.signatures(1)
            assert (found.user.id, found.version, found.listing, found.anonymous) == (
                "pat", 1, None, False)
            assert await tx.count(1) == 1
    finally:
        await store.close()
    raw = sqlite3.connect(db)
    assert raw.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS) == 7
    raw.close()


async def test_a_migration_that_fails_half_way_leaves_the_database_as_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    db = tmp_path / "undersign.db"
    sealer = Sealer(new_key())
    await _legacy_database(db, sealer)
    calls = 0
    real = Sealer.person_index

    def failing(self: Sealer, table: str, letter_id: int, identity: str) -> bytes:
        nonlocal calls
        calls += 1
        if calls == 4:
            raise OSError("the process dies here")
        return real(self, table, letter_id, identity)

    monkeypatch.setattr(Sealer, "person_index", failing)
    with pytest.raises(OSError):
        await Store.open(db, sealer)
    raw = sqlite3.connect(db)
    assert raw.execute("PRAGMA user_version").fetchone()[0] == 4
    assert raw.execute("SELECT COUNT(*) FROM signatures WHERE signed_at IS NOT NULL"
                       ).fetchone()[0] == 4
    raw.close()
    monkeypatch.setattr(Sealer, "person_index", real)
    store = await Store.open(db, sealer)
    try:
        async with store.transaction() as tx:
            assert len(await tx.signatures(1)) == 2
    finally:
        await store.close()


async def test_a_migration_under_the_wrong_key_is_refused_before_it_changes_anything(
    tmp_path: Path,
) -> None:
    db = tmp_path / "undersign.db"
    await _legacy_database(db, Sealer(new_key()))
    with pytest.raises(KeyError_, match="sealed with another key"):
        await Store.open(db, Sealer(new_key()))
    raw = sqlite3.connect(db)
    assert raw.execute("PRAGMA user_version").fetchone()[0] == 4
    raw.close()


async def test_a_database_newer_than_the_code_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "undersign.db"
    store = await Store.open(db, Sealer(new_key()))
    await store.close()
    raw = sqlite3.connect(db)
    raw.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    raw.close()
    with pytest.raises(StoreError, match="newer than this Undersign knows"):
        await Store.open(db, Sealer(new_key()))


# --- the key file ---------------------------------------------------------------------


def test_only_run_makes_a_key_file_and_purge_names_the_missing_key(
    config: Config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    async def made_with_env_key() -> None:
        app = App(config, clock=Clock())
        await app.open()
        await app.close()

    asyncio.run(made_with_env_key())
    monkeypatch.delenv(KEY_ENV)
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'[bot]\ndatabase = "{config.database_path}"\n')
    assert main(["purge", "--config", str(cfg)]) == 1
    err = capsys.readouterr().err
    assert KEY_ENV in err and "undersign.db.key" in err and "Traceback" not in err
    assert not key_file_for(config.database_path).exists(), "purge left a stray key file"
    monkeypatch.setenv(KEY_ENV, TEST_KEY)
    assert main(["purge", "--config", str(cfg)]) == 0
