"""The signature block on Slack: each signer is named by their Slack display name, asked
with users.info when the block is sent, never stored; the user id stands in when Slack
cannot say."""

from __future__ import annotations

import pytest

from tests.slack.test_slack_discretion import ephemeral_to
from tests.support.fake_slack import FakeSlack
from tests.support.slack import ORGANIZER, SIGNER, Slack
from tests.support.storage import db_bytes

pytestmark = pytest.mark.slack

OTHER = "U0SIGNERBB"


async def _block(slack: Slack, fake: FakeSlack, letter: int) -> str:
    before = len(ephemeral_to(fake, ORGANIZER))
    await slack.command(ORGANIZER, f"final L{letter}")
    shown = ephemeral_to(fake, ORGANIZER)[before:]  # blocks as JSON: a line break is \\n
    assert len(shown) == 1, shown
    return shown[0]


async def test_final_names_slack_signers_by_their_display_name_at_the_time(
    slack: Slack, fake: FakeSlack
) -> None:
    letter, _ = await slack.announce("Quiet letter", "count")
    fake.display_names[SIGNER] = "Sam Signer"
    await slack.click(SIGNER, "undersign_sign", letter)
    await slack.command(OTHER, f'sign L{letter} as "Abe Other, Steward"')
    block = await _block(slack, fake, letter)
    assert "Signed by 2:\\nAbe Other, Steward\\nSam Signer" in block
    asked = [c.params.get("user") for c in fake.calls_to("users.info")]
    assert SIGNER in asked
    fake.display_names[SIGNER] = "Samantha Signer"  # renamed since: the block follows
    assert "Abe Other, Steward\\nSamantha Signer" in await _block(slack, fake, letter)
    await slack.app.store.checkpoint()
    files = db_bytes(slack.app.config.database_path)
    for name in (b"Sam Signer", b"Samantha", b"Abe Other", b"Steward"):
        assert name not in files


async def test_when_users_info_fails_the_user_id_stands_in(
    slack: Slack, fake: FakeSlack
) -> None:
    letter, _ = await slack.announce("Quiet letter", "count")
    await slack.click(SIGNER, "undersign_sign", letter)
    fake.fail["users.info"] = "user_not_found"
    assert f"Signed by 1:\\n{SIGNER}" in await _block(slack, fake, letter)


@pytest.mark.parametrize("visibility", ["count", "sealed"])
async def test_a_new_version_reaches_slack_signers_only_as_a_neutral_dm_and_never_on_a_sealed_letter(
    slack: Slack, fake: FakeSlack, visibility: str
) -> None:
    options = "visibility sealed threshold 5" if visibility == "sealed" else "visibility count"
    await slack.command(ORGANIZER, f'new "Quiet letter" {options}')
    await slack.click(SIGNER, "undersign_sign", 1)
    await slack.command(ORGANIZER, 'edit L1 title "Quiet letter, corrected"')
    dms = [c.text for c in fake.calls_to("chat.postMessage") if c.channel == "D" + SIGNER[1:]]
    if visibility == "sealed":
        assert not dms
    else:
        assert dms == ["L1 has a new version 2: /undersign status L1 shows it. If you had signed "
                       "it, /undersign sign L1 confirms the new version."]
    await slack.command(SIGNER, "status L1")
    assert any("You signed version 1, which no longer counts" in text
               for text in ephemeral_to(fake, SIGNER))
