"""The sync digest without a homeserver: sync responses of the shape Synapse sends, parsed
by nio, become neutral events, gaps to fetch and invitation decisions; a malformed
response is digested without raising."""

from __future__ import annotations

import asyncio
import copy
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from nio import SyncResponse

from adapters.matrix import MatrixAdapter
from adapters.matrix_digest import Gap, Invitation, SyncDigest, digest
from bot.config import BotConfig, MatrixConfig
from bot.events import Command, Reaction, Room, User
from tests.support.fuzzing import junk, mangled

BOT = "@undersign:example.org"
ALICE = "@alice:example.org"
ROOM = "!organising:example.org"
DM = "!dm:example.org"
INVITED = "!new:example.org"
FAR = "!far:elsewhere.net"


@dataclass
class Bot:
    """What the digest needs to know of the adapter (the Receiver protocol)."""

    config: MatrixConfig = field(
        default_factory=lambda: MatrixConfig(enabled=True, user_id=BOT))
    user_id: str = BOT
    direct_rooms: frozenset[str] = frozenset({DM})

    def neutral_room(self, room_id: str, thread: str | None = None) -> Room:
        return Room("matrix", room_id, thread, direct=room_id in self.direct_rooms)


def message(body: str, event_id: str, *, sender: str = ALICE, ts: int = 1_700_000_000_000,
            ) -> dict[str, Any]:
    return {"type": "m.room.message", "sender": sender, "event_id": event_id,
            "origin_server_ts": ts, "unsigned": {"age": 1234},
            "content": {"msgtype": "m.text", "body": body}}


REACTION = {"type": "m.reaction", "sender": ALICE, "event_id": "$reaction",
            "origin_server_ts": 1_700_000_000_100, "unsigned": {"age": 1000},
            "content": {"m.relates_to": {"rel_type": "m.annotation",
                                         "event_id": "$announcement", "key": "✍️"}}}
REDACTION = {"type": "m.room.redaction", "sender": ALICE, "event_id": "$redaction",
             "origin_server_ts": 1_700_000_000_200, "redacts": "$reaction",
             "unsigned": {"age": 900}, "content": {"redacts": "$reaction"}}
OWN_JOIN = {"type": "m.room.member", "sender": BOT, "state_key": BOT, "event_id": "$join",
            "origin_server_ts": 1_700_000_000_050,
            "content": {"membership": "join", "displayname": "undersign"},
            "unsigned": {"prev_content": {"membership": "invite"}, "age": 1100}}


def invite_state(inviter: str, *, direct: bool = False) -> dict[str, Any]:
    return {"events": [
        {"type": "m.room.create", "sender": inviter, "state_key": "",
         "content": {"creator": inviter, "room_version": "10"}},
        {"type": "m.room.join_rules", "sender": inviter, "state_key": "",
         "content": {"join_rule": "invite"}},
        {"type": "m.room.member", "sender": inviter, "state_key": inviter,
         "content": {"membership": "join", "displayname": "alice"}},
        {"type": "m.room.member", "sender": inviter, "state_key": BOT,
         "content": {"membership": "invite", "displayname": "undersign",
                     **({"is_direct": True} if direct else {})}},
    ]}


def joined(events: list[dict[str, Any]], *, limited: bool = False) -> dict[str, Any]:
    return {
        "timeline": {"events": events, "limited": limited, "prev_batch": "t34-23535_0_0"},
        "state": {"events": []},
        "ephemeral": {"events": []},
        "account_data": {"events": []},
        "unread_notifications": {"highlight_count": 0, "notification_count": 1},
        "summary": {"m.joined_member_count": 3, "m.invited_member_count": 0},
    }


