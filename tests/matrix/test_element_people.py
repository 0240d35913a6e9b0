"""The bot as people on Element's own stack see it: matrix-js-sdk with its Rust crypto,
devices cross-signed at login, and "exclude insecure devices" on (tests/js/person.mjs).
The bot runs with its defaults: E2EE on, trust = "cross-signed"."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.support.homeserver import Synapse
from tests.support.js_people import JsPeople, JsPerson, SeenEvent
from tests.support.matrix_bot import Undersign

pytestmark = pytest.mark.matrix


@pytest.fixture
async def undersign(
    synapse: Synapse, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Undersign]:
    bot = Undersign(synapse, tmp_path, monkeypatch)
    async with bot.running():
        yield bot


async def from_bot(person: JsPerson, bot: Undersign, contains: str, *,
                   room_id: str | None = None, after: str | None = None,
                   within: float = 20) -> SeenEvent:
    """The first event from the bot (after the event ``after``) whose clear body has
    ``contains``: it must have been encrypted, decrypted, and shown without a shield."""
    seen = await person.wait_for(sender=bot.id, contains=contains, room_id=room_id,
                                 after=after, within=within)
    assert seen["encrypted"] and seen["decryption_error"] is None, seen
    assert seen["shield"]["colour"] == "none", seen["shield"]
    return seen


async def test_elements_people_use_every_matrix_feature_with_no_shield(
    undersign: Undersign, js_people: JsPeople
) -> None:
    alice, bob = await js_people("alice"), await js_people("bob")
    room = await alice.create_room([undersign.id, bob.id], encrypted=True)
    await alice.wait_joined(room, undersign.id)
    await bob.wait_joined(room, bob.id)
    await alice.say(room, "!undersign help")
    await from_bot(alice, undersign, "Undersign collects co-signers")
    await alice.say(room, '!undersign new "Open letter" visibility public')
    post = await from_bot(alice, undersign, "Visibility:", room_id=room)
    await from_bot(bob, undersign, "Visibility:", room_id=room)
    # bob signs in a direct room he made, and is answered there
    dm = await bob.create_room([undersign.id], encrypted=True, direct=True)
    await bob.wait_joined(dm, undersign.id)
    await bob.say(dm, "!undersign sign L1")
    await from_bot(bob, undersign, "You signed L1", room_id=dm)
    # alice signs the public letter by reaction (Element sends reactions in the clear)
    reaction = await alice.react(room, post["event_id"], "✍️")
    assert not (await bob.wait_for(sender=alice.id, room_id=room, after=post["event_id"],
                                   contains=None, kind="m.reaction"))["encrypted"]
    await from_bot(alice, undersign, "You signed L1")
    await from_bot(bob, undersign, "So far: 2 signatures", room_id=room)
    await alice.redact(room, reaction)
    await from_bot(bob, undersign, "So far: 1 signature", room_id=room)
    for person in (alice, bob):
        said = [seen for seen in await person.events()
                if seen["sender"] == undersign.id and seen["type"] == "m.room.message"]
        assert said, f"{person.id} saw nothing from the bot"
        for seen in said:  # every message in these encrypted rooms: read, and no shield
            assert seen["encrypted"] and seen["decryption_error"] is None, seen
            assert seen["shield"]["colour"] == "none", seen
    signers = undersign.adapter.screen.undecryptable
    assert not signers, f"the bot set aside events: {dict(signers)}"


async def test_a_device_added_without_its_owners_signature_reads_nothing_from_the_bot(
    undersign: Undersign, js_people: JsPeople
) -> None:
    alice = await js_people("alice")
    # As a homeserver admin could: a new device on alice's account, never cross-signed.
    added = await js_people.another_device(alice, isolation="all")
    dm = await alice.create_room([undersign.id], encrypted=True, direct=True)
    await alice.wait_joined(dm, undersign.id)
    await added.wait_joined(dm, alice.id)
    await alice.say(dm, "!undersign help")
    reply = await from_bot(alice, undersign, "Undersign collects co-signers", room_id=dm)
    unread = await added.wait_for(sender=undersign.id, room_id=dm, undecryptable=True)
    assert unread["event_id"] == reply["event_id"], "the bot gave the added device no key"
    # What the added device sends is not acted on, and alice is told on her own devices.
    await added.say(dm, "!undersign forget-me")
    warning = await from_bot(alice, undersign, "did not act on it", room_id=dm)
    hidden = await added.wait_for(sender=undersign.id, room_id=dm, undecryptable=True,
                                  after=reply["event_id"])
    assert hidden["event_id"] == warning["event_id"]
    from_the_bot = [e for e in await added.events()
                    if e["sender"] == undersign.id and e["type"] == "m.room.message"]
    assert from_the_bot and all(e["decryption_error"] for e in from_the_bot), from_the_bot
    assert undersign.adapter.screen.undecryptable[
        "sent from a device its owner has not signed"] == 1


async def test_element_sees_one_identity_across_a_restart_a_lost_store_and_a_new_device(
    synapse: Synapse, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, js_people: JsPeople
) -> None:
    alice = await js_people("alice")
    bot = Undersign(synapse, tmp_path, monkeypatch)
    async with bot.running():
        dm = await alice.create_room([bot.id], encrypted=True, direct=True)
        await alice.wait_joined(dm, bot.id)
        await alice.say(dm, "!undersign help")
        await from_bot(alice, bot, "Undersign collects co-signers", room_id=dm)
    master = await alice.user_master_key(bot.id)
    assert master is not None
    ends = [("a restart", "UNDERSIGN"), ("a lost store and a new device", "UNDERSIGN3")]
    for after, device in ends:
        if device != "UNDERSIGN":
            (tmp_path / "matrix-store").rename(tmp_path / "lost")
            bot.new_device(device)
        async with bot.running():
            sent = await alice.say(dm, "!undersign help")
            await from_bot(alice, bot, "Undersign collects co-signers", room_id=dm,
                           after=sent)
        assert await alice.user_master_key(bot.id) == master, f"a new identity after {after}"
        status = await alice.device_status(bot.id, device)
        assert status is not None and status["signed_by_owner"], (after, status)
        assert not (await alice.user_status(bot.id))["needs_user_approval"], after


async def test_a_command_typed_in_a_second_direct_room_is_answered_there(
    undersign: Undersign, js_people: JsPeople
) -> None:
    alice = await js_people("alice")
    rooms = []
    for _ in range(2):
        dm = await alice.create_room([undersign.id], encrypted=True, direct=True)
        await alice.wait_joined(dm, undersign.id)
        rooms.append(dm)
    for dm in [rooms[0], rooms[1], rooms[0]]:
        sent = await alice.say(dm, "!undersign status L9")
        answer = await from_bot(alice, undersign, "L9", after=sent)
        assert answer["room_id"] == dm, "answered in another direct room"
