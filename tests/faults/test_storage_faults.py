"""The database stops taking writes mid-run — made read-only, or the disk full — and
comes back: a clear answer to every write, reads still served, nothing lost after.

The faults are made on the bot's own connection: ``PRAGMA query_only`` refuses every write
as a read-only file does (SQLITE_READONLY), and ``PRAGMA max_page_count`` pinned to the
current size fails any write that needs a new page as a full disk does (SQLITE_FULL). A
chmod would not do: the connection's file is already open, and the tests run as root.
"""

from __future__ import annotations

import pytest

from bot.app import STORAGE_FAULT_ANSWER
from bot.events import Private
from tests.support.bot import Bot, privately

pytestmark = pytest.mark.faults

UNLIMITED_PAGES = 1_073_741_823


async def pragma(bot: Bot, sql: str) -> int:
    async with bot.app.store._db.execute(sql) as cur:
        row = await cur.fetchone()
    return int(row[0]) if row else 0


async def signers_in_store(bot: Bot, letter: str) -> set[str]:
    async with bot.app.store.transaction() as tx:
        found = await tx.signatures(int(letter[1:]))
        assert await tx.count(int(letter[1:])) == len(found)
    return {s.user.id for s in found}


async def reads_are_served(bot: Bot, letter: str, signed: set[str]) -> None:
    status = privately(await bot.say("reader", f"status {letter}"), "reader")
    assert "A letter" in status and STORAGE_FAULT_ANSWER not in status, status
    for name in signed:
        assert name in status, (name, status)  # a public letter lists its signers
    listing = privately(await bot.say("reader", "list"), "reader")
    assert f"{letter} A letter" in listing, listing
    assert "sign L<n>" in privately(await bot.say("reader", "help"), "reader")
    assert "What Undersign stores" in privately(await bot.say("reader", "privacy"), "reader")
    names = privately(await bot.say("alice", f"signers {letter}"), "alice")
    assert names.startswith(f"{letter} — {len(signed)} signature"), names


async def test_a_read_only_database_refuses_writes_clearly_serves_reads_and_loses_nothing(
    bot: Bot,
) -> None:
    letter = await bot.new("alice", "visibility public")
    before = {f"early{n}" for n in range(5)}
    for name in before:
        assert "You signed" in privately(await bot.say(name, f"sign {letter}"), name)

    await pragma(bot, "PRAGMA query_only = 1")  # the fault: nothing can be written
    refused = await bot.say("late", f"sign {letter}")
    assert privately(refused, "late") == STORAGE_FAULT_ANSWER
    assert not any(isinstance(r, Private) and "You signed" in str(r.body) for r in refused)
    reaction = await bot.react("reactor", bot.announcement_ref(letter))
    assert privately(reaction, "reactor") == STORAGE_FAULT_ANSWER
    assert privately(await bot.say("alice", 'new "Another"'), "alice") == STORAGE_FAULT_ANSWER
    await reads_are_served(bot, letter, before)
    assert await pragma(bot, "PRAGMA query_only") == 1, "answering reads kept the fault as it was"

    await pragma(bot, "PRAGMA query_only = 0")  # the fault clears
    assert "You signed" in privately(await bot.say("late", f"sign {letter}"), "late")
    assert "You signed" in privately(await bot.react("reactor", bot.announcement_ref(letter)),
                                     "reactor")
    assert await signers_in_store(bot, letter) == before | {"late", "reactor"}


async def test_a_full_disk_mid_storm_loses_no_confirmed_signature_and_serves_reads(
    bot: Bot,
) -> None:
    letter = await bot.new("alice", "visibility public")
    confirmed: set[str] = set()
    refused: set[str] = set()
    pages = await pragma(bot, "PRAGMA page_count")
    await pragma(bot, f"PRAGMA max_page_count = {pages}")  # the disk is full from here on
    for n in range(400):
        name = f"signer{n}"
        answer = privately(await bot.say(name, f"sign {letter}"), name)
        if "You signed" in answer:
            confirmed.add(name)
        else:
            assert answer == STORAGE_FAULT_ANSWER, answer
            refused.add(name)
        if len(refused) >= 20:
            break
    assert len(refused) >= 20, "the disk never filled up"
    assert await signers_in_store(bot, letter) == confirmed, "confirmed is exactly what is kept"
    await reads_are_served(bot, letter, confirmed)

    await pragma(bot, f"PRAGMA max_page_count = {UNLIMITED_PAGES}")  # space is freed
    for name in sorted(refused):
        assert "You signed" in privately(await bot.say(name, f"sign {letter}"), name)
    assert await signers_in_store(bot, letter) == confirmed | refused
    status = privately(await bot.say("reader", f"status {letter}"), "reader")
    assert f"{len(confirmed | refused)} signatures" in status, status
