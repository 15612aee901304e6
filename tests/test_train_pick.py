"""Choosing a run on dev (`lwasr train pick`, the recipes' --lrs): the lowest best dev loss, linked, recorded."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from helpers import run_recipe

from lwasr.errors import LwasrError
from lwasr.training.select import pick_lowest_dev_loss
from lwasr.units.meta import ModelMeta


def unit(path: Path, dev_loss: float | None) -> Path:
    extra = {} if dev_loss is None else {"best_dev_loss": dev_loss}
    path.mkdir(parents=True)
    ModelMeta("lora", "embedded:whisper-base", "f", ["pl"], extra=extra).save(path)
    return path


def test_the_lowest_dev_loss_is_linked_and_recorded_and_a_rerun_replaces_the_link(tmp_path):
    a, b = unit(tmp_path / "lr1e-4" / "shared", 0.9), unit(tmp_path / "lr1e-3" / "shared", 0.7)
    out = tmp_path / "shared"
    assert pick_lowest_dev_loss([a, b], out) == b
    assert out.is_symlink() and os.readlink(out) == "lr1e-3/shared"
    assert ModelMeta.load(out).extra["best_dev_loss"] == 0.7
    record = json.loads((tmp_path / "shared.selection.json").read_text())
    assert record == {"chosen": str(b), "dev_loss": {str(a): 0.9, str(b): 0.7}}
    ModelMeta("lora", "embedded:whisper-base", "f", ["pl"], extra={"best_dev_loss": 0.5}).save(a)  # a retrained
    assert pick_lowest_dev_loss([a, b], out) == a and os.readlink(out) == "lr1e-4/shared"


def test_what_lwasr_did_not_make_is_refused_and_kept(tmp_path):
    a = unit(tmp_path / "lr1" / "full", 0.9)
    theirs = tmp_path / "full"
    theirs.mkdir()
    (theirs / "notes.txt").write_text("keep")
    with pytest.raises(LwasrError, match="already exists and is not an earlier selection"):
        pick_lowest_dev_loss([a], theirs)
    assert (theirs / "notes.txt").read_text() == "keep"
    link = tmp_path / "shared"
    link.symlink_to(a)
    with pytest.raises(LwasrError, match="a link that lwasr did not make"):
        pick_lowest_dev_loss([a], link)
    with pytest.raises(LwasrError, match="no dev loss in its lwasr.json: train it with --dev-cuts"):
        pick_lowest_dev_loss([unit(tmp_path / "nodev", None)], tmp_path / "x")
    with pytest.raises(LwasrError, match="is not a trained unit"):
        pick_lowest_dev_loss([tmp_path / "missing"], tmp_path / "y")


@pytest.mark.slow
def test_recipe_lrs_trains_each_lr_and_links_the_chosen_expert(tmp_path, tiny_whisper):
    dirs = ["--data", str(tmp_path / "data"), "--expdir", str(tmp_path / "exp"), "--tag", "t"]
    args = ["--quick", "--model", str(tiny_whisper), "--langs", "pl", "--lrs", "1e-3 1e-2", "--stop-stage", "3"]
    args += ["--train-utts", "3", "--dev-utts", "1", "--test-utts", "1", *dirs]
    result = run_recipe("espeak8", *args)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    exp = tmp_path / "exp" / "t"
    record = json.loads((exp / "experts" / "pl.selection.json").read_text())
    assert sorted(record["dev_loss"]) == [str(exp / f"lr{lr}" / "experts" / "pl") for lr in ("1e-2", "1e-3")]
    assert (exp / "experts" / "pl").is_symlink() and (exp / "experts" / "pl" / "lwasr.json").is_file()
    assert str((exp / "experts" / "pl").resolve()) == str(Path(record["chosen"]).resolve())
    for lr, name in (("0.001", "lr1e-3"), ("0.01", "lr1e-2")):
        assert f"\nlr: {lr}\n" in (exp / name / "train_expert_pl" / "config.yaml").read_text()


def test_bad_lrs_is_one_line(tmp_path):
    result = run_recipe("espeak8", "--lrs", "1e-4,1e-3", "--data", str(tmp_path / "d"), timeout=60)
    assert result.returncode == 2 and "--lrs '1e-4,1e-3' must be learning rates separated by spaces" in result.stderr


@pytest.mark.parametrize(
    ("recipe", "expected"),
    [
        ("espeak8", ["model embedded:whisper-base", "one LoRA per language, 6 epochs each"]),
        ("fleurs8", ["model openai/whisper-small", "one LoRA per language, 10 epochs each"]),
    ],
)
def test_paper_profile_trains_by_epoch(tmp_path, recipe, expected):
    dirs = ["--data", str(tmp_path / "data"), "--expdir", str(tmp_path / "exp"), "--tag", "t"]
    result = run_recipe(recipe, "--profile", "paper", "--stage", "3", "--stop-stage", "3", *dirs, timeout=60)
    assert result.returncode == 2 and "stage 3 needs the manifests of stage 1" in result.stderr  # no data here
    assert all(e in result.stdout for e in expected), result.stdout
