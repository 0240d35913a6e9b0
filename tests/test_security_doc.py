"""SECURITY.md backs every claim with a named test: each name it gives must exist."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REF = re.compile(r"`((?:tests/[\w/]+\.py)?)(?:::(test_\w+))?`")


def test_every_test_security_md_names_exists() -> None:
    text = (ROOT / "SECURITY.md").read_text(encoding="utf-8")
    current: Path | None = None
    checked = 0
    for file, name in REF.findall(text):
        if file:
            current = ROOT / file
            assert current.exists(), file
        if name:
            assert current is not None, name
            assert re.search(rf"def {name}\b", current.read_text(encoding="utf-8")), (
                f"{current.relative_to(ROOT)}::{name} is named in SECURITY.md but does not exist")
            checked += 1
    assert checked > 40
