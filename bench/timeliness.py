"""Benchmark 7: lateness of 100 reminders due at the same second — median and worst.

The real bot (`undersign run`, console adapter) on a fresh database, its abuse limits
lifted by its config (as bench/reminder_lateness.py does); the reminders are scheduled
for one and the same second, a few seconds ahead. Lateness is from each reminder's due
time as stored to the moment its line arrives on the console's output pipe. The floor is
the same pipe with no work: the time a line written at the due time takes to be read here.

    .venv/bin/python bench/timeliness.py [N]          # N = 100
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from datetime import datetime

from reminder_lateness import run_reminders

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
    # One absolute second, a few seconds ahead, for all of them (UTC, as the bot reads it).
    at = datetime.utcfromtimestamp(int(time.time()) + 6).strftime("%Y-%m-%d %H:%M:%S")
    due, arrived = run_reminders(count, lambda i: at, within=30)
    same_second = len({int(t) for t in due.values()}) == 1
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
