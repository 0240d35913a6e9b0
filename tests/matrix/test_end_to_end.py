"""Undersign itself (App, core, store, Matrix adapter) against a real Synapse."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from nio import LocalProtocolError

from adapters.matrix import MatrixAdapter
from bot.events import Post, Redact, Room
from tests.support.homeserver import Synapse
from tests.support.matrix_bot import Undersign
from tests.support.matrix_people import Person, content

pytestmark = pytest.mark.matrix




@pytest.fixture
async def undersign(
    synapse: Synapse, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Undersign]:
    # nio people have no cross-signing: trust on first use (test_cross_signing.py has the default)
    bot = Undersign(synapse, tmp_path, monkeypatch, trust="all")
    await bot.start()
    try:
        yield bot
    finally:
        await bot.stop()


async def joined(person: Person, bot_id: str, room: str) -> None:
    await person.joined(bot_id, room)


def body_has(text: str, room: str | None = None, *, not_in: str | None = None) -> Any:
    def pred(s: dict[str, Any]) -> bool:
        c = content(s)
        body = str(c.get("m.new_content", c).get("body", ""))
        return (
            c.get("msgtype") == "m.notice"
            and text in body
            and (room is None or s["room_id"] == room)
            and (not_in is None or s["room_id"] != not_in)
        )

    return pred


async def announce(alice: Person, room: str, command: str) -> tuple[str, str]:
    await alice.say(room, command)
    post = await alice.wait_for(body_has("Visibility:", room), within=15, what="announcement")
    ref = re.search(r"L\d+", content(post)["body"])
    assert ref
    return post["event_id"], ref.group(0)


async def test_a_public_letter_is_signed_by_reaction_and_withdrawn_by_redaction(
    undersign: Undersign, people: Any
) -> None:
    alice: Person = await people("alice", e2ee=True)
    room = await alice.create_room([undersign.id])
    await joined(alice, undersign.id, room)
    post, letter = await announce(
        alice, room, '!undersign new "Open @room <b>letter</b>" visibility public'
    )
    assert (
        "<b>letter"
        not in content(await alice.wait_for(lambda s: s["event_id"] == post))["formatted_body"]
    )
    reaction = await alice.react(room, post, "✍")  # no U+FE0F: still the sign emoji
    await alice.wait_for(
        body_has(f"You signed {letter}", not_in=room), within=15, what="private confirmation"
    )
    await alice.wait_for(body_has("So far: 1 signature", room), what="count edited to 1")
    await alice.redact(room, reaction)
    await alice.wait_for(body_has("So far: 0 signatures", room), what="count edited to 0")


def redaction_of(event_id: str) -> Any:
    return lambda s: (
        s.get("type") == "m.room.redaction"
        and event_id in (s.get("redacts"), content(s).get("redacts"))
    )


async def _quiet_letter(undersign: Undersign, people: Any) -> tuple[Person, Person, str, str, str]:
    """alice announces a count letter in an encrypted room with bob, where the bot may
    redact: alice, bob, the room, the announcement and the letter's id."""
    alice: Person = await people("alice", e2ee=True)
    bob: Person = await people("bob", e2ee=True)
    room = await alice.create_room([undersign.id, bob.id], bot_power=50)
    await joined(alice, undersign.id, room)
    post, letter = await announce(alice, room, '!undersign new "Quiet letter"')
    return alice, bob, room, post, letter


async def test_a_count_letter_is_signed_in_a_direct_room_and_in_room_signing_is_refused(
    undersign: Undersign, people: Any
) -> None:
    alice, bob, room, post, letter = await _quiet_letter(undersign, people)
    # bob reacts in the room: not counted, told privately, reaction redacted
    reaction = await bob.react(room, post, "✍️")
    hint = await bob.wait_for(body_has("was not counted", not_in=room), within=15, what="hint")
    assert hint["decrypted"]
    await bob.wait_for(redaction_of(reaction), what="reaction redacted")
    # bob signs in his direct room with the bot
    dm = hint["room_id"]
    await bob.say(dm, f"!undersign sign {letter}")
    done = await bob.wait_for(body_has(f"You signed {letter}", dm), within=15, what="confirm")
    assert done["decrypted"] and "Only the organizers" in content(done)["body"]
    # an edit of a command is not run again
    await bob.say(
        dm,
        f" * !undersign unsign {letter}",
        **{
            "m.new_content": {"msgtype": "m.text", "body": f"!undersign unsign {letter}"},
            "m.relates_to": {"rel_type": "m.replace", "event_id": done["event_id"]},
        },
    )
    await bob.say(dm, f"!undersign sign {letter}")
    await bob.wait_for(body_has(f"already signed {letter}", dm), what="still signed")
    # the organizer sees the name privately
    await alice.say(room, f"!undersign signers {letter}")
    names = await alice.wait_for(body_has(bob.id, not_in=room), within=15, what="signers")
    assert names["decrypted"]


