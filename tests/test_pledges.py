"""Conditional pledges, ``sign L<n> if N``: the counted set (the largest in which every
condition is at most its size) is recomputed in the transaction of every sign, unsign and
forget-me; a pledge that does not count is sealed from everyone; its pledger is told once
when it starts to count; a close destroys the ones still waiting, unseen."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.app import App
from bot.config import Config
from bot.events import Private, plain
from bot.migrations import MIGRATIONS
from bot.seal import Sealer, binding, new_key
from bot.store import Store
from tests.support.bot import (
    TEST_KEY,
    Bot,
    Clock,
    RecordingAdapter,
    in_rooms,
    later,
    privately,
)
from tests.support.processes import run_console
from tests.support.storage import database_at, db_bytes, table_rows


def reference_size(conditions: list[int]) -> int:
    """The definition, by brute force: the largest k such that some k people all have a
    condition at most k (there are such k people exactly when k conditions are <= k)."""
    for k in range(len(conditions), -1, -1):
        if sum(1 for c in conditions if c <= k) >= k:
            return k
    return 0


PEOPLE = [f"p{n}" for n in range(9)]
STEPS = st.lists(
    st.tuples(st.sampled_from(PEOPLE),
              st.sampled_from(["sign", "pledge", "pledge", "unsign", "forget-me"]),
              st.integers(min_value=1, max_value=8), st.sampled_from(["L1", "L2"])),
    min_size=1, max_size=40)


@given(STEPS)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_the_counted_set_is_the_fixed_point_after_every_step(
        steps: list[tuple[str, str, int, str]]) -> None:
    async def scenario(folder: Path) -> None:
        config = Config.model_validate({"bot": {"database": str(folder / "p.db")}})
        app = App(config, clock=Clock())
        await app.open()
        recorder = RecordingAdapter("console")
        app.add_adapter(recorder)
        bot = Bot(app, {"console": recorder}, Clock())
        try:
            await bot.new("olga")
            await bot.new("olga", "visibility public")
            pledges: dict[str, dict[str, int]] = {"L1": {}, "L2": {}}
            told: dict[str, set[str]] = {"L1": set(), "L2": set()}
            for who, action, n, letter in steps:
                replies = await bot.say(who, {"sign": f"sign {letter}",
                                              "pledge": f"sign {letter} if {n}",
                                              "unsign": f"unsign {letter}",
                                              "forget-me": "forget-me"}[action])
                if action == "sign":
                    pledges[letter].setdefault(who, 1)
                elif action == "pledge":
                    pledges[letter][who] = n
                elif action == "unsign":
                    pledges[letter].pop(who, None)
                    told[letter].discard(who)
                else:
                    for ref in pledges:
                        pledges[ref].pop(who, None)
                        told[ref].discard(who)
                for r in replies:
                    if not isinstance(r, Private):
                        continue
                    text, person = plain(r.body), r.user.id
                    for ref in pledges:
                        if f"Your pledge on {ref} " in text and "now counts" in text:
                            assert person not in told[ref], f"{person} told twice on {ref}"
                            told[ref].add(person)
                        elif person == who and ref == letter and "Your pledge counts" in text:
                            told[ref].add(person)  # in the answer to their own command
                async with app.store.transaction() as tx:
                    for ref, number in (("L1", 1), ("L2", 2)):
                        size = reference_size(list(pledges[ref].values()))
                        assert await tx.count(number) == size, (ref, pledges[ref])
                        shown = {s.user.id for s in await tx.signatures(number)}
                        assert shown == {p for p, c in pledges[ref].items() if c <= size}
                        counted = {p for p, c in pledges[ref].items() if c <= size and c > 1}
                        assert told[ref] <= set(pledges[ref])
                        assert counted <= told[ref] | {who}, (ref, counted, told[ref])
            await app.core.refresh_counts()
            async with app.store.transaction() as tx:
                for number, ref in ((1, "L1"), (2, "L2")):
                    letter = await tx.letter(number)
                    assert letter is not None
                    size = reference_size(list(pledges[ref].values()))
                    assert letter.shown_count == size or letter.is_public, \
                        "the shown count counts no waiting pledge"
                    assert letter.shown_pledged == len(pledges[ref]) - size
        finally:
            await app.close()

    with tempfile.TemporaryDirectory() as folder:
        asyncio.run(scenario(Path(folder)))


async def test_three_pledges_if_3_cross_the_line_together_and_each_is_told_once(
        bot: Bot) -> None:
    letter = await bot.new("olga")
    first = privately(await bot.say("ann", f"sign {letter} if 3"), "ann")
    assert "does not count yet" in first and "nobody sees your name" in first
    assert "Nobody has signed" in privately(await bot.say("olga", f"signers {letter}"), "olga")
    await bot.say("ben", f"sign {letter} if 3")
    crossing = await bot.say("cat", f"sign {letter} if 3")
    assert "Your pledge counts: 3 have signed" in privately(crossing, "cat")
    for who in ("ann", "ben"):
        assert f"Your pledge on {letter} A letter now counts: 3 have signed." in privately(
            crossing, who)
    shown = privately(await bot.say("olga", f"signers {letter}"), "olga")
    assert all(who in shown for who in ("ann", "ben", "cat"))
    again = await bot.say("dan", f"sign {letter}")
    assert not [r for r in again if isinstance(r, Private) and r.user.id in ("ann", "ben")]


async def test_a_withdrawal_uncounts_others_who_are_not_told_and_keep_what_was_shown(
        bot: Bot) -> None:
    letter = await bot.new("olga")
    for who in ("ann", "ben", "cat"):
        await bot.say(who, f"sign {letter} if 3")
    gone = await bot.say("cat", f"unsign {letter}")
    assert [r.user.id for r in gone if isinstance(r, Private)] == ["cat"], "nobody else is told"
    assert "Nobody has signed" in privately(await bot.say("olga", f"signers {letter}"), "olga")
    status = privately(await bot.say("ann", f"status {letter}"), "ann")
    assert "does not count yet" in status and "whoever saw it keeps it" in status
    back = await bot.say("cat", f"sign {letter} if 3")
    assert not [r for r in back if isinstance(r, Private) and r.user.id in ("ann", "ben")], \
        "told once: not again when it counts again"
    assert "ann" in privately(await bot.say("olga", f"signers {letter}"), "olga")


async def test_a_plain_signature_carries_pledges_over_the_line(bot: Bot) -> None:
    letter = await bot.new("olga")
    await bot.say("ann", f"sign {letter} if 2")
    assert "Count: 0 signatures" in privately(await bot.say("olga", f"status {letter}"), "olga")
    carried = await bot.say("ben", f"sign {letter}")
    assert "now counts: 2 have signed" in privately(carried, "ann")
    assert "Count: 2 signatures" in privately(await bot.say("olga", f"status {letter}"), "olga")


async def test_announcements_and_status_show_waiting_pledges_on_the_refresh_timer(
        bot: Bot) -> None:
    letter = await bot.new("olga", "visibility public")
    for n in range(3):
        await bot.say(f"s{n}", f"sign {letter}")
    for n in range(4):
        await bot.say(f"q{n}", f"sign {letter} if 20")
    await bot.say("r0", f"sign {letter} if 50")
    status = privately(await bot.say("zed", f"status {letter}"), "zed")
    assert "pledged" not in status, "not at each pledge: on the timer"
    edits = in_rooms(await bot.app.core.refresh_counts())
    assert edits and "3 signatures · 5 more pledged to sign once 20 have" in plain(edits[-1].body)
    status = privately(await bot.say("zed", f"status {letter}"), "zed")
    assert "Count: 3 signatures · 5 more pledged to sign once 20 have" in status
    for who in ("q0", "q1", "q2", "q3", "r0"):
        assert who not in status
    quiet = await bot.new("olga")
    await bot.say("q9", f"sign {quiet} if 5")
    await bot.app.core.refresh_counts()
    status = privately(await bot.say("zed", f"status {quiet}"), "zed")
    assert "fewer than 3 signatures · fewer than 3 more pledged to sign once 5 have" in status


async def test_close_with_pledges_waiting_destroys_them_unseen(bot: Bot) -> None:
    letter = await bot.new("olga")
    await bot.say("ann", f"sign {letter}")
    await bot.say("ben", f"sign {letter} if 5")
    await bot.say("cat", f"sign {letter} if 9")
    await bot.app.core.refresh_counts()  # the announcement shows the pledges waiting ...
    closed = await bot.say("olga", f"close {letter}")
    report = privately(closed, "olga")
    assert "2 pledges were still waiting" in report and "destroyed unseen" in report
    assert "ben" not in report and "cat" not in report and "ann" in report
    assert not [r for r in closed if isinstance(r, Private) and r.user.id in ("ben", "cat")]
    rows = table_rows(bot.app.config.database_path, "signatures")
    assert len(rows) == 1 and rows[0]["waiting"] is None
    [edit] = in_rooms(closed)
    assert "pledged" not in plain(edit.body), "a closed letter has no pledge waiting"


async def test_nothing_about_a_waiting_pledge_reaches_signers_export_final_reminders_or_logs(
        bot: Bot, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    letter = await bot.new("olga")
    await bot.say("ann", f"sign {letter}")
    await bot.say("secretpledger", f"sign {letter} if 40")
    seen = "\n".join([
        privately(await bot.say("olga", f"signers {letter}"), "olga"),
        privately(await bot.say("olga", f"final {letter}"), "olga"),
        privately(await bot.say("olga", f"status {letter}"), "olga"),
    ])
    exported = await bot.say("olga", f"export {letter}")
    [csv] = [r.attachment for r in exported if isinstance(r, Private) and r.attachment]
    assert b"secretpledger" not in csv.content and b"ann" in csv.content
    assert "secretpledger" not in seen and "ann" in seen
    await bot.say("olga", f'remind {letter} in 1 hour "Sign it" to signers')
    fired = await later(bot, hours=1, minutes=1)
    assert {r.user.id for r in fired if isinstance(r, Private)} == {"ann"}
    assert "secretpledger" not in caplog.text
    db = bot.app.config.database_path
    assert b"secretpledger" not in db_bytes(db)
    waiting = [r["waiting"] for r in table_rows(db, "signatures")]
    assert sorted(waiting, key=str) == [40, None], "only its sealed row, and its condition"


async def test_a_counted_pledge_keeps_its_condition_sealed_not_in_the_clear(bot: Bot) -> None:
    letter = await bot.new("olga")
    await bot.say("ann", f"sign {letter}")
    await bot.say("ben", f"sign {letter} if 2")
    db = bot.app.config.database_path
    assert [r["waiting"] for r in table_rows(db, "signatures")] == [None, None]
    [row] = table_rows(db, "letters")
    assert row["counted"] == 2 and row["pledged"] == 0
    assert isinstance(row["pledge_max"], bytes) and row["pledge_max"] != b"2"


async def test_sealed_letters_count_only_pledges_that_count_toward_their_threshold(
        bot: Bot) -> None:
    letter = await bot.new("olga", "visibility sealed threshold 3")
    await bot.say("ann", f"sign {letter}")
    await bot.say("ben", f"sign {letter}")
    await bot.say("cat", f"sign {letter} if 4")
    assert "is sealed" in privately(await bot.say("olga", f"signers {letter}"), "olga")
    await bot.say("dan", f"sign {letter}")
    shown = privately(await bot.say("olga", f"signers {letter}"), "olga")
    assert all(w in shown for w in ("ann", "ben", "cat", "dan"))


@pytest.mark.parametrize("line, problem", [
    ("sign L1 if 0", "from 2 to 100,000"),
    ("sign L1 if 1000000", "from 2 to 100,000"),
    ("sign L1 if abc", "from 2 to 100,000"),
    ("sign L1 if", "from 2 to 100,000"),
    ("sign L1 if -3", "from 2 to 100,000"),
    ("sign L1 if 5 extra", "did not expect"),
])
async def test_a_bad_pledge_is_refused_clearly_and_changes_nothing(
        bot: Bot, line: str, problem: str) -> None:
    await bot.new("olga")
    said = privately(await bot.say("ann", line), "ann")
    assert problem in said and "Usage:" in said and "sign L<n> [if N]" in said
    async with bot.app.store.transaction() as tx:
        assert await tx.count(1) == 0
    assert table_rows(bot.app.config.database_path, "signatures") == []


async def test_a_pledge_typed_in_a_room_is_not_acted_on_even_on_a_public_letter(
        bot: Bot) -> None:
    letter = await bot.new("olga", "visibility public")
    replies = await bot.say("ann", f"sign {letter} if 5", platform="matrix", room="!r:x",
                            seen_by_room=True)
    assert "not counted" in privately(replies, "ann")
    assert table_rows(bot.app.config.database_path, "signatures") == []


async def test_changing_the_condition_and_signing_plainly_keeps_or_drops_it(bot: Bot) -> None:
    letter = await bot.new("olga")
    await bot.say("ann", f"sign {letter} if 5")
    again = privately(await bot.say("ann", f"sign {letter}"), "ann")
    assert "already pledged to sign once 5" in again
    dropped = privately(await bot.say("ann", f"sign {letter} if 1"), "ann")
    assert "Done: you signed" in dropped
    assert "Count: 1 signature" in privately(await bot.say("olga", f"status {letter}"), "olga")


async def test_a_schema_6_database_gains_pledges_in_place_and_its_counts_are_kept(
        tmp_path: Path) -> None:
    """Migration 7: every existing signature counts; each letter's counted set is its
    current version's signatures."""
    db = tmp_path / "undersign.db"
    sealer = Sealer(new_key())
    conn = await database_at(db, sealer, 6)
    await conn.execute("INSERT INTO letters (id, title, visibility, created_at, version)"
                       " VALUES (1, 'Old letter', 'count', '2026-11-01T09:00:00Z', 2)")
    for who, version in (("pat", 2), ("quinn", 2), ("rosa", 1)):
        index = sealer.person_index("signatures", 1, f"console:{who}")
        payload = f'{{"who":"console:{who}","at":"2026-11-02T10:11:12Z"}}'
        await conn.execute(
            "INSERT INTO signatures (letter_id, who_index, who_sealed, version)"
            " VALUES (1, ?, ?, ?)",
            (index, sealer.seal(payload, binding("signatures", 1, index)), version))
    await conn.commit()
    await conn.close()
    db.chmod(0o600)
    store = await Store.open(db, sealer)
    try:
        async with store.transaction() as tx:
            assert await tx.count(1) == 2
            assert [s.user.id for s in await tx.signatures(1)] == ["pat", "quinn", "rosa"]
            letter = await tx.letter(1)
            assert letter is not None and (letter.pledged, letter.only) == (0, ())
    finally:
        await store.close()
    raw = sqlite3.connect(db)
    assert raw.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    raw.close()


def test_on_the_console_pledges_cross_the_line_and_a_close_destroys_the_rest(
        tmp_path: Path) -> None:
    done = run_console(tmp_path, [
        'olga> /undersign new "Pledged letter"',
        "ann> /undersign sign L1 if 3",
        "ben> /undersign sign L1 if 3",
        "olga> /undersign signers L1",
        "cat> /undersign sign L1 if 3",
        "dan> /undersign sign L1 if 50",
        "olga> /undersign signers L1",
        "olga> /undersign close L1",
    ], key=TEST_KEY)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "[to olga] Nobody has signed L1 yet." in out
    assert "[to ann] Your pledge on L1 Pledged letter now counts: 3 have signed." in out
    assert "[to cat] You pledged to sign once 3 people" in out and "Your pledge counts" in out
    assert not [line for line in out.splitlines() if line.startswith("[to olga]")
                and "dan" in line]
    assert "1 pledge was still waiting for their condition: destroyed unseen" in out
