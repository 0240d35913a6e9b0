"""``mine``: the caller's letters as they may see them, and a refusal's words kept apart
for adapters with forms."""

from __future__ import annotations

from bot.events import Private
from tests.support.bot import Bot, privately


def _answer(replies: list[object], who: str) -> Private:
    [answer] = [r for r in replies if isinstance(r, Private) and r.user.id == who]
    return answer


async def test_mine_shows_organizers_signers_and_strangers_only_their_own(bot: Bot) -> None:
    count = await bot.new("alice", "visibility count")
    sealed = await bot.new("alice", "visibility sealed threshold 3")
    for who in ("bob", "carol"):
        await bot.say(who, f"sign {count}")
    await bot.say("bob", f"sign {sealed}")

    alice = _answer(await bot.say("alice", "mine"), "alice")
    assert alice.overview is not None and alice.sensitive
    by_id = {h.ref: h for h in alice.overview}
    assert by_id[count].organizes and by_id[count].count == "2 signatures"  # live, organizer
    assert by_id[sealed].count == "fewer than 3 signatures"  # sealed below its threshold
    assert "bob" not in str(alice) and "carol" not in str(alice)

    bob = _answer(await bot.say("bob", "mine"), "bob")
    assert bob.overview is not None
    assert [(h.ref, h.signed, h.organizes) for h in bob.overview] == [
        (sealed, True, False), (count, True, False)]
    assert {h.count for h in bob.overview} == {"fewer than 3 signatures"}  # the public count

    dave = await bot.say("dave", "mine")
    assert "You organize no letter and have signed none." in privately(dave, "dave")
    assert _answer(dave, "dave").overview == ()


async def test_a_refusal_carries_its_problem_alone(bot: Bot) -> None:
    answer = _answer(await bot.say("alice", 'new "T" visibility count threshold 3'), "alice")
    assert answer.refused == "A threshold applies only to sealed letters (visibility sealed)."
    assert "Usage:" in privately([answer], "alice")
    assert _answer(await bot.say("alice", "list"), "alice").refused is None


async def test_mine_tells_a_pledger_whether_their_pledge_waits_or_counts_and_nobody_else(
    bot: Bot
) -> None:
    letter = await bot.new("alice", "visibility count")
    await bot.say("bob", f"sign {letter} if 3")
    bob = privately(await bot.say("bob", "mine"), "bob")
    assert "Letters you signed or pledged:" in bob
    assert "your pledge waits until 3 have signed" in bob
    alice = privately(await bot.say("alice", "mine"), "alice")
    assert "pledge" not in alice and "bob" not in alice
    for who in ("carol", "dan"):
        await bot.say(who, f"sign {letter} if 3")
    bob = privately(await bot.say("bob", "mine"), "bob")
    assert "your pledge (once 3 have signed) counts" in bob
