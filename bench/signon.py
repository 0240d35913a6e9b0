"""Benchmark 1: sign-on throughput through the core against raw aiosqlite.

N distinct users sign one letter through Core.dispatch (event recorded, signature sealed
and inserted, transaction committed, confirmation produced) on a file database. The floor
is raw aiosqlite inserting and committing the same number of rows, one transaction each,
with the same durability settings (WAL, synchronous=FULL). The storm runs twice: every
signature plain, then with 30 % of them conditional pledges (``sign L1 if N``, N from a
mix of round numbers, some met as the storm goes on, some never), each recomputing the
counted set in its transaction. Run: .venv/bin/python bench/signon.py
"""

from __future__ import annotations

import asyncio
import base64
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import aiosqlite

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import commands
from bot.app import platforms
from bot.config import Config
from bot.core import Core
from bot.events import Command, Room, User
from bot.seal import Sealer
from bot.store import Store

N = int(os.environ.get("N", "5000"))


async def floor(path: Path) -> float:
    db = await aiosqlite.connect(str(path), isolation_level=None)
    await db.execute("PRAGMA journal_mode=WAL")
    await db.execute("PRAGMA synchronous=FULL")
    await db.execute("CREATE TABLE t (letter INTEGER, who BLOB, sealed BLOB, at TEXT,"
                     " PRIMARY KEY (letter, who))")
    start = time.perf_counter()
    for _i in range(N):
        await db.execute("BEGIN IMMEDIATE")
        await db.execute("INSERT INTO t VALUES (1, ?, ?, '2026-01-01T00:00:00Z')",
                         (os.urandom(32), os.urandom(60)))
        await db.execute("COMMIT")
    elapsed = time.perf_counter() - start
    await db.close()
    return N / elapsed


def storm(pledging: float) -> list[str]:
    """Each signer's command: ``sign L1``, or for ``pledging`` of them ``sign L1 if N``."""
    rng = random.Random(5)
    return [f"sign L1 if {rng.choice([5, 20, 100, 500, 1000, 2000, 10_000, 100_000])}"
            if rng.random() < pledging else "sign L1" for _ in range(N)]


async def ours(path: Path, pledging: float = 0.0) -> tuple[float, float]:
    config = Config.model_validate({"bot": {"database": str(path)}})
    store = await Store.open(path, Sealer(os.urandom(32)))
    core = Core(config, store, commands.registry(), platforms(config))
    room = Room("console", "general")
    await core.dispatch(Command("seed", User("console", "org"), room, 'new "Bench" visibility count'))
    latencies = []
    lines = storm(pledging)
    start = time.perf_counter()
    for i in range(N):
        t0 = time.perf_counter()
        outcome = await core.dispatch(Command(f"e{i}", User("console", f"user{i}"), room, lines[i]))
        latencies.append(time.perf_counter() - t0)
        assert outcome.replies, "a confirmation is produced after the commit"
    elapsed = time.perf_counter() - start
    await store.close()
    return N / elapsed, statistics.median(latencies) * 1000


async def main() -> None:
    os.environ.setdefault("UNDERSIGN_DB_KEY", base64.urlsafe_b64encode(os.urandom(32)).decode())
    with tempfile.TemporaryDirectory() as tmp:
        raw = await floor(Path(tmp) / "floor.db")
        rate, median_ms = await ours(Path(tmp) / "ours.db")
        mixed, mixed_ms = await ours(Path(tmp) / "mixed.db", 0.3)
    print(f"sign-on throughput, N={N}, file database, one transaction per signature")
    print(f"  floor (raw aiosqlite insert+commit): {raw:8.0f} rows/s")
    print(f"  undersign core (event→commit→reply): {rate:8.0f} signatures/s"
          f"  (median {median_ms:.2f} ms)   ratio to floor: {rate / raw:.2f} (target ≥ 0.5)")
    print(f"  the same with 30 % pledges:          {mixed:8.0f} signatures/s"
          f"  (median {mixed_ms:.2f} ms)   ratio to floor: {mixed / raw:.2f} (target ≥ 0.5)")


if __name__ == "__main__":
    asyncio.run(main())