def sync(join: dict[str, Any] | None = None, invite: dict[str, Any] | None = None,
         ) -> dict[str, Any]:
    """A /sync response body as Synapse sends it (v3, with our filter)."""
    return {
        "next_batch": "s72595_4483_1934",
        "account_data": {"events": []},
        "presence": {"events": []},
        "to_device": {"events": []},
        "device_lists": {"changed": [], "left": []},
        "device_one_time_keys_count": {"signed_curve25519": 50},
        "rooms": {"join": join or {}, "invite": invite or {}, "leave": {}},
    }


def parsed(body: dict[str, Any]) -> SyncResponse:
    resp = SyncResponse.from_dict(copy.deepcopy(body))
    assert isinstance(resp, SyncResponse), resp
    return resp


EVERYDAY = sync(
    join={ROOM: joined([
        message("!undersign sign L1", "$sign"),
        message("lunch, anyone?", "$chat"),
        message("!undersign status L1", "$own", sender=BOT),
        REACTION,
        REDACTION,
    ])},
    invite={INVITED: {"invite_state": invite_state(ALICE, direct=True)},
            FAR: {"invite_state": invite_state("@mallory:elsewhere.net")}},
)


def test_a_timeline_becomes_neutral_events_oldest_first() -> None:
    [room] = digest(parsed(EVERYDAY), Bot(), since="s1").rooms
    assert room.room_id == ROOM and room.gap is None
    sign, added, removed = room.events
    assert isinstance(sign, Command) and (sign.text, sign.event_id) == ("sign L1", "$sign")
    assert sign.user == User("matrix", ALICE) and sign.seen_by_room
    assert isinstance(added, Reaction) and (added.message_ref, added.added) == (
        "$announcement", True)
    assert isinstance(removed, Reaction) and (removed.reaction_ref, removed.added) == (
        "$reaction", False)


def test_invitations_are_accepted_or_declined_as_the_config_says() -> None:
    decisions = digest(parsed(EVERYDAY), Bot(), since="s1").invitations
    assert sorted(decisions, key=lambda i: i.room_id) == [
        Invitation(FAR, "@mallory:elsewhere.net", accept=False, direct=False),
        Invitation(INVITED, ALICE, accept=True, direct=True),
    ]


def test_an_invitation_of_somebody_else_asks_nothing() -> None:
    state = invite_state(ALICE)
    state["events"][-1]["state_key"] = "@bob:example.org"
    assert digest(parsed(sync(invite={INVITED: {"invite_state": state}})), Bot()) == SyncDigest()


def test_the_first_sync_of_a_first_start_counts_only_invitations() -> None:
    found = digest(parsed(EVERYDAY), Bot(), first=True)
    assert found.rooms == [] and len(found.invitations) == 2


def test_what_came_before_the_bots_own_join_is_history_and_asks_no_gap() -> None:
    body = sync(join={ROOM: joined([message("!undersign sign L1", "$old"), OWN_JOIN,
                                    message("!undersign sign L2", "$new")], limited=True)})
    [room] = digest(parsed(body), Bot(), since="s1").rooms
    assert [e.event_id for e in room.events] == ["$new"] and room.gap is None


def test_a_limited_timeline_asks_for_the_gap_since_the_previous_sync() -> None:
    body = sync(join={ROOM: joined([message("!undersign sign L1", "$sign")], limited=True)})
    [room] = digest(parsed(body), Bot(), since="s1").rooms
    assert room.gap == Gap(ROOM, "t34-23535_0_0", "s1")
    [room] = digest(parsed(body), Bot(), since=None).rooms
    assert room.gap is None, "nothing to fetch back to without a previous sync"


def test_a_gap_is_asked_for_even_when_the_timeline_says_nothing_for_the_bot() -> None:
    body = sync(join={ROOM: joined([message("lunch?", "$chat")], limited=True)})
    [room] = digest(parsed(body), Bot(), since="s1").rooms
    assert room.events == [] and room.gap is not None


def test_events_sent_before_a_first_start_are_history() -> None:
    body = sync(join={ROOM: joined([message("!undersign sign L1", "$before", ts=1_000),
                                    message("!undersign sign L2", "$after", ts=3_000)])})
    [room] = digest(parsed(body), Bot(), since="s1", history_before=2_000).rooms
    assert [e.event_id for e in room.events] == ["$after"]


