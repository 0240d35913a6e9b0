"""Failures are logged by type (and status or errcode), their text only when unredacted."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import aiohttp
import pytest

from bot import cli, logsafe
from tests.support.bot import TEST_KEY
from tests.support.processes import run_console


class _Coded(Exception):
    status_code = "M_FORBIDDEN"


def test_a_failure_is_logged_by_type_status_and_errcode_never_its_text() -> None:
    exc = aiohttp.ClientResponseError(
        None, (), status=403, message="forbidden in !room:hs for @bob:hs")  # type: ignore[arg-type]
    assert logsafe.fault(exc) == "ClientResponseError, HTTP 403"
    assert logsafe.fault(_Coded("!room:hs")) == "_Coded, M_FORBIDDEN"
    assert logsafe.fault(ValueError("No such room with id !room:hs")) == "ValueError"


def test_the_traceback_is_attached_only_in_the_unredacted_mode(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(logsafe, "UNREDACTED", False)
    monkeypatch.setattr(logging.root, "handlers", [])
    monkeypatch.setattr(logging.root, "level", logging.WARNING)
    exc = ValueError("!room:hs")
    cli._logging(debug=True, unredacted=False)
    assert not logsafe.UNREDACTED and logsafe.trace(exc) is None
    cli._logging(debug=False, unredacted=True)
    assert logsafe.UNREDACTED and logsafe.trace(exc) is exc
    for ours in ("undersign", "bot", "adapters", "commands"):
        logging.getLogger(ours).setLevel(logging.NOTSET)


def test_json_logs_are_one_object_a_line_and_name_nobody(tmp_path: Path) -> None:
    done = run_console(tmp_path, [
        'alice-jsonlog> /undersign new "A title for the json log" visibility count',
        "bob-jsonlog> /undersign sign L1",
        "bob-jsonlog> /undersign nonsense",
    ], key=TEST_KEY, args=("--log-format", "json"))
    assert done.returncode == 0, done.stderr
    lines = done.stderr.strip().splitlines()
    assert lines, "the bot logged nothing"
    records = [json.loads(line) for line in lines]
    assert {"time", "level", "logger", "message"} <= set(records[0])
    assert any("starting" in r["message"] for r in records)
    for secret in ("alice-jsonlog", "bob-jsonlog", "A title for the json log", "nonsense"):
        assert secret not in done.stderr