async def test_in_room_unsign_and_forget_me_on_a_count_letter_are_hinted_and_redacted(
    undersign: Undersign, people: Any
) -> None:
    alice, bob, room, _, letter = await _quiet_letter(undersign, people)
    said = await bob.say(room, f"!undersign sign {letter}")
    hint = await bob.wait_for(body_has("was not counted", not_in=room), within=15, what="hint")
    await bob.wait_for(redaction_of(said), what="sign redacted")
    dm = hint["room_id"]
    await bob.say(dm, f"!undersign sign {letter}")
    await bob.wait_for(body_has(f"You signed {letter}", dm), within=15, what="signed")

    said = await bob.say(room, f"!undersign unsign {letter}")
    told = await bob.wait_for(body_has("not acted on", dm), within=15, what="unsign hint")
    assert told["decrypted"] and f"unsign {letter} in a direct message" in content(told)["body"]
    await bob.wait_for(redaction_of(said), within=15, what="unsign redacted")

    said = await bob.say(room, "!undersign forget-me")
    told = await bob.wait_for(body_has("Nothing was erased", dm), within=15, what="forget hint")
    assert told["decrypted"] and "forget-me in a direct message" in content(told)["body"]
    await bob.wait_for(redaction_of(said), within=15, what="forget-me redacted")

    await alice.say(room, f"!undersign signers {letter}")
    names = await alice.wait_for(body_has(bob.id, not_in=room), within=15, what="signers")
    assert names["decrypted"], "bob is still a signer"
    assert not [s for s in bob.events + alice.events
                if s["room_id"] == room and "not acted on" in str(content(s).get("body"))]


async def test_the_database_file_names_no_matrix_user_id(undersign: Undersign, people: Any) -> None:
    alice: Person = await people("alice", e2ee=True)
    room = await alice.create_room([undersign.id])
    await joined(alice, undersign.id, room)
    _, letter = await announce(alice, room, '!undersign new "Letter" visibility public')
    await alice.say(room, f"!undersign sign {letter}")
    await alice.wait_for(body_has(f"You signed {letter}", not_in=room), within=15, what="ok")
    db = undersign.app.config.database_path
    files = [p for p in db.parent.iterdir() if p.name.startswith(db.name)]
    assert files
    raw = b"".join(p.read_bytes() for p in files)
    for user_id in (alice.id, undersign.id):
        for needle in (user_id, user_id.split(":")[0]):
            assert needle.encode() not in raw, f"{needle} in {[p.name for p in files]}"


