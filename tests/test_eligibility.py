"""Who may sign: the platform's rule (Slack ``signers``, Matrix ``signer_servers``), found
by the adapter and carried on the event as a ``Standing``, and a letter's own ``only``.
Anyone else who signs, reacts or presses the button is told why, privately, and nothing
is stored about them."""

from __future__ import annotations

import pytest

from adapters import matrix_translate
from bot.config import MatrixConfig
from bot.events import Command, Private, Reaction, Room, Standing
from tests.support.bot import Bot, privately
from tests.support.storage import table_rows

OUTSIDER = matrix_translate.standing(MatrixConfig(user_id="@undersign:example.org"),
                                     "@eve:elsewhere.net")
INSIDER = matrix_translate.standing(MatrixConfig(user_id="@undersign:example.org"),
                                    "@bob:example.org")


def test_matrix_signers_default_to_the_bots_own_server_and_star_means_any() -> None:
    own = MatrixConfig(user_id="@undersign:Example.org")
    assert matrix_translate.standing(own, "@bob:example.org").may_sign
    assert not matrix_translate.standing(own, "@eve:elsewhere.net").may_sign
    listed = MatrixConfig(user_id="@undersign:example.org", signer_servers=["elsewhere.net"])
    assert matrix_translate.standing(listed, "@eve:elsewhere.net").may_sign
    assert not matrix_translate.standing(listed, "@bob:example.org").may_sign
    anyone = MatrixConfig(signer_servers=["*"])
    assert matrix_translate.standing(anyone, "@eve:elsewhere.net") == Standing(
        "elsewhere.net", True)


class _Receiver:
    config = MatrixConfig(user_id="@undersign:example.org")
    user_id = "@undersign:example.org"

    def neutral_room(self, room_id: str, thread: str | None = None) -> Room:
        return Room("matrix", room_id, thread, direct=True)


def test_matrix_events_carry_the_senders_standing() -> None:
    message = {"type": "m.room.message", "sender": "@eve:elsewhere.net", "event_id": "$1",
               "content": {"msgtype": "m.text", "body": "!undersign sign L1"}}
    command = matrix_translate.translate(_Receiver(), "!dm:example.org", message)
    assert isinstance(command, Command) and command.standing == OUTSIDER
    reaction = {"type": "m.reaction", "sender": "@bob:example.org", "event_id": "$2",
                "content": {"m.relates_to": {"rel_type": "m.annotation", "event_id": "$p",
                                             "key": "✍️"}}}
    found = matrix_translate.translate(_Receiver(), "!r:example.org", reaction)
    assert isinstance(found, Reaction) and found.standing == INSIDER


async def test_someone_the_platform_does_not_let_sign_is_told_why_and_nothing_is_stored(
        bot: Bot) -> None:
    letter = await bot.new("olga", "visibility public")
    for line in (f"sign {letter}", f"sign {letter} if 3"):
        said = privately(await bot.say("@eve:elsewhere.net", line, platform="matrix",
                                       room="!dm", direct=True, standing=OUTSIDER),
                         "@eve:elsewhere.net")
        assert "Only people on example.org may sign" in said
        assert "Nothing about you was stored" in said
    replies = await bot.react("@eve:elsewhere.net", bot.announcement_ref(letter),
                              standing=OUTSIDER)
    assert "Your reaction was not counted" in privately(replies, "@eve:elsewhere.net")
    assert table_rows(bot.app.config.database_path, "signatures") == []
    await bot.say("@bob:example.org", f"sign {letter}", platform="matrix", room="!dm2",
                  direct=True, standing=INSIDER)
    assert len(table_rows(bot.app.config.database_path, "signatures")) == 1


async def test_only_narrows_a_letter_to_some_servers_and_teams(bot: Bot) -> None:
    said = privately(await bot.say("olga", 'new "Narrow" only example.org, T0123ABCD'), "olga")
    assert "Created L1" in said
    status = privately(await bot.say("olga", "status L1"), "olga")
    assert "Who may sign: people of example.org, t0123abcd" in status
    eve = privately(await bot.say("@eve:elsewhere.net", "sign L1", platform="matrix",
                                  room="!dm", direct=True,
                                  standing=Standing("elsewhere.net", True)),
                    "@eve:elsewhere.net")
    assert "L1 may be signed only by people of example.org, t0123abcd" in eve
    slack = await bot.say("U1", "sign L1", platform="slack", room="D1", direct=True,
                          standing=Standing("T0123ABCD", True))
    assert "You signed L1" in privately(slack, "U1")
    console = privately(await bot.say("ann", "sign L1"), "ann")
    assert "may be signed only by" in console, "the console belongs to no listed team"
    edited = privately(await bot.say("olga", "edit L1 only anyone"), "olga")
    assert "who may sign: anyone here" in edited
    assert "You signed L1" in privately(await bot.say("ann", "sign L1"), "ann")
    await bot.say("olga", "edit L1 only elsewhere.net")
    assert "You signed L1" in privately(await bot.say(
        "@eve:elsewhere.net", "sign L1", platform="matrix", room="!dm", direct=True,
        standing=Standing("elsewhere.net", True)), "@eve:elsewhere.net")


@pytest.mark.parametrize("line, problem", [
    ('new "X" only', "needs a value"),
    ('new "X" only exa_mple.org', "is not a Matrix server name"),
    ('new "X" only "a.org b.org<script>"', "is not a Matrix server name"),
    ('new "X" only ' + ",".join(f"s{n}.org" for n in range(21)), "at most 20"),
])
async def test_a_bad_only_is_refused_clearly_and_changes_nothing(
        bot: Bot, line: str, problem: str) -> None:
    replies = await bot.say("olga", line)
    said = privately(replies, "olga")
    assert problem in said and "Usage:" in said
    assert all(isinstance(r, Private) for r in replies)
    assert table_rows(bot.app.config.database_path, "letters") == []
    await bot.new("olga")
    said = privately(await bot.say("olga", line.replace('new "X"', "edit L1")), "olga")
    assert problem in said
    assert table_rows(bot.app.config.database_path, "letters")[0]["only"] is None
