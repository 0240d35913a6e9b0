"""The whole bot on Matrix (App, core, SQLite, the adapter) against a real Synapse of the
fault tests' own: a sync replayed after a restart, and the homeserver down for 20 s."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from tests.support.homeserver import Synapse
from tests.support.matrix_bot import Undersign
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


@pytest.fixture
async def undersign(own_synapse: Synapse, tmp_path: Path,
                    monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Undersign]:
    bot = Undersign(own_synapse, tmp_path, monkeypatch, e2ee=False)
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
