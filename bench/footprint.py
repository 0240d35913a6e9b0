"""Benchmark 6: start-up time to ready and idle RSS — Matrix only, Slack only, both —
each against the floor of a process that merely imports the same libraries.

The bot is the real entry point (``python -m bot.cli run --config …``, through a thin
wrapper that can report ``sys.modules``), connected to the test Synapse (E2EE on, as
configured by default) and to the fake Slack over Socket Mode. "Ready" is the bot's log
line ``scheduler started``, printed once every adapter has started. The floor process
imports exactly the modules the bot had loaded at ready, ours excepted, and says ready.
Both run from byte-code: ours is made first, as `make install` makes it (pip made the
libraries'; with PYTHONDONTWRITEBYTECODE, or a read-only checkout, no run would write it).
Beside the wall-clock time to ready, each process's CPU time until then (from
/proc/PID/schedstat): what start-up costs the process itself, without its waits for a CPU,
the network or Synapse.

In the same run, taking turns with Undersign's Matrix-only runs, the peer
matrix-reminder-bot (from bench/.venvs/reminder-bot, made by `make bench`; configured as
in bench/matrix_reply.py, E2EE on) logs in to the same Synapse and idles as long; its RSS
is printed beside Undersign's Matrix-only RSS. Without that environment the peer is
skipped, and the run says so.

Every process is started by this script and stopped by it (SIGTERM, then SIGKILL).

    .venv/bin/python bench/footprint.py [RUNS]        # 3 runs each, after one warm-up
"""

from __future__ import annotations

import asyncio
import base64
import compileall
import contextlib
import json
import os
import signal
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tests.support.homeserver import Synapse

ROOT = Path(__file__).resolve().parents[1]
OURS = ("bot", "adapters", "commands", "tests", "synapse", "__main__", "__mp_main__")
READY = "scheduler started"
PEER_READY = "Startup complete"  # the peer's log line after its login, before it syncs
SLACK_LIBS = ("slack_bolt", "slack_sdk")
MATRIX_LIBS = ("nio", "vodozemac")
IDLE_S = 2.0


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


