"""egs/espeak8/local/base_study.sh on the tiny model: the adapted base (adapted on other languages, merged,
its lwasr.json saying on what), zero-shot of both bases, the 2x2 with its interaction, full fine-tuning, the
data-size arm, the constructed channel arm, and a re-run that trains nothing."""

from __future__ import annotations

import gzip
import json
import subprocess
from pathlib import Path

import pytest
from helpers import run_recipe

from lwasr.data.channels import BUILTIN_CHANNELS
from lwasr.data.cuts import load_cuts

pytestmark = pytest.mark.slow


def study(*args: str) -> subprocess.CompletedProcess:
    return run_recipe("espeak8", *args, script="local/base_study.sh", timeout=2400)


def test_base_study_runs_every_part_and_resumes(tmp_path: Path, tiny_whisper: Path) -> None:
    args = ["--model", str(tiny_whisper), "--tag", "b", "--langs", "pl", "--adapt-langs", "it"]
    args += ["--adapt-utts", "4", "--adapt-dev-utts", "2", "--adapt-epochs", "1", "--train-utts", "4"]
    args += ["--size-utts", "6", "--zeroshot-test-utts", "2", "--dev-utts", "2", "--test-utts", "4"]
    args += ["--epochs", "1", "--decode-max-duration", "60"]
    args += ["--data-root", str(tmp_path / "data"), "--expdir", str(tmp_path / "exp")]
    first = study(*args)
    assert first.returncode == 0, first.stdout[-4000:] + first.stderr[-4000:]
    exp = tmp_path / "exp"
    meta = json.loads((exp / "b_adapt" / "base" / "lwasr.json").read_text())
    assert (meta["kind"], meta["languages"], meta["extra"]["mode"]) == ("full", ["it"], "shared")
    assert meta["extra"]["export"]["source"].endswith("b_adapt/shared")  # what it was adapted on, and from what
    assert list(meta["extra"]["data"]["hours"]) == ["it"] and meta["extra"]["data"]["cuts"][0].endswith(
        "_it_train_cuts.jsonl.gz"
    )
    expert = json.loads((exp / "b_adapted" / "experts" / "pl" / "lwasr.json").read_text())
    assert expert["base_model"].endswith("b_adapt/base")  # every later stage trains on the adapted base
    zero = json.loads((exp / "b_study" / "ZEROSHOT.json").read_text())
    assert set(zero["systems"]) == {"original", "adapted"} and "vs_baseline" in zero["systems"]["adapted"]
    two = json.loads((exp / "b_study" / "TWO_BY_TWO.json").read_text())
    assert [s["role"] for s in two["systems"].values()] == ["first", "first_baseline", "second", "second_baseline"]
    assert two["interaction"]["macro"]["rel_ci"] is not None
    for base in ("b_orig", "b_adapted"):
        assert (exp / base / "decode_full_aware_test" / "hyp.jsonl").is_file()
    assert (exp / "b_adapted_n6" / "decode_experts_aware_test" / "hyp.jsonl").is_file()
    assert not (exp / "b_adapted_n6" / "decode_zeroshot_aware_test-first2").exists()  # zero-shot runs once
    size = json.loads((exp / "b_study" / "SIZE.json").read_text())
    assert list(size["systems"]) == ["experts_n4", "shared_n4", "experts_n6", "shared_n6"]
    channels = json.loads((exp / "b_study" / "CHANNELS.json").read_text())
    assert list(channels["systems"]) == ["experts_clean", "shared_clean", "experts_channels", "shared_channels"]
    zero_ch = json.loads((exp / "b_study" / "ZEROSHOT_CHANNELS.json").read_text())
    assert set(zero_ch["systems"]) == {"clean", "channels"}
    cut = next(iter(load_cuts(tmp_path / "data" / "b_channels", "pl", split="test")))
    assert cut.supervisions[0].custom["channel"] == BUILTIN_CHANNELS["pl"]  # every split of the arm's corpus
    times = (exp / "b_study" / "times.tsv").read_text().splitlines()
    assert [t.split("\t")[0] for t in times] == ["adapt", "zeroshot", "2x2", "full", "size", "channel"]

    kept = tmp_path / "kept"
    keep = run_recipe(
        "espeak8", str(tmp_path), "--tag", "b", "--out", str(kept), script="local/keep_base_study.sh", timeout=120
    )
    assert keep.returncode == 0, keep.stderr
    assert json.loads((kept / "adapted_base" / "lwasr.json").read_text()) == meta
    with gzip.open(kept / "adapted" / "decode_experts_aware_test" / "hyp.jsonl.gz", "rt") as f:
        assert f.read() == (exp / "b_adapted" / "decode_experts_aware_test" / "hyp.jsonl").read_text()
    assert (kept / "adapted_channels" / "decode_shared_aware_test" / "hyp.jsonl.gz").is_file()
    assert (kept / "TWO_BY_TWO.md").is_file() and (kept / "times.tsv").read_text() == "\n".join(times) + "\n"

    units = sorted(p.stat().st_mtime for p in exp.rglob("lwasr.json"))
    again = study(*args)  # resumes: nothing is trained or exported again
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    assert sorted(p.stat().st_mtime for p in exp.rglob("lwasr.json")) == units
