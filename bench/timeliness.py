"""Benchmark 7: lateness of 100 reminders due at the same second — median and worst.

The real bot (`undersign run`, console adapter) on a fresh database, its abuse limits
lifted by its config (as bench/reminder_lateness.py does); the reminders are scheduled
for one and the same second, a few seconds ahead. Lateness is from each reminder's due
time as stored to the moment its line arrives on the console's output pipe. The floor is
the same pipe with no work: the time a line written at the due time takes to be read here.

    .venv/bin/python bench/timeliness.py [N]          # N = 100
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
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FLOOR = "import sys, time; t = float(sys.argv[1]); time.sleep(max(0, t - time.time())); print('x', flush=True)"


def floor_ms() -> float:
    """A child that sleeps until a given second and prints: its lateness as read here."""
    due = time.time() + 1.0
    proc = subprocess.Popen([sys.executable, "-c", FLOOR, repr(due)], stdout=subprocess.PIPE,
                            text=True)
    assert proc.stdout is not None
    proc.stdout.readline()
    arrived = time.time()
    proc.wait(timeout=10)
    return (arrived - due) * 1000


def main(count: int) -> int:
    with tempfile.TemporaryDirectory() as folder:
        env = {**os.environ, "PYTHONPATH": str(ROOT),
               "UNDERSIGN_DB_KEY": base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()}
        (Path(folder) / "bench.toml").write_text(
            f"[bot]\nremind_per_hour = {count + 1}\nmax_schedules_per_letter = {count + 1}\n")
        proc = subprocess.Popen([sys.executable, "-m", "bot.cli", "run", "--config",
                                 "bench.toml"], cwd=folder, env=env, text=True, bufsize=1,
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL)
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
        # One absolute second, a few seconds ahead, for all of them (UTC, as the bot reads it).
        at = datetime.utcfromtimestamp(int(time.time()) + 6).strftime("%Y-%m-%d %H:%M:%S")
        lines = ['/undersign new "Bench"']
        lines += [f'/undersign remind L1 {at} "r{i}"' for i in range(count)]
        proc.stdin.write("\n".join(lines) + "\n")
        proc.stdin.flush()
        if not scheduled.wait(30):
            proc.kill()
            raise SystemExit("the reminders were not scheduled")
        db = sqlite3.connect(Path(folder) / "undersign.db")
        due = {text: datetime.fromisoformat(at.replace("Z", "+00:00")).timestamp()
               for at, text in db.execute("SELECT next_at, text FROM schedules")}
        db.close()
        same_second = len({int(t) for t in due.values()}) == 1
        deadline = time.monotonic() + 30
        while len(arrived) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        proc.stdin.close()
        proc.wait(timeout=15)
    floor = statistics.median(floor_ms() for _ in range(5))
    missing = sorted(set(due) - set(arrived))
    late = sorted((arrived[t] - due[t]) * 1000 for t in arrived if t in due)
    print(f"timeliness: {count} reminders due at the same second"
          f" ({'yes' if same_second else 'NO'}), {len(late)} printed, missing {len(missing)}")
    if late:
        print(f"  lateness (due → line read): median {statistics.median(late):.1f} ms,"
              f" worst {late[-1]:.1f} ms, best {late[0]:.1f} ms")
        print(f"  floor (a sleeping process printing at its due time): median {floor:.1f} ms")
    return 1 if missing or not same_second else 0


if __name__ == "__main__":
    raise SystemExit(main(int(sys.argv[1]) if len(sys.argv) > 1 else 100))