def cpu_s(pid: int) -> float:
    """Seconds the process has run on a CPU, without its waits for one, for the network or
    for Synapse: what start-up costs the process itself."""
    return int(Path(f"/proc/{pid}/schedstat").read_text().split()[0]) / 1e9


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def start_until_ready(command: list[str], env: dict[str, str], cwd: Path,
                            ready: str = READY, within: float = 60
                            ) -> tuple[asyncio.subprocess.Process, float]:
    """Start ``command`` and wait for ``ready`` in its output (stdout and stderr)."""
    started = time.perf_counter()
    proc = await asyncio.create_subprocess_exec(
        *command, cwd=cwd, env=env, stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    assert proc.stdout is not None
    tail: list[str] = []
    try:
        async with asyncio.timeout(within):
            while True:
                line = (await proc.stdout.readline()).decode(errors="replace")
                if not line:
                    what = " ".join(Path(part).name for part in command)
                    raise RuntimeError(f"{what} ended before ready:\n" + "".join(tail[-20:]))
                tail.append(line)
                if ready in line:
                    break
    except BaseException:
        if proc.returncode is None:
            proc.kill()
        await proc.wait()
        raise
    elapsed = time.perf_counter() - started

    async def drain() -> None:
        assert proc.stdout is not None
        while await proc.stdout.readline():
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


@dataclass
class Peer:
    """matrix-reminder-bot, started like the bot and idle as long; its RSS per run."""

    command: list[str]
    folder: Path
    rss: list[float] = field(default_factory=list)
    failed: str = ""

    async def once(self, idle: float, keep: bool) -> None:
        if self.failed:
            return
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        try:
            proc, _ = await start_until_ready(self.command, env, self.folder, PEER_READY)
        except (RuntimeError, TimeoutError) as exc:
            self.failed = str(exc) or "no login within 60 s"
            return
        await asyncio.sleep(idle)
        mb = rss_mb(proc.pid)
        await stop(proc)
        if keep:
            self.rss.append(mb)


def python(*args: str) -> list[str]:
    return [sys.executable, __file__, *args]


@dataclass
class Result:
    """One setup's runs after the warm-up: seconds to ready and MB of RSS, the bot's and
    its floor's, and which adapter libraries the bot had loaded."""

    name: str
    ready: list[float]
    floor_ready: list[float]
    cpu: list[float]
    floor_cpu: list[float]
    rss: list[float]
    floor_rss: list[float]
    libraries: list[str]

    def line(self) -> str:
        ready, floor = statistics.median(self.ready), statistics.median(self.floor_ready)
        cpu, floor_cpu = statistics.median(self.cpu), statistics.median(self.floor_cpu)
        rss, floor_rss = statistics.median(self.rss), statistics.median(self.floor_rss)
        wrong = "  <- not only the enabled adapters" if self.wrong else ""
        return (f"  {self.name:<12} {ready:7.2f}s {floor:7.2f}s {ready / floor:6.2f}"
                f"   {cpu:6.2f}s {floor_cpu:6.2f}s {cpu / floor_cpu:6.2f}"
                f"   {rss:5.1f}MB {floor_rss:5.1f}MB {rss / floor_rss:6.2f}"
                f"   {', '.join(self.libraries) or 'none'}{wrong}")

    def spread(self) -> str:
        ratios = [b / f for b, f in zip(self.ready, self.floor_ready, strict=True)]
        cpu = [b / f for b, f in zip(self.cpu, self.floor_cpu, strict=True)]
        return (f"  {self.name:<12} each run: ready ratio {min(ratios):.2f}–{max(ratios):.2f},"
                f" CPU ratio {min(cpu):.2f}–{max(cpu):.2f},"
                f" RSS {min(self.rss):.1f}–{max(self.rss):.1f}MB")

    @property
    def wrong(self) -> bool:
        loaded = set(self.libraries)
        return (self.name == "Matrix only" and bool(loaded & set(SLACK_LIBS))) or (
            self.name == "Slack only" and bool(loaded & set(MATRIX_LIBS)))


async def measure(name: str, folder: Path, env: dict[str, str], runs: int,
                  peer: Peer | None = None) -> Result:
    config = str(folder / "undersign.toml")
    modules = folder / "modules.json"
    result = Result(name, [], [], [], [], [], [], [])
    for run in range(runs + 1):  # run 0 warms up: byte-code, database, device keys
        proc, took = await start_until_ready(python("--bot", config, str(modules)), env, folder)
        cpu = cpu_s(proc.pid)
        await asyncio.sleep(IDLE_S)
        mb = rss_mb(proc.pid)
        if run == 0:
            proc.send_signal(signal.SIGUSR1)
            for _ in range(100):
                if modules.exists():
                    break
                await asyncio.sleep(0.05)
        await stop(proc)
        floor, floor_took = await start_until_ready(python("--floor", str(modules)), env, folder)
        floor_cpu = cpu_s(floor.pid)
        await asyncio.sleep(IDLE_S)
        floor_mb = rss_mb(floor.pid)
        await stop(floor)
        if peer is not None:
            await peer.once(IDLE_S, keep=run > 0)
        if run:
            result.ready.append(took)
            result.cpu.append(cpu)
            result.rss.append(mb)
            result.floor_ready.append(floor_took)
            result.floor_cpu.append(floor_cpu)
            result.floor_rss.append(floor_mb)
    loaded = {m.split(".", 1)[0] for m in json.loads(modules.read_text())}
    result.libraries = [m for m in (*SLACK_LIBS, *MATRIX_LIBS) if m in loaded]
    return result


def peer_for(hs: Synapse, work: Path) -> Peer | None:
    """matrix-reminder-bot configured on ``hs`` as bench/matrix_reply.py does, logging at
    INFO so that its login shows; None when it is not installed."""
    from matrix_reply import PEER, peer_config

    if not PEER.exists():
        return None
    _, config = peer_config(hs, work, "INFO")
    return Peer([str(PEER), str(config)], config.parent)


async def main(runs: int) -> int:
    sys.path.insert(0, str(ROOT))
    from tests.support.fake_slack import APP_TOKEN, BOT_TOKEN, FakeSlack
    from tests.support.homeserver import Synapse
    from tests.support.processes import PROXY_VARIABLES

    for var in PROXY_VARIABLES:
        os.environ.pop(var, None)
    for package in ("bot", "adapters", "commands"):  # as `make install` does (see Makefile)
        compileall.compile_dir(ROOT / package, quiet=1)
    work = Path(tempfile.mkdtemp(prefix="undersign-footprint-"))
    hs = Synapse(work / "synapse")
    hs.start()
    fake = FakeSlack()
    await fake.start()
    results: list[Result] = []
    try:
        peer = peer_for(hs, work)
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
            results.append(await measure(name, folder, env, runs,
                                         peer if name == "Matrix only" else None))
    finally:
        await fake.stop()
        hs.stop()
    print(f"footprint: median of {runs} runs after a warm-up; RSS after {IDLE_S:g} s idle at ready")
    print(f"  {'':<12} {'ready':>8} {'floor':>8} {'ratio':>6}   {'CPU':>7} {'floor':>7} {'ratio':>6}"
          f"   {'RSS':>7} {'floor':>7} {'ratio':>6}   libraries loaded")
    for result in results:
        print(result.line())
    for result in results:
        print(result.spread())
    print("  targets: ratios ≤ 1.1 (ready and RSS); only the enabled adapters' libraries loaded;"
          " CPU = seconds on a CPU until ready, waits left out")
    print(peer_line(peer, statistics.median(results[0].rss)))
    return 1 if any(result.wrong for result in results) else 0


def peer_line(peer: Peer | None, ours: float) -> str:
    if peer is None:
        return ("  matrix-reminder-bot: not installed in bench/.venvs/reminder-bot (`make bench` "
                "installs it; see bench/README.md); skipped")
    if peer.failed or not peer.rss:
        return f"  matrix-reminder-bot did not start; skipped:\n{peer.failed}"
    theirs = statistics.median(peer.rss)
    return (f"  matrix-reminder-bot, idle as long after its login: RSS {theirs:.1f}MB "
            f"({min(peer.rss):.1f}–{max(peer.rss):.1f}); Undersign Matrix only {ours:.1f}MB: "
            f"ratio {ours / theirs:.2f} (target ≤ 1)")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--bot"]:
        child_bot(sys.argv[2], sys.argv[3])
    elif sys.argv[1:2] == ["--floor"]:
        child_floor(sys.argv[2])
    else:
        raise SystemExit(asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 3)))
