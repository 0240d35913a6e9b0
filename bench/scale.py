"""Benchmark 5: a large database — LETTERS letters and SIGNATURES signatures (100,000 and
1,000,000 by default) — then p99 of `sign` and `status` through Core.dispatch, and bytes
per signature on disk.

The database is made by the real Store (its migrations and key check), then filled with
executemany on the same file: every identity sealed and blind-indexed by the real Sealer,
one organizer per letter, 10% public, 10% sealed, the rest count. Signatures are skewed
as real letters are: one letter with 5% of them, 100 with 0.15% each, the rest spread
over every other letter. The measurement re-opens the file with Store.open, as the bot does.

Also timed, because each holds the store's one lock while it runs: the periodic count
refresh (every letter, every count_refresh_minutes) and the scheduler's plan (on every
change to a timer), and `status` on the largest public letter (it lists every name).

    .venv/bin/python bench/scale.py                   # LETTERS=100000 SIGNATURES=1000000
    LETTERS=10000 SIGNATURES=100000 .venv/bin/python bench/scale.py
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import commands
from bot.app import platforms
from bot.config import Config
from bot.core import Core
from bot.events import Command, Room, User
from bot.model import counted_size
from bot.scheduler import plan
from bot.seal import Sealer, binding
from bot.store import Store

LETTERS = int(os.environ.get("LETTERS", "100000"))
SIGNATURES = int(os.environ.get("SIGNATURES", "1000000"))
PEOPLE = int(os.environ.get("PEOPLE", str(max(1000, SIGNATURES // 5))))
ROUNDS = int(os.environ.get("ROUNDS", "2000"))
ROOM = Room("slack", "C0SCALE001")
AT = "2026-01-05T10:00:00Z"


def user_key(n: int) -> str:
    return f"slack:U{n:08d}"


def spread(rng: random.Random) -> list[int]:
    """How many signatures each letter gets: one big, 100 large, the rest small."""
    counts = [0] * LETTERS
    big = min(SIGNATURES // 20, PEOPLE)
    counts[0] = big
    large = min(SIGNATURES * 15 // 10000, PEOPLE)
    for i in range(1, min(101, LETTERS)):
        counts[i] = large
    rest = SIGNATURES - sum(counts)
    small = range(min(101, LETTERS), LETTERS)
    for i in small:
        counts[i] = rest // len(small)
    for i in rng.sample(small, rest - sum(counts[i] for i in small)):
        counts[i] += 1
    return counts


def big_letter_conditions(rng: random.Random, count: int) -> list[int]:
    """The largest letter's signatures: half of them pledges. Most pledges name a round
    number the letter has long passed; a fifth ask for anything up to 50,000 (many of
    those count, some still wait near the line), and a fifth for more than 50,000 (they
    wait, and most never count)."""
    out = []
    for n in range(count):
        if n % 2 == 0:
            out.append(1)
            continue
        kind = rng.random()
        if kind < 0.6:
            out.append(rng.choice([5, 10, 20, 50, 100, 500, 1000, 5000]))
        elif kind < 0.8:
            out.append(rng.randint(2, 50_000))
        else:
            out.append(rng.randint(50_001, 100_000))
    return out


def visibility(letter: int) -> tuple[str, int | None]:
    if letter == 2 or letter % 10 == 3:  # L2 is the largest public letter
        return "public", None
    if letter % 10 == 7:
        return "sealed", 10
    return "count", None


def build(path: Path, sealer: Sealer) -> float:
    """Fill the (migrated) file with executemany; returns the seconds it took."""
    rng = random.Random(7)
    started = time.perf_counter()
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA synchronous=OFF")  # the build only: the rows are what count
    db.execute("BEGIN")
    db.executemany(
        "INSERT INTO letters (id, title, link, visibility, threshold, created_at, shown_count)"
        " VALUES (?, ?, ?, ?, ?, ?, 0)",
        ((n, f"Letter number {n} on the reorganisation", f"https://example.org/l/{n}",
          *visibility(n), AT) for n in range(1, LETTERS + 1)),
    )
    db.executemany(
        "INSERT INTO announcements (letter_id, platform, room, message_ref) VALUES (?, ?, ?, ?)",
        ((n, ROOM.platform, ROOM.id, f"1700000000.{n:06d}") for n in range(1, LETTERS + 1)),
    )
    def sealed(table: str, letter: int, key: str, text: str) -> tuple[int, bytes, bytes]:
        index = sealer.person_index(table, letter, key)
        return letter, index, sealer.seal(text, binding(table, letter, index))

    db.executemany(
        "INSERT INTO organizers (letter_id, who_index, who_sealed) VALUES (?, ?, ?)",
        (sealed("organizers", n, k, k)
         for n in range(1, LETTERS + 1) for k in [user_key(PEOPLE + n)]),
    )

    # The counts the triggers keep are computed once at the end, not row by row.
    triggers = [r[0] for r in db.execute(
        "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'signatures'")]
    for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'"
                              " AND tbl_name = 'signatures'").fetchall():
        db.execute(f"DROP TRIGGER {name}")
    conditions = big_letter_conditions(rng, spread(random.Random(7))[0])
    size = counted_size(conditions)

    def signatures() -> object:
        for letter, count in enumerate(spread(rng), start=1):
            for n, person in enumerate(rng.sample(range(PEOPLE), count)):
                key = user_key(person)
                found: dict[str, object] = {"who": key, "at": AT}
                condition = conditions[n] if letter == 1 else 1
                if condition > 1:
                    found["if"] = condition
                payload = json.dumps(found, separators=(",", ":"))
                yield (*sealed("signatures", letter, key, payload),
                       condition if condition > size else None)

    db.executemany(
        "INSERT INTO signatures (letter_id, who_index, who_sealed, waiting) VALUES (?, ?, ?, ?)",
        signatures(),  # type: ignore[arg-type]
    )
    db.execute("UPDATE letters SET counted = (SELECT COUNT(*) FROM signatures s"
               " WHERE s.letter_id = letters.id AND s.waiting IS NULL)")
    db.execute("UPDATE letters SET shown_count = counted, pledged = (SELECT COUNT(*) FROM"
               " signatures s WHERE s.letter_id = letters.id AND s.waiting IS NOT NULL),"
               " waiting_min = (SELECT MIN(waiting) FROM signatures s"
               " WHERE s.letter_id = letters.id)")
    biggest = max((c for c in conditions if 1 < c <= size), default=0)
    if biggest:
        bound = b"undersign:letters:1:pledge_max"
        db.execute("UPDATE letters SET pledge_max = ? WHERE id = 1",
                   (sealer.seal(str(biggest), bound),))
    for sql in triggers:
        db.execute(sql)
    db.execute("COMMIT")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.execute("ANALYZE")
    db.close()
    return time.perf_counter() - started


def on_disk(path: Path) -> tuple[int, dict[str, int] | None]:
    """The file's size, and bytes per table and index where SQLite has dbstat."""
    db = sqlite3.connect(path)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    try:
        sizes = dict(db.execute("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name"))
    except sqlite3.OperationalError:
        sizes = None
    db.close()
    return path.stat().st_size, sizes


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def timed(n: int, step: Callable[[int], Awaitable[object]]) -> list[float]:
    out = []
    for i in range(n):
        t0 = time.perf_counter()
        await step(i)
        out.append((time.perf_counter() - t0) * 1000)
    return out


