"""Benchmark 6: start-up time to ready and idle RSS — Matrix only, Slack only, both —
each against the floor of a process that merely imports the same libraries.

The bot is the real entry point (``python -m bot.cli run --config …``, through a thin
wrapper that can report ``sys.modules``), connected to the test Synapse (E2EE on, as
configured by default) and to the fake Slack over Socket Mode. "Ready" is the bot's log
line ``scheduler started``, printed once every adapter has started. The floor process
imports exactly the modules the bot had loaded at ready, ours excepted, and says ready.
Every process is started by this script and stopped by it (SIGTERM, then SIGKILL).

    .venv/bin/python bench/footprint.py [RUNS]        # 3 runs each, after one warm-up
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OURS = ("bot", "adapters", "commands", "tests", "synapse", "__main__", "__mp_main__")
READY = "scheduler started"
SLACK_LIBS = ("slack_bolt", "slack_sdk")
MATRIX_LIBS = ("nio", "vodozemac")


def child_bot(config: str, modules_out: str) -> None:
    """Run the bot as `undersign run` does; SIGUSR1 writes the loaded modules' names."""

    def dump(signum: int, frame: object) -> None:
        Path(modules_out).write_text(json.dumps(sorted(sys.modules)))

    signal.signal(signal.SIGUSR1, dump)
    sys.path.insert(0, str(ROOT))
    from bot.cli import main

    raise SystemExit(main(["run", "--config", config]))


def child_floor(modules_in: str) -> None:
    """Import every module the bot had, ours excepted; say ready; idle until stopped."""
    import importlib

    names = json.loads(Path(modules_in).read_text())
    for name in names:
        if name.split(".", 1)[0] in OURS:
            continue
        with contextlib.suppress(Exception):  # private modules that cannot stand alone
            importlib.import_module(name)
    print(READY, file=sys.stderr, flush=True)
    while True:
        signal.pause()


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def start_until_ready(args: list[str], env: dict[str, str], cwd: Path,
                            within: float = 60) -> tuple[asyncio.subprocess.Process, float]:
    started = time.perf_counter()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, __file__, *args, cwd=cwd, env=env,
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE)
    assert proc.stderr is not None
    tail: list[str] = []
    async with asyncio.timeout(within):
        while True:
            line = (await proc.stderr.readline()).decode(errors="replace")
            if not line:
                raise RuntimeError(f"{args[0]} ended before ready:\n" + "".join(tail[-20:]))
            tail.append(line)
            if READY in line:
                break
    elapsed = time.perf_counter() - started

    async def drain() -> None:
        assert proc.stderr is not None
        while await proc.stderr.readline():
            pass

    proc._bench_drain = asyncio.create_task(drain())  # type: ignore[attr-defined]
    return proc, elapsed


