"""egs/espeak8/local/capacity.sh on the tiny model: one run per LoRA rank from shared data, the sweep table and
chart, the rank and alpha reaching the adapters, and a re-run that trains nothing."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from helpers import run_recipe

pytestmark = pytest.mark.slow


def capacity(*args: str) -> subprocess.CompletedProcess:
    return run_recipe("espeak8", *args, script="local/capacity.sh")


def test_capacity_study_sweeps_ranks_and_resumes(tmp_path: Path, tiny_whisper: Path) -> None:
    args = ["--ranks", "2 4", "--model", str(tiny_whisper), "--langs", "pl,it"]
    args += ["--train-utts", "4", "--dev-utts", "2", "--test-utts", "4", "--zeroshot-test-utts", "2"]
    args += ["--expert-steps", "2", "--shared-steps", "2", "--decode-max-duration", "60"]
    args += ["--data", str(tmp_path / "data"), "--expdir", str(tmp_path / "exp"), "--tag", "c"]
    first = capacity(*args)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    exp = tmp_path / "exp"
    for rank in (2, 4):
        for unit in (exp / f"c_r{rank}" / "experts" / "pl", exp / f"c_r{rank}" / "shared"):
            config = json.loads(next(unit.rglob("adapter_config.json")).read_text())
            assert (config["r"], config["lora_alpha"]) == (rank, 2 * rank), unit
        assert not (exp / f"c_r{rank}" / "full").exists()  # the capacity profile has no full fine-tuning
        assert not (exp / f"c_r{rank}" / "decode_zeroshot_aware_test-first2").exists()  # zero-shot runs once
    assert (exp / "c" / "decode_zeroshot_aware_test-first2" / "hyp.jsonl").is_file()
    data = json.loads((exp / "c" / "CAPACITY.json").read_text())
    points = data["series"]["experts_aware"]
    assert [p["x"] for p in points] == ["2", "4"] and all(p["baseline"] == "shared_aware" for p in points)
    for p, rank in zip(points, (2, 4), strict=True):  # each point is that rank's own comparison
        results = json.loads((exp / f"c_r{rank}" / "RESULTS.json").read_text())
        assert p["macro"] == results["systems"]["experts_aware"]["vs_baseline"]["macro"]
    assert (exp / "c" / "CAPACITY.png").stat().st_size > 0
    assert "| experts_aware | 4 |" in (exp / "c" / "CAPACITY.md").read_text()

    again = capacity(*args)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    assert "=== stage 3" not in again.stdout  # every rank finished: nothing trains or decodes again