def line(name: str, ms: list[float]) -> str:
    return (f"  {name:<34} median {statistics.median(ms):6.2f} ms   p99 {pct(ms, 0.99):6.2f} ms"
            f"   max {max(ms):7.2f} ms   (n={len(ms)})")


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "scale.db"
        sealer = Sealer(os.urandom(32))
        store = await Store.open(path, sealer)  # the schema and key check, as the bot makes them
        await store.close()
        built = build(path, sealer)
        size, tables = on_disk(path)
        config = Config.model_validate({"bot": {"database": str(path)}})
        store = await Store.open(path, sealer)
        core = Core(config, store, commands.registry(), platforms(config))
        rng = random.Random(11)
        letters = [rng.randrange(1, LETTERS + 1) for _ in range(ROUNDS)]
        ids = iter(range(10**9))  # every event a new one, or the core drops it as a redelivery

        async def sign(i: int) -> None:
            who = User("slack", f"W{i:08d}")  # a new signer each time
            out = await core.dispatch(Command(f"s{next(ids)}", who, ROOM, f"sign L{letters[i]}"))
            assert out.replies and "You signed" in str(out.replies[0]), out.replies

        async def sign_big(i: int) -> None:
            who = User("slack", f"X{i:08d}")
            out = await core.dispatch(Command(f"b{next(ids)}", who, ROOM, "sign L1"))
            assert out.replies and "You signed" in str(out.replies[0]), out.replies

        async def pledge_big(i: int) -> None:
            who = User("slack", f"Y{i:08d}")
            n = rng.choice([10, 1000, rng.randint(2, 100_000)])
            out = await core.dispatch(Command(f"c{next(ids)}", who, ROOM, f"sign L1 if {n}"))
            assert out.replies and "pledged" in str(out.replies[0]), out.replies

        async def status(i: int) -> None:
            who = User("slack", f"U{rng.randrange(PEOPLE):08d}")
            out = await core.dispatch(Command(f"t{next(ids)}", who, ROOM, f"status L{letters[i]}"))
            assert out.replies

        async def status_big_public(i: int) -> None:
            out = await core.dispatch(Command(f"p{next(ids)}", User("slack", "U0READER"), ROOM,
                                              "status L2"))
            assert out.replies

        async def refresh(i: int) -> None:
            await core.refresh_counts()

        async def planning(i: int) -> None:
            await plan(store)

        await timed(50, status)  # warm the page cache
        sign_ms = await timed(ROUNDS, sign)
        async with store.transaction() as tx:
            big = await tx.letter(1)
        assert big is not None
        big_ms = await timed(ROUNDS, sign_big)
        pledge_ms = await timed(ROUNDS, pledge_big)
        status_ms = await timed(ROUNDS, status)
        public_ms = await timed(20, status_big_public)
        refresh_ms = await timed(3, refresh)
        plan_ms = await timed(3, planning)
        await store.close()
    large = min(SIGNATURES * 15 // 10000, PEOPLE)
    print(f"scale: {LETTERS:,} letters, {SIGNATURES:,} signatures ({PEOPLE:,} people),"
          f" built in {built:.0f} s")
    print(line("sign (new signer, random letter)", sign_ms) + "   target p99 < 5 ms")
    print(f"  L1: {big.counted + big.pledged:,} signatures, {big.counted:,} counted,"
          f" {big.pledged:,} pledges waiting (smallest condition {big.waiting_min})")
    print(line("sign L1 (half of it pledges)", big_ms) + "   target p99 < 5 ms")
    print(line("sign L1 if N (N random)", pledge_ms))
    print(line("status (random letter)", status_ms) + "   target p99 < 5 ms")
    print(line(f"status L2 (public, {large:,} names)", public_ms))
    print(line("count refresh (every letter)", refresh_ms) + "   holds the store lock")
    print(line("scheduler plan (every open letter)", plan_ms) + "   holds the store lock")
    print(f"  file: {size / 1e6:.1f} MB, {size / SIGNATURES:.0f} bytes per signature"
          " (whole file, letters and organizers included)")
    if tables:
        names = ("signatures", "sqlite_autoindex_signatures_1", "signatures_by_who",
                 "signatures_by_reaction")
        own = sum(tables.get(n, 0) for n in names)
        print(f"  signatures table and its indexes: {own / SIGNATURES:.0f} bytes per signature"
              f" (table {tables.get('signatures', 0) / SIGNATURES:.0f},"
              f" primary key {tables.get('sqlite_autoindex_signatures_1', 0) / SIGNATURES:.0f},"
              f" by person {tables.get('signatures_by_who', 0) / SIGNATURES:.0f})")


if __name__ == "__main__":
    asyncio.run(main())
