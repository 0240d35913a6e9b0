"""The whole bot on Matrix (App, core, SQLite, the adapter) against a real Synapse of the
fault tests' own: a sync replayed after a restart, and the homeserver down for 20 s."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from adapters.matrix import SYNC_POSITION, MatrixAdapter
from bot.app import App
from bot.config import BotConfig, Config, MatrixConfig
from tests.support.homeserver import Synapse
from tests.support.matrix_people import Person, content, gathering

pytestmark = [pytest.mark.faults, pytest.mark.matrix]

OUTAGE_SECONDS = 20


def notices(person: Person, text: str) -> list[dict[str, Any]]:
    """Bot notices the person saw containing ``text`` (an edit counts by its new body)."""
    found = []
    for src in person.events:
        c = content(src)
        body = str(c.get("m.new_content", c).get("body", ""))
        if c.get("msgtype") == "m.notice" and text in body:
            found.append(src)
    return found


class Undersign:
    """The bot, startable again on the same database, store and account."""

    def __init__(self, hs: Synapse, folder: Path, env: pytest.MonkeyPatch) -> None:
        name = f"undersign{int(time.time() * 1000) % 10**9}"
        account = hs.login(name, hs.register(name).password, "UNDERSIGN")
        env.setenv("MATRIX_ACCESS_TOKEN", account.access_token)
        self.id = account.user_id
        self.config = Config(
            bot=BotConfig(database=str(folder / "undersign.db")),
            matrix=MatrixConfig(enabled=True, homeserver=hs.url, user_id=account.user_id,
                                e2ee=False, store_path=str(folder / "matrix-store")),
            base_dir=folder,
        )
        self.app: App | None = None

    async def start(self, since: str | None = None) -> App:
        app = App(self.config)
        await app.open()
        if since is not None:
            await app.store.set_state(SYNC_POSITION, since)
        app.build_adapters()
        for adapter in app.adapters.values():
            await adapter.start(app.handle)
        self.app = app
        return app

    async def stop(self) -> None:
        if self.app is not None:
            await self.app.close()
            self.app = None

    @property
    def adapter(self) -> MatrixAdapter:
        assert self.app is not None
        adapter = self.app.adapters["matrix"]
        assert isinstance(adapter, MatrixAdapter)
        return adapter

    async def position(self) -> str:
        assert self.app is not None
        value = await self.app.store.get_state(SYNC_POSITION)
        assert value is not None
        return value

    async def count(self) -> int:
        assert self.app is not None
        async with self.app.store.transaction() as tx:
            return await tx.count(1)


@pytest.fixture
async def undersign(own_synapse: Synapse, tmp_path: Path,
                    monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Undersign]:
    bot = Undersign(own_synapse, tmp_path, monkeypatch)
    await bot.start()
    yield bot
    await bot.stop()


MakePerson = Callable[[str], Awaitable[Person]]


@pytest.fixture
async def people(own_synapse: Synapse) -> AsyncIterator[MakePerson]:
    async with gathering(own_synapse, None) as make:
        yield make


async def letter_room(undersign: Undersign, alice: Person, *others: Person) -> tuple[str, str]:
    """A room with the bot and everybody in it, and a public letter L1 announced there."""
    room = await alice.create_room([undersign.id, *(p.id for p in others)])
    for person in (alice, *others):
        await person.joined(undersign.id, room, within=15)
    await alice.say(room, '!undersign new "Replay" visibility public')
    post = await alice.wait_for(lambda s: bool(notices_of(s, "Visibility:")), within=15,
                                what="announcement")
    return room, post["event_id"]


def notices_of(src: dict[str, Any], text: str) -> bool:
    c = content(src)
    return c.get("msgtype") == "m.notice" and text in str(c.get("body", ""))


async def test_a_replayed_matrix_sync_counts_nothing_twice_and_answers_nothing_twice(
    undersign: Undersign, people: MakePerson
) -> None:
    alice, bob, carol = await people("alice"), await people("bob"), await people("carol")
    room, announcement = await letter_room(undersign, alice, bob, carol)
    older = await undersign.position()  # a sync position from before anybody signed
    await bob.say(room, "!undersign sign L1")
    await carol.react(room, announcement, "✍️")
    await bob.wait_for(lambda s: notices_of(s, "You signed L1"), within=15, what="bob signed")
    await carol.wait_for(lambda s: notices_of(s, "You signed L1"), within=15, what="carol signed")
    await alice.wait_for(lambda s: "So far: 2 signatures" in str(
        content(s).get("m.new_content", {}).get("body", "")), within=15, what="count 2")

    await undersign.stop()
    await undersign.start(since=older)  # the restart replays both sign-ons from the server
    await alice.say(room, "!undersign status L1")  # after the replay in the same timeline
    await alice.wait_for(lambda s: notices_of(s, "2 signatures") and s["room_id"] != room,
                         within=20, what="status")
    await asyncio.sleep(1)  # anything sent twice would have arrived by now

    assert await undersign.count() == 2
    for person in (bob, carol):
        assert len(notices(person, "You signed L1")) == 1, person.id
        assert not notices(person, "already signed"), person.id
    edits = [s for s in alice.events if s["room_id"] == room
             and content(s).get("m.relates_to", {}).get("rel_type") == "m.replace"]
    assert len(edits) == 2, "one count edit per signature, none for the replay"


async def test_synapse_down_for_20_seconds_the_bot_recovers_and_handles_each_event_once(
    undersign: Undersign, people: MakePerson, own_synapse: Synapse
) -> None:
    alice, bob = await people("alice"), await people("bob")
    room, _ = await letter_room(undersign, alice, bob)
    stopped = time.monotonic()
    await asyncio.to_thread(own_synapse.stop)  # SIGTERM
    await asyncio.sleep(OUTAGE_SECONDS)
    await asyncio.to_thread(own_synapse.start)  # same port, same database
    back = time.monotonic()
    # Sent while the bot is still backing off: it must pick it up on its own, once.
    await bob.say(room, "!undersign sign L1")
    await bob.wait_for(lambda s: notices_of(s, "You signed L1"), within=45, what="bob signed")
    recovered = time.monotonic()
    await alice.say(room, "!undersign status L1")
    await alice.wait_for(lambda s: notices_of(s, "1 signature") and s["room_id"] != room,
                         within=20, what="status")
    assert await undersign.count() == 1
    assert len(notices(bob, "You signed L1")) == 1
    print(f"outage {back - stopped:.1f} s; the bot answered {recovered - back:.1f} s after "
          "the homeserver was back")