async def stop(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        proc.terminate()
        try:
            await asyncio.wait_for(proc.wait(), 10)
        except TimeoutError:
            proc.kill()
            await proc.wait()
    await proc._bench_drain  # type: ignore[attr-defined]


async def measure(name: str, folder: Path, env: dict[str, str], runs: int,
                  idle: float) -> dict[str, object]:
    config = str(folder / "undersign.toml")
    modules = folder / "modules.json"
    bot_s, bot_mb, floor_s, floor_mb = [], [], [], []
    for run in range(runs + 1):  # run 0 warms up: byte-code, database, device keys
        proc, took = await start_until_ready(["--bot", config, str(modules)], env, folder)
        await asyncio.sleep(idle)
        mb = rss_mb(proc.pid)
        if run == 0:
            proc.send_signal(signal.SIGUSR1)
            for _ in range(100):
                if modules.exists():
                    break
                await asyncio.sleep(0.05)
        await stop(proc)
        floor, floor_took = await start_until_ready(["--floor", str(modules)], env, folder)
        await asyncio.sleep(idle)
        floor_rss = rss_mb(floor.pid)
        await stop(floor)
        if run:
            bot_s.append(took)
            bot_mb.append(mb)
            floor_s.append(floor_took)
            floor_mb.append(floor_rss)
    loaded = {m.split(".", 1)[0] for m in json.loads(modules.read_text())}
    return {"name": name, "ready": statistics.median(bot_s), "rss": statistics.median(bot_mb),
            "floor_ready": statistics.median(floor_s), "floor_rss": statistics.median(floor_mb),
            "slack": [m for m in SLACK_LIBS if m in loaded],
            "matrix": [m for m in MATRIX_LIBS if m in loaded]}


async def main(runs: int) -> int:
    sys.path.insert(0, str(ROOT))
    from tests.support.fake_slack import APP_TOKEN, BOT_TOKEN, FakeSlack
    from tests.support.homeserver import Synapse
    from tests.support.processes import PROXY_VARIABLES

    for var in PROXY_VARIABLES:
        os.environ.pop(var, None)
    work = Path(tempfile.mkdtemp(prefix="undersign-footprint-"))
    hs = Synapse(work / "synapse")
    hs.start()
    fake = FakeSlack()
    await fake.start()
    results = []
    try:
        password = hs.register("undersign").password
        slack_toml = (f'[slack]\nenabled = true\nmode = "socket"\n'
                      f'api_base_url = "{fake.base_url}"\n')
        setups = [("Matrix only", True, False), ("Slack only", False, True),
                  ("both", True, True)]
        for name, matrix, slack in setups:
            folder = work / name.split()[0].lower()
            folder.mkdir()
            env = {**os.environ,
                   "UNDERSIGN_DB_KEY": base64.urlsafe_b64encode(os.urandom(32)).decode()}
            toml = '[bot]\ndatabase = "undersign.db"\n'
            if matrix:
                device = f"FOOTPRINT{folder.name.upper()}"
                account = hs.login("undersign", password, device)
                toml += (f'[matrix]\nenabled = true\nhomeserver = "{hs.url}"\n'
                         f'user_id = "{account.user_id}"\ndevice_id = "{device}"\ne2ee = true\n')
                env["MATRIX_ACCESS_TOKEN"] = account.access_token
            if slack:
                toml += slack_toml
                env |= {"SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_APP_TOKEN": APP_TOKEN}
            (folder / "undersign.toml").write_text(toml)
            results.append(await measure(name, folder, env, runs, idle=2.0))
    finally:
        await fake.stop()
        hs.stop()
    ok = True
    print(f"footprint: median of {runs} runs after a warm-up; RSS after 2 s idle at ready")
    print(f"  {'':<12} {'ready':>8} {'floor':>8} {'ratio':>6}   {'RSS':>7} {'floor':>7} {'ratio':>6}"
          "   libraries loaded")
    for r in results:
        ready_ratio = float(r["ready"]) / float(r["floor_ready"])  # type: ignore[arg-type]
        rss_ratio = float(r["rss"]) / float(r["floor_rss"])  # type: ignore[arg-type]
        libs = ", ".join([*r["slack"], *r["matrix"]]) or "none"  # type: ignore[misc]
        wrong = (r["name"] == "Matrix only" and r["slack"]) or (
            r["name"] == "Slack only" and r["matrix"])
        ok = ok and not wrong
        print(f"  {r['name']:<12} {r['ready']:7.2f}s {r['floor_ready']:7.2f}s {ready_ratio:6.2f}"
              f"   {r['rss']:5.1f}MB {r['floor_rss']:5.1f}MB {rss_ratio:6.2f}   {libs}"
              f"{'  <- not only the enabled adapters' if wrong else ''}")
    print("  targets: ratios ≤ 1.1; only the enabled adapters' libraries loaded")
    return 0 if ok else 1


if __name__ == "__main__":
    if sys.argv[1:2] == ["--bot"]:
        child_bot(sys.argv[2], sys.argv[3])
    elif sys.argv[1:2] == ["--floor"]:
        child_floor(sys.argv[2])
    else:
        raise SystemExit(asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 3)))
