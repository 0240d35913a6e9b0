"""`undersign run` as a person meets it: a real process, piped input, a real database file."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.seal import Sealer, load_key
from tests.support.processes import run_console
from tests.support.storage import db_bytes

NAMES = ["alicia", "bertrand", "chiamaka", "dolores"]


def test_a_letter_life_cycle_on_the_console(tmp_path: Path) -> None:
    done = run_console(tmp_path, [
        '/undersign new "Open letter on pay" link https://example.org/pay visibility public',
        "bertrand> /undersign sign L1",
        "chiamaka> :react 1 ✍️",
        "chiamaka> :unreact 1 ✍️",
        "alicia> /undersign signers L1",
        "you> /undersign close L1",
    ])
    assert done.returncode == 0, done.stderr
    out = done.stdout.splitlines()
    assert out[0] == "[general #1] 📝 L1: Open letter on pay"
    assert ("[to bertrand] You signed L1 Open letter on pay, listed by your display name in "
            "the signature block. To withdraw: unsign L1.") in out
    assert "[to chiamaka] You withdrew from L1 Open letter on pay. Nothing of your signature is kept." in out
    assert "[to alicia] Only the organizers of L1 can do that." in out
    closed = out.index("[to you] L1 closed. Its signature block:")
    assert out[closed + 6:closed + 8] == ["    Signed by 1:", "    bertrand"], out[closed:]
    # the announcement is printed again with its number at each change
    assert sum(line.startswith("[general #1] ") for line in out) == 5
    assert "> " not in done.stdout.split("[", 1)[0], "no prompt when input is not a terminal"
    assert "Traceback" not in done.stderr


def test_letters_and_signatures_survive_a_restart(tmp_path: Path) -> None:
    run_console(tmp_path, ['/undersign new "Keep me" visibility public', "bertrand> /undersign sign L1"])
    again = run_console(tmp_path, ["/undersign status L1", ":react 1 ✍️", '/undersign new "Second"'])
    assert "Signed by: bertrand" in again.stdout
    assert "[to you] You signed L1" in again.stdout
    # message numbers go on from where they were, so old numbers keep their meaning
    assert "[general #2] 📝 L2: Second" in again.stdout


def test_bad_input_never_stops_the_bot(tmp_path: Path) -> None:
    done = run_console(tmp_path, [
        "", "   ", "x" * 10_000, "/undersign " + "y" * 10_000, "\x00\x01\x7f binary \udcff"[:-1],
        '/undersign new "unbalanced', "/undersign new x threshold -1",
        "/undersign new x link notaurl", ":react 99 ✍️", ":dance", "chiamaka> /undersign",
        '/undersign new "Still alive"',
    ])
    assert done.returncode == 0 and "Traceback" not in done.stderr
    assert "[general #1] 📝 L1: Still alive" in done.stdout
    assert "never closed" in done.stdout and "There is no message #99." in done.stdout


def test_the_database_names_nobody_and_forget_me_leaves_no_trace(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("UNDERSIGN_DB_KEY")  # read the key file the bot made, as it does
    lines = ['/undersign new "Letter" visibility public']
    lines += [f"{n}> /undersign sign L1" for n in NAMES]
    done = run_console(tmp_path, lines)
    assert done.returncode == 0
    raw = db_bytes(tmp_path / "undersign.db")
    assert raw, "the database files exist"
    for name in NAMES:
        assert name.encode() not in raw and name.encode("utf-16-le") not in raw
    sealer = Sealer(load_key(tmp_path / "undersign.db"))
    index = sealer.person_index("signatures", 1, "console:dolores")
    assert index in raw, "the blind index is how signatures are found"
    done = run_console(tmp_path, ["dolores> /undersign forget-me"])
    assert "1 signature erased" in done.stdout
    raw = db_bytes(tmp_path / "undersign.db")
    assert index not in raw, "forget-me left the caller's blind index in the files"
    assert sealer.person_index("signatures", 1, "console:bertrand") in raw


def test_a_key_file_is_made_with_mode_0600_and_a_wrong_key_stops_start_up(tmp_path: Path) -> None:
    run_console(tmp_path, ['/undersign new "x"'])
    assert (tmp_path / "undersign.db.key").stat().st_mode & 0o777 == 0o600
    done = run_console(tmp_path, ["/undersign list"], key="b" * 43)
    assert done.returncode == 1
    assert "sealed with another key" in done.stderr and "Traceback" not in done.stderr
    (tmp_path / "undersign.db.key").chmod(0o644)
    done = run_console(tmp_path, ["/undersign list"])
    assert done.returncode == 1 and "readable by others" in done.stderr


def test_logs_name_nobody_even_at_debug(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "UNDERSIGN_DB_KEY"}
    lines = ['/undersign new "Secret Title Xq" link https://example.org/hidden-path',
             *[f"{n}> /undersign sign L1" for n in NAMES],
             '/undersign new "Sealed Zq" visibility sealed threshold 9',
             "alicia> /undersign sign L2", "/undersign close L2", "bertrand> /undersign forget-me",
             "/undersign export L1", "dolores> /undersign sign L77"]
    done = subprocess.run(
        [sys.executable, "-m", "bot.cli", "run", "--debug"], input="\n".join(lines) + "\n",
        text=True, capture_output=True, cwd=tmp_path, timeout=60,
        env={**env, "PYTHONPATH": str(Path.cwd())},
    )
    assert done.returncode == 0 and "Undersign is starting" in done.stderr
    for secret in [*NAMES, "Secret Title Xq", "Sealed Zq", "hidden-path"]:
        assert secret not in done.stderr, f"{secret!r} is in the log"
