"""The systemd unit in deploy/: systemd's own checks, as an operator would run them.

``make test`` installs systemd-analyze from the distribution where it is missing; under CI a
missing one is a failure, never a skip."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

UNIT = Path(__file__).resolve().parents[1] / "deploy" / "undersign.service"
INSTALLED_AT = "/opt/undersign/.venv/bin/undersign"


@pytest.fixture
def analyze() -> str:
    found = shutil.which("systemd-analyze")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("systemd-analyze is missing: `make test` installs it (package systemd)")
        pytest.skip("systemd-analyze is not installed (make test installs it)")
    return found


@pytest.fixture
def unit(tmp_path: Path) -> Path:
    """The unit as installed, its ExecStart pointing at this checkout's `undersign` (verify
    checks that the program exists)."""
    here = Path(sys.executable).with_name("undersign")
    assert here.exists(), "the undersign entry point is not installed in this environment"
    text = UNIT.read_text()
    assert INSTALLED_AT in text
    installed = tmp_path / "undersign.service"
    installed.write_text(text.replace(INSTALLED_AT, str(here)))
    return installed


def test_systemd_analyze_verify_finds_nothing_wrong_with_the_unit(analyze: str,
                                                                  unit: Path) -> None:
    done = subprocess.run([analyze, "verify", str(unit)], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0 and not done.stderr.strip(), done.stderr


def test_systemd_analyze_security_rates_the_unit_ok(analyze: str, unit: Path) -> None:
    done = subprocess.run([analyze, "security", "--offline=true", "--no-pager", str(unit)],
                          capture_output=True, text=True, timeout=60)
    found = re.search(r"Overall exposure level for undersign\.service: ([0-9.]+) (\w+)",
                      done.stdout)
    assert found, done.stdout[-2000:] + done.stderr
    assert float(found[1]) <= 2.0, found[0]
    assert found[2] in ("OK", "SAFE"), found[0]


def test_the_unit_keeps_secrets_and_state_where_the_readme_says() -> None:
    text = UNIT.read_text()
    for line in ("DynamicUser=yes", "StateDirectory=undersign", "UMask=0077",
                 "EnvironmentFile=/etc/undersign/secrets.env", "Restart=on-failure",
                 "ProtectSystem=strict", "NoNewPrivileges=yes", "CapabilityBoundingSet=\n",
                 "SystemCallFilter=@system-service"):
        assert line in text, line