async def _nio_fails_naming_the_room(
    undersign: Undersign, alice: Person, room: str, someone: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """nio calls, and the handler, fail with exceptions whose text names the room and a
    person, as nio's own do ("No such room with id !…"); the failures are logged."""
    adapter = undersign.app.adapters["matrix"]
    assert isinstance(adapter, MatrixAdapter) and adapter.client is not None

    def naming(*_: Any, **__: Any) -> Any:
        raise LocalProtocolError(f"No such room with id {room} for {someone}")

    async def handler(_: Any) -> None:
        raise RuntimeError(f"handler failed in {room} for {someone}")

    client, handle = adapter.client, adapter._handle
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(client, "room_send", naming)
        mp.setattr(client, "room_redact", naming)
        assert await adapter.send(Post(Room("matrix", room), ("hello",))) is None
        assert await adapter.send(Redact(Room("matrix", room), "$gone")) is None
        mp.setattr(adapter, "_handle", handler)
        await alice.say(room, "!undersign help")
        for _ in range(100):
            if any("the handler failed" in r.getMessage() for r in caplog.records):
                break
            await asyncio.sleep(0.1)
    assert adapter._handle is handle
    failures = [r.getMessage() for r in caplog.records if r.name == "undersign.matrix"]
    assert any("could not send a Post (LocalProtocolError)" in m for m in failures), failures
    assert any("could not send a Redact (LocalProtocolError)" in m for m in failures), failures
    assert any("the handler failed on a Command (RuntimeError)" in m for m in failures), failures


async def test_logs_name_nobody_in_a_matrix_scenario_even_at_debug(
    undersign: Undersign, people: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """As `undersign run --debug` logs: libraries at INFO, Undersign's own loggers at DEBUG."""
    caplog.set_level(logging.INFO)
    for ours in ("undersign", "bot", "adapters", "commands"):
        caplog.set_level(logging.DEBUG, logger=ours)
    alice: Person = await people("alice", e2ee=True)
    bob: Person = await people("bob", e2ee=True)
    room = await alice.create_room([undersign.id, bob.id], bot_power=50)
    await joined(alice, undersign.id, room)
    post, letter = await announce(
        alice, room, '!undersign new "Secret Title Mq" link https://example.org/hidden-mq '
        "visibility public")
    reaction = await bob.react(room, post, "✍️")
    await bob.wait_for(body_has(f"You signed {letter}", not_in=room), within=15, what="signed")
    await bob.redact(room, reaction)
    await alice.wait_for(body_has("So far: 0 signatures", room), what="withdrawn")
    await alice.say(room, f'!undersign remind {letter} in 2 hours "Reminder text Mq"')
    await alice.say(room, f"!undersign review {letter} in 3 days note 'Review note Mq'")
    await alice.say(room, f"!undersign signers {letter}")
    await alice.say(room, "!undersign sign L99")
    await alice.say(room, f"!undersign close {letter}")
    await alice.wait_for(body_has("closed", not_in=room), within=15, what="final list")
    await _nio_fails_naming_the_room(undersign, alice, room, bob.id, caplog)
    assert caplog.records, "the scenario logged something"
    secrets = ["Secret Title Mq", "hidden-mq", "Reminder text Mq", "Review note Mq", room]
    for person in (alice, bob):
        secrets += [person.id, person.id.split(":")[0]]
    formatter = logging.Formatter("%(message)s")
    for record in caplog.records:
        logged = formatter.format(record)  # with the traceback, had one been attached
        for secret in secrets:
            assert secret not in logged, f"{secret!r} logged by {record.name}: {logged}"


async def test_the_signature_block_names_matrix_signers_by_their_profile_display_name(
    undersign: Undersign, people: Any
) -> None:
    alice: Person = await people("alice", e2ee=True)
    bob: Person = await people("bob", e2ee=True)
    carol: Person = await people("carol", e2ee=True)
    room = await alice.create_room([undersign.id])
    await joined(alice, undersign.id, room)
    _, letter = await announce(alice, room, '!undersign new "Block letter"')
    await bob.client.set_displayname("Bob Builder")
    for person, line in ((bob, ""), (carol, ' as "Carol Chen, Steward"')):
        dm = await person.room_with(undersign.id, direct=True)
        await person.say(dm, f"!undersign sign {letter}{line}")
        await person.wait_for(body_has(f"You signed {letter}"), within=20, what="signed")

    async def block(after: str) -> str:
        await alice.say(room, f"!undersign final {letter}")
        found = await alice.wait_for(
            lambda s: body_has("Signed by 2:", not_in=room)(s) and after in content(s)["body"],
            within=15, what="signature block")
        return str(content(found)["body"])

    assert "Signed by 2:\nBob Builder\nCarol Chen, Steward" in await block("Bob Builder")
    await bob.client.set_displayname("Robert Builder")  # renamed since: the block follows
    assert "Carol Chen, Steward\nRobert Builder" in await block("Robert Builder")
    assert undersign.app is not None
    await undersign.app.store.checkpoint()
    files = b"".join(p.read_bytes() for p in undersign.config.database_path.parent.glob(
        "undersign.db*") if p.is_file())
    for name in (b"Builder", b"Carol Chen", b"Steward"):
        assert name not in files
