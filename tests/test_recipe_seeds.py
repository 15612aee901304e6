"""The recipes' --seeds: the headline systems once per seed in exp/<tag>/seed<N>/, pooled by `score compare`.

The end-to-end test runs espeak8 on the tiny model with one language and the systems that need no baseline
training (experts, fused experts), so it stays short; the layout tests stop at an input check, before any
model is loaded. Outputs go to tmp dirs (--data, --expdir), never into the source tree.
"""

from __future__ import annotations

import json

import pytest
from helpers import fake_manifests, run_recipe, tmp_dirs


@pytest.mark.slow
def test_two_seeds_each_in_its_own_dir_resumable_and_pooled(tmp_path, tiny_whisper):
    args = ["--quick", "--model", str(tiny_whisper), "--langs", "pl", "--seeds", "1 2", "--zeroshot-test-utts", "1"]
    args += ["--train-utts", "2", "--dev-utts", "1", "--test-utts", "2", "--expand-langs", "", "--distill-steps", "0"]
    args += ["--baseline", "fused_sum_aware", *tmp_dirs(tmp_path)]
    exp = tmp_path / "exp" / "t"
    first = run_recipe("espeak8", *args, "--stop-stage", "3")
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    for seed in (1, 2):
        assert f"--- stage 3, seed {seed} (" in first.stdout
        assert (exp / f"seed{seed}" / "experts" / "pl" / "lwasr.json").is_file()
        assert f"seed: {seed}\n" in (exp / f"seed{seed}" / "train_expert_pl" / "config.yaml").read_text()
        assert (exp / "log" / f"stage3_seed{seed}.log").is_file()
    assert not (exp / "experts").exists()
    adapters = [(exp / f"seed{s}" / "experts" / "pl" / "adapter_model.safetensors").read_bytes() for s in (1, 2)]
    assert adapters[0] != adapters[1]
    # zero-shot is not trained: decoded once, on the first test utterance of each language
    assert (exp / "decode_zeroshot_aware_test-first1" / "hyp.jsonl").read_text().count("\n") == 1
    assert not list(exp.glob("seed*/decode_zeroshot_*"))

    again = run_recipe("espeak8", *args, "--stop-stage", "3")
    assert again.returncode == 0 and again.stdout.count("already done, skipping") == 3, again.stdout

    # a stage interrupted after its first seed resumes with the second
    (exp / ".done" / "stage3.done").unlink()
    (exp / ".done" / "stage3_seed2.done").unlink()
    resumed = run_recipe("espeak8", *args, "--stop-stage", "3")
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    assert "--- stage 3, seed 1: already done, skipping" in resumed.stdout
    assert "--- stage 3, seed 2 (" in resumed.stdout and (exp / ".done" / "stage3.done").is_file()

    rest = run_recipe("espeak8", *args, "--stage", "6")
    assert rest.returncode == 0, rest.stdout[-3000:] + rest.stderr[-3000:]
    for seed in (1, 2):
        for scenario in ("aware", "agnostic"):
            assert (exp / f"seed{seed}" / f"decode_fused_sum_{scenario}_test" / "hyp.jsonl").is_file()
    results = json.loads((exp / "RESULTS.json").read_text())
    fused = results["systems"]["fused_sum_aware"]
    assert fused["seeds"] == 2 and fused["seed_spread"] is not None
    assert fused["decode_dirs"] == [[str(exp / f"seed{s}" / "decode_fused_sum_aware_test")] for s in (1, 2)]
    assert "zeroshot_aware" not in results["systems"]  # another test set: compared on its own
    zeroshot = json.loads((exp / "RESULTS_zeroshot.json").read_text())["systems"]["zeroshot_aware"]
    assert zeroshot["seeds"] == 1 and zeroshot["utterances"] == 1
    md = (exp / "RESULTS.md").read_text()
    assert "## t (" in md and "), seeds 1 2" in md
    assert "- recipe: `bash " in md and "run.sh --quick" in md and "--seeds 1\\ 2" in md


@pytest.mark.parametrize(
    ("seeds", "missing"),
    [("", "experts/pl/lwasr.json"), ("7", "experts/pl/lwasr.json"), ("3 5", "seed3/experts/pl/lwasr.json")],
)
def test_one_seed_keeps_the_flat_layout_several_get_seed_dirs(tmp_path, seeds, missing):
    fake_manifests(tmp_path, "synth", ["pl"], ["train", "dev", "test"])
    args = ("--langs", "pl", "--seeds", seeds, "--stage", "5", "--stop-stage", "5", *tmp_dirs(tmp_path))
    result = run_recipe("espeak8", *args, timeout=60)
    assert result.returncode == 2, result.stdout + result.stderr
    expected = tmp_path / "exp" / "t" / missing
    assert f"stage 5 needs the experts of stage 3: {expected} is missing" in result.stderr


@pytest.mark.parametrize(("extra", "missing"), [((), "seed1/experts/pl/lwasr.json"), (("--seeds", "7"), "experts/pl")])
def test_claims_profile_trains_three_seeds_unless_told_otherwise(tmp_path, extra, missing):
    fake_manifests(tmp_path, "synth", ["pl"], ["train", "dev", "test"])
    args = ("--profile", "claims", "--langs", "pl", *extra, "--stage", "5", "--stop-stage", "5", *tmp_dirs(tmp_path))
    result = run_recipe("espeak8", *args, timeout=60)
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"{tmp_path / 'exp' / 't' / missing}" in result.stderr
    assert ("seeds 1 2 3" in result.stdout) == (not extra)


@pytest.mark.parametrize(
    ("seeds", "message"),
    [
        ("1 x", "--seeds '1 x' must be whole numbers separated by spaces"),
        ("2,02", "--seeds '2,02' gives seed 2 twice"),
    ],
)
def test_bad_seeds_are_one_line_before_anything_is_written(tmp_path, seeds, message):
    result = run_recipe("espeak8", "--seeds", seeds, *tmp_dirs(tmp_path), timeout=60)
    assert result.returncode == 2 and message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "exp").exists()


@pytest.mark.slow
def test_epochs_train_experts_by_epoch_validated_at_each_epochs_end(tmp_path, tiny_whisper):
    """--epochs N (the paper's protocol): stages 3-4 train N epochs with per-epoch validation, not --*-steps."""
    args = ["--quick", "--model", str(tiny_whisper), "--langs", "pl", "--epochs", "2", "--patience", "3"]
    args += ["--train-utts", "3", "--dev-utts", "1", "--test-utts", "1", *tmp_dirs(tmp_path), "--stop-stage", "3"]
    result = run_recipe("espeak8", *args)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "stage 3: Train the language experts: one LoRA per language, 2 epochs each" in result.stdout
    run = tmp_path / "exp" / "t" / "train_expert_pl"
    config = (run / "config.yaml").read_text()
    assert all(f"\n{line}\n" in config for line in ("max_steps: 0", "num_epochs: 2", "valid_every: 0", "patience: 3"))
    assert (run / "train.log").read_text().count(" dev loss ") == 2


def test_bad_epochs_is_one_line(tmp_path):
    result = run_recipe("espeak8", "--epochs", "two", *tmp_dirs(tmp_path), timeout=60)
    assert result.returncode == 2 and "--epochs must be a whole number >= 0, not 'two'" in result.stderr
