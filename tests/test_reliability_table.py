"""docs/reliability.md's promise is its tests: every test a row names exists (a renamed test left a row pointing
nowhere once)."""

from __future__ import annotations

import re
from pathlib import Path

from helpers import ROOT

TESTS = ROOT / "tests"


def _defines(module: str, test: str) -> bool:
    return any(f"def {test}(" in p.read_text(encoding="utf-8") for p in TESTS.rglob(Path(module).name))


def test_every_test_named_in_the_reliability_table_exists():
    table = (ROOT / "docs" / "reliability.md").read_text(encoding="utf-8")
    named = re.findall(r"((?:faults/)?test_\w+\.py)::(test_\w+)", table)
    assert len(named) > 50
    assert [f"{m}::{t}" for m, t in named if not _defines(m, t)] == []
