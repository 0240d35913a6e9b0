"""Who may sign, and conditional pledges, on a real Synapse: a user of a server that may
not sign is refused privately and stored nowhere; pledges cross the line together and
their pledgers are told in their direct rooms."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.matrix.test_end_to_end import announce, body_has, joined
from tests.support.homeserver import Synapse
from tests.support.matrix_bot import Undersign
from tests.support.matrix_people import Person, content
from tests.support.storage import table_rows

pytestmark = pytest.mark.matrix


@pytest.fixture
async def undersign(
    synapse: Synapse, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Undersign]:
    # Only users of another server may sign: the test Synapse's own users play the
    # people "of another server" (a single test homeserver has no federation).
    bot = Undersign(synapse, tmp_path, monkeypatch, trust="all",
                    signer_servers=["elsewhere.example"])
    await bot.start()
    try:
        yield bot
    finally:
        await bot.stop()


async def test_a_user_of_a_server_that_may_not_sign_is_refused_and_stored_nowhere(
    undersign: Undersign, people: Any
) -> None:
    alice: Person = await people("alice")
    bob: Person = await people("bob", e2ee=True)
    room = await alice.create_room([undersign.id])
    await joined(alice, undersign.id, room)
    _, letter = await announce(alice, room, '!undersign new "Outside letter"')
    dm = await bob.room_with(undersign.id, direct=True)
    await bob.say(dm, f"!undersign sign {letter} if 2")
    refused = await bob.wait_for(body_has("may sign letters with this bot"), within=20,
                                 what="refusal")
    assert "Only people on elsewhere.example" in content(refused)["body"]
    assert "Nothing about you was stored" in content(refused)["body"]
    assert table_rows(undersign.config.database_path, "signatures") == []


async def test_pledges_cross_the_line_on_matrix_and_the_pledger_is_told_in_private(
    synapse: Synapse, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, people: Any
) -> None:
    bot = Undersign(synapse, tmp_path, monkeypatch, trust="all")
    await bot.start()
    try:
        alice: Person = await people("alice")
        bob: Person = await people("bob", e2ee=True)
        carol: Person = await people("carol", e2ee=True)
        room = await alice.create_room([bot.id])
        await joined(alice, bot.id, room)
        _, letter = await announce(alice, room, f'!undersign new "Pledge letter" only '
                                                f'{bot.id.partition(":")[2]}')
        bob_dm = await bob.room_with(bot.id, direct=True)
        await bob.say(bob_dm, f"!undersign sign {letter} if 2")
        await bob.wait_for(body_has("does not count yet"), within=20, what="pledged")
        carol_dm = await carol.room_with(bot.id, direct=True)
        await carol.say(carol_dm, f"!undersign sign {letter}")
        await carol.wait_for(body_has(f"You signed {letter}"), within=20,
                             what="signed")
        told = await bob.wait_for(body_has(f"Your pledge on {letter}"), within=20, what="told")
        assert "now counts: 2 have signed" in content(told)["body"]
        assert told["room_id"] != room
    finally:
        await bot.stop()
