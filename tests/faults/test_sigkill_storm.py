"""SIGKILL during a storm of sign-ons arriving by the console and by Slack.

Two real `undersign run` processes share one database file: one on the console, fed by a
pipe, and one running the Slack adapter in HTTP mode, fed signed slash commands and
answering through the fake Web API. Twenty times both are killed with SIGKILL while
sign-ons are still arriving. After each kill the store is read: every signature whose
confirmation was seen (printed, or sent to the fake) is there, and the count is the
number of distinct signers. People who saw no confirmation sign again in the next round,
as people would; nobody is ever told "You signed" twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import random
from collections import Counter
from pathlib import Path

import aiohttp
import pytest

from bot.seal import Sealer, load_key
from bot.store import Store
from tests.support.fake_slack import BOT_TOKEN, FakeSlack
from tests.support.processes import BotProcess, environment, free_port, wait_listening
from tests.support.slack import FORM, SECRET, post_signed_to, slash_body

pytestmark = [pytest.mark.faults, pytest.mark.slow]

KILLS = 20
ROOM = "C0STORM001"


async def signers(db: Path) -> tuple[set[str], int]:
    """Who the store says signed L1, as platform keys, and the count it gives."""
    store = await Store.open(db, Sealer(load_key(db)))
    try:
        async with store.transaction() as tx:
            found = await tx.signatures(1)
            count = await tx.count(1)
    finally:
        await store.close()
    return {s.user.key for s in found}, count


class Storm:
    def __init__(self, folder: Path, fake: FakeSlack) -> None:
        self.folder = folder
        self.fake = fake
        self.db = folder / "undersign.db"
        self.port = free_port()
        (folder / "console.toml").write_text('[bot]\ndatabase = "undersign.db"\n')
        (folder / "slack.toml").write_text(
            '[bot]\ndatabase = "undersign.db"\n'
            f'[slack]\nenabled = true\nmode = "http"\nhttp_port = {self.port}\n'
            f'api_base_url = "{fake.base_url}"\n'
        )
        self.env = environment(SLACK_BOT_TOKEN=BOT_TOKEN, SLACK_SIGNING_SECRET=SECRET)
        self.names = itertools.count(1)
        self.triggers = itertools.count(1)
        self.unconfirmed: list[str] = []  # keys who signed and were told nothing (yet)
        self.told: Counter[str] = Counter()  # "You signed" per key, over every round
        self.already: set[str] = set()  # told "You have already signed": a signature seen
        self.console_seen = 0
        self.slack_seen = 0

    def confirmed(self) -> set[str]:
        return set(self.told) | self.already

    def _note(self, key: str, text: str) -> int:
        if text.startswith("You signed L1"):
            self.told[key] += 1
            return 1
        if text.startswith("You have already signed L1"):
            self.already.add(key)
            return 1
        return 0

    def _collect(self, console: BotProcess) -> tuple[int, int]:
        """New confirmations seen since the last call: (on the console, on Slack)."""
        on_console = on_slack = 0
        for line in console.lines[self.console_seen:]:
            if line.startswith("[to ") and "] " in line:
                head, _, text = line.partition("] ")
                on_console += self._note("console:" + head[4:], text)
        self.console_seen = len(console.lines)
        calls = self.fake.calls_to("chat.postEphemeral")
        for call in calls[self.slack_seen:]:
            on_slack += self._note("slack:" + str(call.params["user"]), call.text)
        self.slack_seen = len(calls)
        return on_console, on_slack

    async def _slack_sign(self, users: list[str]) -> None:
        for user in users:
            body = slash_body("sign L1", user=user, channel=ROOM,
                              trigger=f"77.{next(self.triggers)}.storm")
            try:
                await post_signed_to(self.port, body, FORM)
            except (aiohttp.ClientError, OSError, TimeoutError):
                return  # the bot was killed mid-request
            await asyncio.sleep(0.01)

    async def _console_sign(self, console: BotProcess, users: list[str]) -> None:
        for user in users:
            with contextlib.suppress(OSError):
                console.type(f"{user}> /undersign sign L1")
            await asyncio.sleep(0.01)

    async def round(self, rng: random.Random) -> tuple[int, int]:
        """Start both bots, storm them, kill both once each side confirmed some sign-ons.
        Returns (confirmations seen this round, sign-ons still unanswered at the kill)."""
        console, slack = await asyncio.gather(
            BotProcess.start(self.folder / "console.toml", self.env),
            BotProcess.start(self.folder / "slack.toml", self.env),
        )
        await wait_listening(self.port)
        again, self.unconfirmed = self.unconfirmed, []
        wave = again + [f"console:c{next(self.names)}" for _ in range(60)]
        wave += [f"slack:U0S{next(self.names):07d}" for _ in range(60)]
        rng.shuffle(wave)
        by_console = [k.split(":")[1] for k in wave if k.startswith("console:")]
        by_slack = [k.split(":")[1] for k in wave if k.startswith("slack:")]
        senders = [asyncio.create_task(self._console_sign(console, by_console))]
        senders += [asyncio.create_task(self._slack_sign(by_slack[i::4])) for i in range(4)]
        target = rng.randint(1, 10)
        seen = [0, 0]
        try:
            async with asyncio.timeout(20):
                while min(seen) < target:
                    await asyncio.sleep(0.002)
                    more = self._collect(console)
                    seen = [seen[0] + more[0], seen[1] + more[1]]
        finally:
            await asyncio.gather(console.kill(), slack.kill())
            for sender in senders:
                sender.cancel()
            await asyncio.gather(*senders, return_exceptions=True)
        more = self._collect(console)
        self.unconfirmed = [k for k in wave if k not in self.confirmed()]
        return sum(seen) + sum(more), len(self.unconfirmed)


async def test_twenty_sigkills_mid_storm_lose_no_confirmed_signature_and_count_none_twice(
    tmp_path: Path, fake: FakeSlack
) -> None:
    storm = Storm(tmp_path, fake)
    first = await BotProcess.start(tmp_path / "console.toml", storm.env)
    first.type('alice> /undersign new "Storm" visibility count')
    await first.wait_for("[to alice] ")
    await first.end()

    rng = random.Random(7)
    cut_short = 0
    for kill in range(1, KILLS + 1):
        seen, unanswered = await storm.round(rng)
        present, count = await signers(storm.db)
        lost = storm.confirmed() - present
        assert not lost, f"kill {kill}: confirmed but not in the store: {sorted(lost)}"
        assert present <= storm.confirmed() | set(storm.unconfirmed), "nobody signed unasked"
        assert count == len(present)
        twice = [k for k, n in storm.told.items() if n > 1]
        assert not twice, f"kill {kill}: told 'You signed' twice: {twice}"
        cut_short += unanswered > 0 and seen > 0

    assert cut_short >= KILLS // 2, "the kills landed mid-storm, with sign-ons unanswered"
    # A clean run at the end: the count the bot gives is the number of distinct signers.
    present, count = await signers(storm.db)
    last = await BotProcess.start(tmp_path / "console.toml", storm.env)
    last.type("alice> /undersign status L1")
    status = await last.wait_for("[to alice] ")
    stderr = await last.end()
    assert f"{count} signature" in "\n".join(last.lines), (status, last.lines)
    assert "Traceback" not in stderr, stderr
    assert len(storm.confirmed()) > 200
