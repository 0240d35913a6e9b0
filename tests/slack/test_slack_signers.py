"""Who may sign on Slack, from users.info as the fake Web API answers it in Slack's
documented shape: full members of the bot's workspace may; a single- or multi-channel
guest, a bot, and a Slack Connect user of another organisation are told why, privately,
and nothing is stored about them. users.info is kept in memory for at most an hour."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from adapters import slack as slack_adapter
from tests.slack.test_slack_discretion import ephemeral_to
from tests.support.fake_slack import FakeSlack
from tests.support.slack import ROOM, SIGNER, Slack, slack_app
from tests.support.storage import db_bytes, table_rows

pytestmark = pytest.mark.slack

REFUSED = "Only full members of this workspace may sign"
OUTSIDERS: dict[str, dict[str, Any]] = {
    "U0GUESTMUL": {"is_restricted": True},  # a multi-channel guest
    "U0GUESTSIN": {"is_restricted": True, "is_ultra_restricted": True},  # single-channel
    "W0CONNECT1": {"team_id": "T0OTHERORG", "is_stranger": True},  # Slack Connect
    "U0SOMEBOT1": {"is_bot": True},
}


@pytest.mark.parametrize("who", sorted(OUTSIDERS))
async def test_guests_bots_and_slack_connect_people_are_refused_and_stored_nowhere(
    slack: Slack, fake: FakeSlack, who: str,
) -> None:
    fake.user_facts[who] = OUTSIDERS[who]
    letter, ts = await slack.announce("Members letter", "public")
    await slack.command(who, f"sign L{letter}")
    await slack.click(who, "undersign_sign", letter)
    await slack.command(who, f"sign L{letter} if 3")
    await slack.react(who, ts, event_id=f"Ev-{who}")
    told = ephemeral_to(fake, who)
    assert len([t for t in told if REFUSED in t]) == 4, told
    assert all("Nothing about you was stored" in t for t in told if REFUSED in t)
    assert table_rows(slack.app.config.database_path, "signatures") == []
    await slack.app.store.checkpoint()
    assert who.encode() not in db_bytes(slack.app.config.database_path)
    await slack.command(SIGNER, f"sign L{letter}")
    assert len(table_rows(slack.app.config.database_path, "signatures")) == 1


async def test_signers_anyone_lets_guests_sign_and_only_narrows_to_team_ids(
    fake: FakeSlack, tmp_path: Path,
) -> None:
    fake.user_facts["U0GUESTMUL"] = OUTSIDERS["U0GUESTMUL"]
    fake.user_facts["W0CONNECT1"] = OUTSIDERS["W0CONNECT1"]
    async with slack_app(fake, tmp_path, signers="anyone") as slack:
        await slack.command("U0ORGANIZE", 'new "Shared letter" only T0OTHERORG')
        await slack.command("U0GUESTMUL", "sign L1")
        assert any("L1 may be signed only by people of t0otherorg" in t
                   for t in ephemeral_to(fake, "U0GUESTMUL"))
        await slack.command("W0CONNECT1", "sign L1")
        assert any("You signed L1" in t for t in ephemeral_to(fake, "W0CONNECT1"))


async def test_users_info_is_kept_in_memory_for_at_most_an_hour(
    slack: Slack, fake: FakeSlack, monkeypatch: pytest.MonkeyPatch,
) -> None:
    letter, _ = await slack.announce("Members letter", "count")
    await slack.command(SIGNER, f"status L{letter}", channel=ROOM)
    await slack.command(SIGNER, f"status L{letter}", channel=ROOM)
    asked = lambda: [c for c in fake.calls_to("users.info")  # noqa: E731
                     if c.params.get("user") == SIGNER]
    assert len(asked()) == 1
    now = slack_adapter.time.monotonic()
    monkeypatch.setattr(slack_adapter.time, "monotonic", lambda: now + 3601)
    fake.user_facts[SIGNER] = {"is_restricted": True}  # made a guest since
    await slack.command(SIGNER, f"sign L{letter}")
    assert len(asked()) == 2
    assert any(REFUSED in t for t in ephemeral_to(fake, SIGNER))
