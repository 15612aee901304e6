"""`lwasr score sweep`: one system's paired change against the baseline, followed across several comparisons."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import base_errors, records, table_rows, write_decode
from typer.testing import CliRunner

from lwasr.cli import app
from lwasr.errors import LwasrError

runner = CliRunner()


def comparison(root: Path, name: str, errors) -> Path:  # noqa: ANN001 - a callable i -> errors
    """``score compare`` of a baseline and ``experts`` (with ``errors`` per utterance) under ``root/name``."""
    write_decode(root / name / "shared" / "decode_test", records(base_errors))
    write_decode(root / name / "experts" / "decode_test", records(errors))
    out = root / name / "RESULTS.md"
    res = runner.invoke(
        app,
        [
            "score",
            "compare",
            str(root / name / "shared" / "decode_test"),
            str(root / name / "experts" / "decode_test"),
            "--name",
            "shared",
            "--name",
            "experts",
            "--baseline",
            "shared",
            "--resamples",
            "200",
            "--out",
            str(out),
        ],
    )
    assert res.exit_code == 0, res.output
    return out.with_suffix(".json")


@pytest.fixture
def sweep_inputs(tmp_path: Path) -> list[Path]:
    """Three experiments: experts worse (one more error), level, better (one fewer) than the baseline."""
    return [
        comparison(tmp_path, "r4", lambda i: base_errors(i) + 1),
        comparison(tmp_path, "r8", base_errors),
        comparison(tmp_path, "r32", lambda i: base_errors(i) - 1),
    ]


def run_sweep(*args: str | Path) -> object:
    return runner.invoke(app, ["score", "sweep", *map(str, args)])


def test_table_json_and_chart_follow_each_comparison(tmp_path: Path, sweep_inputs: list[Path]) -> None:
    out = tmp_path / "capacity.md"
    xs = ["--x", "4", "--x", "8", "--x", "32"]
    res = run_sweep(*sweep_inputs, *xs, "--system", "experts", "--xlabel", "LoRA rank", "--out", out)
    assert res.exit_code == 0, res.output
    data = json.loads(out.with_suffix(".json").read_text())
    points = data["series"]["experts"]
    assert [p["x"] for p in points] == ["4", "8", "32"]
    for p, src in zip(points, sweep_inputs, strict=True):  # the values are those score compare stored
        assert p["macro"] == json.loads(src.read_text())["systems"]["experts"]["vs_baseline"]["macro"]
    worse, level, better = (p["macro"] for p in points)
    assert worse["rel_ci"][0] > 0 and better["rel_ci"][1] < 0 and level["rel_ci"] == [0.0, 0.0]
    rows = table_rows(out.read_text(), "System")  # one row per system; the last setting's row wins the key
    assert rows["experts"][0] == "32" and rows["experts"][3] == "yes: better"
    assert "| experts | 4 |" in out.read_text() and "yes: worse" in out.read_text()
    assert out.with_suffix(".png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_wrong_inputs_are_clear_errors(tmp_path: Path, sweep_inputs: list[Path]) -> None:
    out = tmp_path / "s.md"
    cases = {
        "2 --x values given for 3 comparisons": [*sweep_inputs, "--x", "4", "--x", "8", "--system", "experts"],
        "no system 'router'": [*sweep_inputs[:1], "--x", "4", "--system", "router"],
        "'shared' is the baseline": [*sweep_inputs[:1], "--x", "4", "--system", "shared"],
        "no such file": [tmp_path / "nope.json", "--x", "4", "--system", "experts"],
        "--x values must differ": [*sweep_inputs[:2], "--x", "4", "--x", "4", "--system", "experts"],
    }
    for message, args in cases.items():
        res = run_sweep(*args, "--out", out)
        assert isinstance(res.exception, LwasrError) and message in str(res.exception), (message, res.output)
    assert not out.exists()  # nothing written on a refused sweep