def test_a_command_in_a_direct_room_is_not_seen_by_the_room() -> None:
    body = sync(join={DM: joined([message("!undersign list", "$list")])})
    [room] = digest(parsed(body), Bot(), since="s1").rooms
    [command] = room.events
    assert isinstance(command, Command) and command.room.direct and not command.seen_by_room


def test_a_room_with_nothing_for_the_bot_is_left_out() -> None:
    body = sync(join={ROOM: joined([message("lunch?", "$chat"), OWN_JOIN])})
    assert digest(parsed(body), Bot(), since="s1") == SyncDigest()


# --- fuzzing ----------------------------------------------------------------------------

FUZZ = settings(max_examples=300, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
TIMELINE = [message("!undersign sign L1", "$sign"), OWN_JOIN, REACTION, REDACTION]
INVITE = invite_state(ALICE, direct=True)["events"]


def events_of(templates: list[dict[str, Any]]) -> st.SearchStrategy[list[dict[str, Any]]]:
    """Events of these shapes: some intact, some mangled, beside junk."""
    one = st.one_of(st.sampled_from(templates), st.one_of(*[mangled(t) for t in templates],
                                                           junk))
    return st.lists(one, max_size=6).map(lambda es: [e for e in es if isinstance(e, dict)])


joined_rooms = st.one_of(
    st.builds(lambda es, last, limited: joined(es + last, limited=limited),
              events_of(TIMELINE), st.sampled_from([[], [TIMELINE[0]]]), st.booleans()),
    mangled(joined(TIMELINE, limited=True)),
)
invited_rooms = st.one_of(
    st.builds(lambda es, last: {"invite_state": {"events": es + last}},
              events_of(INVITE), st.sampled_from([[], [INVITE[-1]]])),
    mangled({"invite_state": {"events": INVITE}}),
)


@FUZZ
@given(join=joined_rooms, invite=invited_rooms, first=st.booleans(),
       since=st.one_of(st.none(), st.text()),
       history_before=st.integers(min_value=-(2**63), max_value=2**63))
def test_a_malformed_sync_response_is_digested_without_raising(
    join: Any, invite: Any, first: bool, since: str | None, history_before: int
) -> None:
    body = sync(join={ROOM: join} if isinstance(join, dict) else {},
                invite={INVITED: invite} if isinstance(invite, dict) else {})
    try:
        resp = SyncResponse.from_dict(copy.deepcopy(body))  # nio alters what it parses
    except Exception:
        return  # nio's parser, not the digest
    if not isinstance(resp, SyncResponse):
        return
    found = digest(resp, Bot(), first=first, since=since, history_before=history_before)
    assert all(isinstance(i, Invitation) and isinstance(i.accept, bool)
               for i in found.invitations)
    for room in found.rooms:
        assert all(isinstance(e, Command | Reaction) for e in room.events)
        assert room.gap is None or (room.gap.start and room.gap.since == since)


async def test_a_sync_response_nio_cannot_parse_does_not_stop_the_sync_loop() -> None:
    """nio raises TypeError or AttributeError on some broken responses; the loop backs off
    and asks again instead of ending for good."""
    calls: list[str | None] = []

    class Client:
        async def sync(self, *, since: str | None, **_: Any) -> Any:
            calls.append(since)
            if len(calls) == 1:
                raise TypeError("a broken response")
            raise asyncio.CancelledError  # the second call shows the loop went on

    adapter = MatrixAdapter(MatrixConfig(enabled=True, e2ee=False), BotConfig(),
                            state=None)  # type: ignore[arg-type]
    adapter.client = Client()  # type: ignore[assignment]
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(adapter._sync_loop("s1"), timeout=10)
    assert calls == ["s1", "s1"], "asked again from the same position"
