"""Reminders in real time, across real restarts of `undersign run` on the console.

Each test keeps the bot's standard input open (a pipe it writes to) so the bot keeps
running while reminders fall due, then ends it by closing the pipe or with SIGKILL.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


class Console:
    """`undersign run` in a folder, fed line by line; its output gathered as it comes."""

    def __init__(self, folder: Path) -> None:
        env = {**os.environ, "PYTHONPATH": str(Path.cwd())}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bot.cli", "run"], cwd=folder, env=env, text=True,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, bufsize=1,
        )
        self.lines: list[str] = []
        self._seen = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._seen:
                self.lines.append(line.rstrip("\n"))
                self._seen.notify_all()

    def type(self, *lines: str) -> None:
        assert self.proc.stdin is not None
        for line in lines:
            self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def wait_for(self, text: str, timeout: float = 10.0) -> str:
        deadline = time.monotonic() + timeout
        with self._seen:
            while True:
                found = [line for line in self.lines if text in line]
                if found:
                    return found[0]
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"{text!r} never came; got:\n" + "\n".join(self.lines))
                self._seen.wait(left)

    def end(self) -> str:
        """Close standard input, as a pipe ends: the bot stops cleanly."""
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        return self._finish()

    def kill(self) -> str:
        self.proc.send_signal(signal.SIGKILL)
        return self._finish()

    def _finish(self) -> str:
        self.proc.wait(timeout=15)
        self._reader.join(timeout=5)
        assert self.proc.stderr is not None
        stderr = self.proc.stderr.read()
        assert "Traceback" not in stderr, stderr
        return stderr

    def count(self, text: str) -> int:
        return sum(text in line for line in self.lines)


def start(folder: Path, *lines: str) -> Console:
    bot = Console(folder)
    bot.type(*lines)
    return bot


def test_a_reminder_in_3_seconds_appears_once_in_the_transcript(tmp_path: Path) -> None:
    bot = start(tmp_path, '/undersign new "Pay"', '/undersign remind L1 in 3 seconds "Pens!"')
    bot.wait_for("[to you] Scheduled R1")
    time.sleep(5)
    stderr = bot.end()
    assert bot.count("Pens!") == 2, bot.lines  # the confirmation and the reminder
    assert bot.lines.count("[general #2] ⏰ Reminder — L1 Pay: Pens!") == 1
    assert "Pens" not in stderr and "Pay" not in stderr, "logs carry no titles or texts"


def test_due_reminders_fire_once_across_a_clean_restart(tmp_path: Path) -> None:
    first = start(tmp_path, '/undersign new "Pay"',
                  '/undersign remind L1 in 2 seconds "one"',
                  '/undersign remind L1 in 4 seconds "two" to organizers')
    first.wait_for("Reminder — L1 Pay: one")
    first.end()
    assert first.count("Reminder for the organizers") == 0
    time.sleep(2.5)  # "two" falls due while the bot is down
    second = start(tmp_path)
    second.wait_for("[to you] ⏰ Reminder for the organizers of L1 Pay: two")
    time.sleep(1)
    second.type("/undersign reminders")
    second.wait_for("No reviews or reminders are scheduled here.")
    second.end()
    assert second.count("Reminder — L1 Pay: one") == 0
    assert second.count("Reminder for the organizers") == 1


def test_killed_as_reminders_fire_each_fires_once_after_restart(tmp_path: Path) -> None:
    texts = [f"note-{n}" for n in range(6)]
    # The kill must land inside the burst, which lasts a few milliseconds; when it lands
    # after the burst (all six printed first) the scenario proved nothing and runs again.
    for attempt in range(5):
        folder = tmp_path / f"attempt-{attempt}"
        folder.mkdir()
        first = start(folder, '/undersign new "Pay"',
                      *[f'/undersign remind L1 in 3 seconds "{t}" to organizers' for t in texts])
        first.wait_for("Scheduled R6")
        first.wait_for("⏰ Reminder for the organizers", timeout=8)
        first.kill()  # SIGKILL the moment the first reminder is printed
        if first.count("⏰") < len(texts):
            break
    second = start(folder)
    time.sleep(2)
    second.end()
    assert 0 < first.count("⏰") < len(texts), "the kill never landed in the middle of a burst"
    fired = {text: first.count(f"L1 Pay: {text}") + second.count(f"L1 Pay: {text}")
             for text in texts}
    # Commit, then confirm: none fires twice. The one reminder whose commit the kill may
    # have landed after, before its message left, is the only one that can be missing
    # (at most once, by design; the README says so).
    assert all(n <= 1 for n in fired.values()), (fired, first.lines, second.lines)
    assert list(fired.values()).count(0) <= 1, (fired, first.lines, second.lines)


def _set_due(folder: Path, schedule_id: int, moment: datetime) -> None:
    """What the bot's absence looks like in the store: a due time now behind us."""
    db = sqlite3.connect(folder / "undersign.db")
    iso = moment.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
    db.execute("UPDATE schedules SET next_at = ? WHERE id = ?", (iso, schedule_id))
    db.commit()
    db.close()


def test_down_within_grace_fires_once_and_beyond_grace_is_reported_missed(
    tmp_path: Path
) -> None:
    first = start(tmp_path, '/undersign new "Pay"',
                  '/undersign remind L1 in 2 hours "within grace"',
                  '/undersign remind L1 in 2 hours "beyond grace"',
                  '/undersign remind L1 every day at 9:00 "daily"')
    first.wait_for("Scheduled R3")
    first.end()
    now = datetime.now(UTC)
    _set_due(tmp_path, 1, now - timedelta(minutes=50))   # grace is 60 minutes
    _set_due(tmp_path, 2, now - timedelta(minutes=70))
    _set_due(tmp_path, 3, now - timedelta(hours=2))
    second = start(tmp_path)
    second.wait_for("Reminder — L1 Pay: within grace")
    second.wait_for("R2, a reminder for L1 Pay, was due at")
    second.wait_for("R3, a reminder for L1 Pay, was due at")
    second.type("/undersign reminders")
    listing = second.wait_for("Scheduled here:")
    second.end()
    third = start(tmp_path)
    time.sleep(1)
    third.end()
    assert "beyond grace" not in "\n".join(line for line in second.lines if "#" in line)
    assert second.count("so it was not sent: beyond grace") == 1
    assert second.count("so it was not sent: daily") == 1
    assert listing and any("R3 L1 reminder in the room, next" in line for line in second.lines)
    assert not any("R1" in line or "R2" in line for line in second.lines
                   if line.startswith("    R"))
    assert third.lines == [], "nothing fires twice"
