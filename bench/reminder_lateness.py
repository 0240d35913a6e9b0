"""How late do reminders come? Due time (as stored) → the line printed by the console.

Runs `undersign run` on a fresh database in a temporary folder, schedules N reminders a
few seconds ahead (several falling due within the same second), reads each one's exact
due time from the store, and stamps each reminder line as it arrives on the pipe.
bench/timeliness.py uses the same run with every reminder due at one second.

    .venv/bin/python bench/reminder_lateness.py [N]
"""

from __future__ import annotations

import base64
import os
import secrets
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run_reminders(count: int, when: Callable[[int], str],
                  within: float) -> tuple[dict[str, float], dict[str, float]]:
    """Schedule ``count`` reminders, the i-th at ``when(i)``, on a fresh console bot; return
    each one's due time as stored and the time its line was read here (both epoch s)."""
    with tempfile.TemporaryDirectory() as folder:
        env = {**os.environ, "PYTHONPATH": str(ROOT),
               "UNDERSIGN_DB_KEY": base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()}
        # the abuse limits would refuse a burst this size: lift them for the measurement
        (Path(folder) / "bench.toml").write_text(
            f"[bot]\nremind_per_hour = {count + 1}\nmax_schedules_per_letter = {count + 1}\n")
        proc = subprocess.Popen([sys.executable, "-m", "bot.cli", "run", "--config",
                                 "bench.toml"], cwd=folder, env=env,
                                text=True, bufsize=1, stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        assert proc.stdin is not None and proc.stdout is not None
        arrived: dict[str, float] = {}
        scheduled = threading.Event()

        def read() -> None:
            assert proc.stdout is not None
            for line in proc.stdout:
                now = time.time()
                if "⏰ Reminder — L1 Bench: " in line:
                    arrived[line.rsplit(": ", 1)[1].strip()] = now
                elif f"Scheduled R{count}:" in line:
                    scheduled.set()

        threading.Thread(target=read, daemon=True).start()
        lines = ['/undersign new "Bench"']
        lines += [f'/undersign remind L1 {when(i)} "r{i}"' for i in range(count)]
        proc.stdin.write("\n".join(lines) + "\n")
        proc.stdin.flush()
        if not scheduled.wait(30):
            proc.kill()
            raise SystemExit("the reminders were not scheduled")
        db = sqlite3.connect(Path(folder) / "undersign.db")
        due = {text: datetime.fromisoformat(at.replace("Z", "+00:00")).timestamp()
               for at, text in db.execute("SELECT next_at, text FROM schedules")}
        db.close()
        deadline = time.monotonic() + within
        while len(arrived) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        proc.stdin.close()
        proc.wait(timeout=15)
    return due, arrived


def main(count: int = 24) -> int:
    due, arrived = run_reminders(count, lambda i: f"in {3 + i // 3} seconds",
                                 within=5 + count // 3 + 10)
    missing = sorted(set(due) - set(arrived))
    late_ms = sorted((arrived[t] - due[t]) * 1000 for t in arrived if t in due)
    print(f"reminders: {count} scheduled, {len(late_ms)} printed, missing: {missing or 'none'}")
    if late_ms:
        print(f"lateness (due → printed): median {statistics.median(late_ms):.1f} ms, "
              f"p90 {late_ms[int(0.9 * (len(late_ms) - 1))]:.1f} ms, worst {late_ms[-1]:.1f} ms, "
              f"best {late_ms[0]:.1f} ms")
    return 1 if missing else 0


if __name__ == "__main__":
    raise SystemExit(main(int(sys.argv[1]) if len(sys.argv) > 1 else 24))
