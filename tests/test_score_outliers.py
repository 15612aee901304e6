"""Outliers (error above 100%, repetition loops), the robust summary, and the provenance header."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import git, table_rows, write_decode
from typer.testing import CliRunner

from lwasr.cli import app
from lwasr.envinfo import command_line, git_commit
from lwasr.scoring.metrics import score_records
from lwasr.scoring.outliers import ends_in_loop, without_worst


@pytest.mark.parametrize(
    ("text", "loop"),
    [
        ("the the the the", True),
        ("i dom i dom i dom i dom", True),
        ("ala ma kota i dom i dom i dom i dom i", True),  # the token budget cut the 5th copy short
        ("ala ma kota i dom i dom i dom", False),  # 3 copies
        ("ala ma kota a kot ma ale", False),
        ("", False),
    ],
)
def test_ends_in_loop(text: str, loop: bool) -> None:
    assert ends_in_loop(text.split()) is loop


def test_loops_in_characters() -> None:
    assert ends_in_loop(list("我每天早上好好好好"))
    assert not ends_in_loop(list("我每天早上七点起床"))


def test_without_worst() -> None:
    assert without_worst({"pl": 10.0, "ja": 145.0, "zh": 20.0}) == (15.0, "ja")
    assert without_worst({"pl": 10.0}) == (None, None)


def test_score_counts_outliers_per_language(tmp_path: Path) -> None:
    recs = [
        {"id": "a", "lang": "pl", "ref": "ala ma kota", "hyp": "ala ma kota ma kota ma kota ma kota"},  # both
        {"id": "b", "lang": "pl", "ref": "ala ma kota", "hyp": "x y z w"},  # 3 sub + 1 ins: 133%
        {"id": "c", "lang": "pl", "ref": "ala ma kota", "hyp": "ala"},
        {"id": "d", "lang": "zh", "ref": "你好", "hyp": "你好"},
    ]
    r = score_records(recs)
    assert (r["languages"]["pl"]["over_100"], r["languages"]["pl"]["loops"]) == (2, 1)
    assert (r["languages"]["zh"]["over_100"], r["languages"]["zh"]["loops"]) == (0, 0)
    assert (r["macro_without_worst"], r["worst_language"]) == (0.0, "pl")
    decode = write_decode(tmp_path / "x" / "decode_test", recs)
    res = CliRunner().invoke(app, ["score", str(decode)])
    assert res.exit_code == 0, res.output
    detail = table_rows((tmp_path / "x" / "RESULTS.md").read_text(), "Lang")
    assert detail["pl"][-2:] == ["2", "1"] and detail["zh"][-2:] == ["0", "0"]


def test_git_commit(tmp_path: Path) -> None:
    assert git_commit(tmp_path) == "unknown"  # not a checkout
    git(tmp_path, "init", "-q")
    (tmp_path / "a.txt").write_text("1")
    git(tmp_path, "add", "a.txt")
    git(tmp_path, "commit", "-q", "-m", "x")
    clean = git_commit(tmp_path)
    assert len(clean) == 12 and int(clean, 16) >= 0
    (tmp_path / "a.txt").write_text("2")
    assert git_commit(tmp_path) == f"{clean} (dirty)"


def test_command_line() -> None:
    assert command_line(["/venv/bin/lwasr", "score", "a b"]) == "lwasr score 'a b'"
    assert command_line(["/src/lwasr/__main__.py", "score"]) == "lwasr score"
    assert command_line(["pytest", "-q"]) == "pytest -q"
