"""End to end: signed Slack requests → Bolt → adapter → App and core on a real SQLite file →
replies back through the adapter to the fake Web API."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from adapters.slack import SlackAdapter
from bot.app import App
from bot.config import Config
from bot.core import utc_now
from tests.slack.conftest import (
    FORM,
    JSON,
    button_payload,
    form_payload,
    make_adapter,
    post_signed,
    reaction_event,
    slash_body,
)
from tests.slack.fake_slack import Call, FakeSlack

pytestmark = pytest.mark.slack

ORGANIZER, SIGNER, OTHER = "U0ORGANIZE", "U0SIGNERAA", "U0REACTORB"
ROOM = "C0LETTERS1"


@dataclass
class Slack:
    app: App
    adapter: SlackAdapter
    fake: FakeSlack
    triggers: int = 0

    async def command(self, user: str, text: str, *, channel: str = ROOM,
                      response_url: str | None = None) -> list[Call]:
        self.triggers += 1
        return await self._send(
            slash_body(text, user=user, channel=channel, trigger=f"9.9.{self.triggers}",
                       response_url=response_url), FORM
        )

    async def click(self, user: str, action: str, letter: int, *, channel: str = ROOM,
                    response_url: str | None = None) -> list[Call]:
        body = button_payload(action, str(letter), user=user, channel=channel,
                              response_url=response_url)
        self.triggers += 1
        body["trigger_id"] = f"8.8.{self.triggers}"
        return await self._send(form_payload(body), FORM)

    async def react(
        self, user: str, ts: str, *, event_id: str, added: bool = True, retry: int | None = None
    ) -> list[Call]:
        kind = "reaction_added" if added else "reaction_removed"
        body = reaction_event(
            kind,
            reaction="writing_hand::skin-tone-2",
            user=user,
            channel=ROOM,
            ts=ts,
            event_id=event_id,
        )
        return await self._send(json.dumps(body), JSON, retry=retry)

    async def _send(self, body: str, content_type: str, retry: int | None = None) -> list[Call]:
        before = len(self.fake.calls)
        status, _ = await post_signed(self.adapter, body, content_type, retry=retry)
        assert status == 200
        await self.adapter.drain()
        return [c for c in self.fake.calls[before:] if c.method != "users.info"]

    async def announce(self, title: str, visibility: str) -> tuple[int, str]:
        calls = await self.command(ORGANIZER, f'new "{title}" visibility {visibility}')
        [post] = [c for c in calls if c.method == "chat.postMessage" and c.channel == ROOM]
        letter = int(post.blocks[-1]["elements"][0]["value"])
        return letter, str(post.response["ts"])


@asynccontextmanager
async def running(fake: FakeSlack, tmp_path: Path, *, clock: Callable[[], datetime] = utc_now,
                  **slack: Any) -> AsyncIterator[Slack]:
    """The App on a SQLite file in ``tmp_path`` with the Slack adapter (``slack``: its
    config) against the fake."""
    config = Config.model_validate({"bot": {"database": str(tmp_path / "undersign.db")},
                                    "slack": {"private_replies": "ephemeral", **slack}})
    app = App(config, clock=clock)
    await app.open()
    adapter = make_adapter(fake, **slack)
    app.add_adapter(adapter)
    await adapter.start(app.handle)
    try:
        yield Slack(app, adapter, fake)
    finally:
        await adapter.stop()
        await app.close()


@pytest.fixture
async def slack(fake: FakeSlack, tmp_path: Path) -> AsyncIterator[Slack]:
    async with running(fake, tmp_path) as harness:
        yield harness


def methods(calls: list[Call]) -> list[str]:
    return [c.method for c in calls]


async def test_new_posts_an_escaped_announcement_with_buttons_and_confirms_privately(
    slack: Slack,
) -> None:
    calls = await slack.command(ORGANIZER, 'new "Hi <!channel> see <http://x|y>" visibility public')
    [post] = [c for c in calls if c.method == "chat.postMessage"]
    assert post.channel == ROOM
    assert "<!channel>" not in post.text and "&lt;!channel&gt;" in post.text
    assert "<http://x|y>" not in post.text
    assert post.blocks[-1]["type"] == "actions"
    [confirm] = [c for c in calls if c.method == "chat.postEphemeral"]
    assert (confirm.channel, confirm.params["user"]) == (ROOM, ORGANIZER)


async def test_the_sign_button_signs_privately_and_updates_the_count_in_place(slack: Slack) -> None:
    letter, ts = await slack.announce("Open letter", "public")
    calls = await slack.click(SIGNER, "undersign_sign", letter)
    [update] = [c for c in calls if c.method == "chat.update"]
    assert (update.channel, update.params["ts"]) == (ROOM, ts)
    assert "1 signature" in update.text
    [confirm] = [c for c in calls if c.method == "chat.postEphemeral"]
    assert confirm.params["user"] == SIGNER and "signed" in confirm.text
    assert not [c for c in calls if c.method == "chat.postMessage"]
    calls = await slack.click(SIGNER, "undersign_withdraw", letter)
    assert "0 signatures" in next(c for c in calls if c.method == "chat.update").text


async def test_a_reaction_signs_a_public_letter_and_a_retry_changes_nothing_and_says_nothing(
    slack: Slack,
) -> None:
    _, ts = await slack.announce("Open letter", "public")
    calls = await slack.react(OTHER, ts, event_id="Ev0SIGN001")
    assert "1 signature" in next(c for c in calls if c.method == "chat.update").text
    assert await slack.react(OTHER, ts, event_id="Ev0SIGN001", retry=1) == []
    assert await slack.react(OTHER, ts, event_id="Ev0SIGN001", retry=2) == []
    calls = await slack.react(OTHER, ts, event_id="Ev0UNSIGN1", added=False)
    assert "0 signatures" in next(c for c in calls if c.method == "chat.update").text


async def test_a_reaction_on_a_count_letter_is_not_counted_and_gets_a_private_hint(
    slack: Slack,
) -> None:
    letter, ts = await slack.announce("Quiet letter", "count")
    calls = await slack.react(OTHER, ts, event_id="Ev0QUIET01")
    assert methods(calls) == ["chat.postEphemeral"]
    assert calls[0].params["user"] == OTHER and "not counted" in calls[0].text
    status = await slack.command(ORGANIZER, f"status L{letter}")
    assert "1 signature" not in status[0].text


async def test_with_dm_replies_an_export_reaches_the_organizer_as_a_file_in_a_dm(
    fake: FakeSlack, tmp_path: Path
) -> None:
    async with running(fake, tmp_path, private_replies="dm") as slack:
        await export_as_a_file_in_a_dm(slack)


async def export_as_a_file_in_a_dm(slack: Slack) -> None:
    letter, _ = await slack.announce("Open letter", "count")
    await slack.click(SIGNER, "undersign_sign", letter)
    calls = await slack.command(ORGANIZER, f"export L{letter}")
    [done] = [c for c in calls if c.method == "files.completeUploadExternal"]
    assert done.channel == "D" + ORGANIZER[1:]  # the DM the fake opened with the organizer
    assert any(SIGNER.encode() in body for body in slack.fake.uploads.values())
    assert not [c for c in calls if c.method == "chat.postMessage" and c.channel == ROOM]


async def test_the_database_file_names_no_slack_user_id(slack: Slack, tmp_path: Path) -> None:
    letter, ts = await slack.announce("Open letter", "public")
    await slack.click(SIGNER, "undersign_sign", letter)
    await slack.react(OTHER, ts, event_id="Ev0SIGN002")
    await slack.command(ORGANIZER, f"review L{letter} in 3 days")
    files = database_files(tmp_path)
    assert any(name.endswith("-wal") for name in files)
    for name, raw in files.items():
        for user in (ORGANIZER, SIGNER, OTHER):
            assert user.encode() not in raw, f"{user} in {name}"
            assert user.encode("utf-16-le") not in raw


def database_files(folder: Path) -> dict[str, bytes]:
    """The raw bytes of the database, its WAL and shared-memory file, as a thief copies them."""
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.name.startswith("undersign.db")}


DIRECT = "D0ORGDIRECT"  # the organizer's direct conversation with the bot


@pytest.mark.parametrize(("command", "problem"), [
    ('new "From a DM"', "not started in a direct room"),
    ("announce L{L}", "not announced in a direct room"),
    ("review L{L} in 2 days", "Schedule it from a room where the letter is announced"),
    ('remind L{L} in 2 hours "x" to room', "Schedule it from a room where the letter is"),
])
async def test_a_direct_conversation_is_refused_what_would_store_it_or_post_into_it(
    slack: Slack, command: str, problem: str,
) -> None:
    letter, _ = await slack.announce("Open letter", "count")
    calls = await slack.command(ORGANIZER, command.format(L=letter), channel=DIRECT)
    [refusal] = [c for c in calls if c.method == "chat.postEphemeral"]
    assert refusal.params["user"] == ORGANIZER and problem in refusal.text
    assert not [c for c in calls if c.method in ("chat.postMessage", "chat.update")]
    async with slack.app.store.transaction() as tx:
        assert len(await tx.letters()) == 1 and await tx.schedules() == []
        assert [a.room.id for a in await tx.announcements(letter)] == [ROOM]


async def test_a_reminder_to_organizers_from_a_direct_conversation_stores_no_channel_id(
    slack: Slack, tmp_path: Path,
) -> None:
    letter, _ = await slack.announce("Open letter", "count")
    calls = await slack.command(ORGANIZER, f'remind L{letter} in 2 hours "Nudge" to organizers',
                                channel=DIRECT)
    assert any("Scheduled R1" in c.text for c in calls if c.method == "chat.postEphemeral")
    calls = await slack.command(ORGANIZER, f"reminders L{letter}", channel=DIRECT)
    assert any("Nudge" in c.text for c in calls if c.method == "chat.postEphemeral")
    files = database_files(tmp_path)
    assert any(name.endswith("-wal") for name in files)
    for name, raw in files.items():
        assert DIRECT.encode() not in raw, name
        assert DIRECT.encode("utf-16-le") not in raw, name
