"""--print-config calls the command's plan only: nothing on disk changes and no model is loaded, on a finished
output and with --overwrite too (issue 25)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import yaml
from peft import LoraConfig
from typer.testing import CliRunner

from lwasr.atomic import OUTPUT_MARKER
from lwasr.cli import app
from lwasr.training.config import LORA_TARGETS
from lwasr.units.meta import ModelMeta

BASE = "embedded:whisper-base"


def unit(path: Path, kind: str, langs: list[str], producer: str | None = None) -> Path:
    """A unit's metadata (lwasr.json, and adapter_config.json for a LoRA): all that a plan reads."""
    path.mkdir(parents=True)
    if kind == "lora":
        LoraConfig(r=4, lora_alpha=8, target_modules=list(LORA_TARGETS)).save_pretrained(str(path))
    ModelMeta(kind, BASE, "f" * 16, langs).save(path)
    if producer:
        (path / OUTPUT_MARKER).write_text(json.dumps({"producer": producer}) + "\n")
    return path


def run_dir(path: Path) -> None:
    """An earlier run's working files, and a file of the user's."""
    (path / "checkpoints" / "step-00000002").mkdir(parents=True)
    (path / "checkpoints" / "step-00000002" / "model.pt").write_bytes(b"weights")
    (path / "train.log").write_text("log\n")
    (path / "my_notes.txt").write_text("mine\n")


@pytest.fixture
def exp(tmp_path: Path) -> Path:
    """exp/<tag>/ with experts pl, pt, shared and full baselines, and finished outputs of every command."""
    tag = tmp_path / "exp"
    for lang in ("pl", "pt"):
        unit(tag / "experts" / lang, "lora", [lang], "lwasr train")
    unit(tag / "shared", "lora", ["pl", "pt"], "lwasr train")
    unit(tag / "full", "full", ["pl", "pt"], "lwasr train")
    unit(tag / "expand_warm" / "it", "lora", ["it"], "lwasr expand")
    run_dir(tag / "expand_warm" / "train_it")
    unit(tag / "fused_learned", "lora", ["pl", "pt"], "lwasr fuse")
    ModelMeta("lora", BASE, "f" * 16, ["pl", "pt"], extra={"fusion": "learned"}).save(tag / "fused_learned")
    run_dir(tag / "train_fused_learned")
    unit(tag / "distilled_aware", "lora", ["pl", "pt"], "lwasr distill")
    run_dir(tag / "train_distilled_aware")
    run_dir(tag / "train_expert_pl")
    (tmp_path / "cuts.jsonl.gz").write_bytes(b"not read by a plan")
    return tag


def tree(root: Path) -> dict[str, str]:
    """Every path under ``root`` -> the sha256 of its content (directories: "dir")."""
    return {
        str(p.relative_to(root)): "dir" if p.is_dir() else hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
    }


pytestmark = pytest.mark.usefixtures("no_model")  # conftest: loading a model fails the test


def commands(tag: Path) -> dict[str, list[str]]:
    cuts = str(tag.parent / "cuts.jsonl.gz")
    experts = str(tag / "experts")
    expand = ["expand", "--experts", experts, "--new-lang", "it", "--cuts", cuts]
    learned = ["fuse", "--experts", experts, "--langs", "pl,pt", "--cuts", cuts, "--out", str(tag / "fused_learned")]
    return {
        "train": ["train", "--mode", "expert", "--lang", "pl", "--cuts", cuts, "--exp-dir", str(tag)],
        "train experts": ["train", "experts", "--langs", "pl,pt", "--cuts", cuts, "--exp-dir", str(tag)],
        "fuse learned": [*learned, "--method", "learned"],
        "fuse sum": ["fuse", "--experts", experts, "--langs", "pl,pt", "--out", str(tag / "fused_sum")],
        "distill": ["distill", "--teachers", experts, "--cuts", cuts, "--exp-dir", str(tag)],
        "expand warm": [*expand, "--init", "warm", "--out", str(tag / "expand_warm" / "it")],
        "expand moe": [*expand, "--init", "moe"],
        "expand random": [*expand, "--init", "random"],
        "expand continue-shared": [*expand, "--init", "continue-shared"],
        "expand continue-full": [*expand, "--init", "continue-full"],
    }


NAMES = list(commands(Path("x")))


@pytest.mark.parametrize("overwrite", [False, True], ids=["keep", "overwrite"])
@pytest.mark.parametrize("name", NAMES)
def test_print_config_changes_nothing_and_loads_no_model(exp, name, overwrite):
    before = tree(exp.parent)
    args = [*commands(exp)[name], "--print-config", *(["--overwrite"] if overwrite else [])]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, (result.output, result.exception)
    assert tree(exp.parent) == before
    yaml.safe_load(result.output)  # YAML (a finished, kept output prints a comment)


def test_print_config_of_a_warm_start_names_what_the_run_still_computes(exp):
    args = [*commands(exp)["expand warm"], "--out", str(exp / "new" / "it"), "--print-config", "--lr", "0.25"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    printed = yaml.safe_load(result.output)
    assert printed["lr"] == 0.25 and printed["init"] == "warm" and printed["source"] is None
    assert "similarity.json" in result.output.splitlines()[0]
    assert not (exp / "new").exists()


def test_print_config_of_a_warm_start_with_a_ranking_is_complete(exp, tmp_path):
    sim = tmp_path / "sim.json"
    sim.write_text(json.dumps({"lang": "it", "ranking": [{"lang": "pt", "prob": 0.6}, {"lang": "pl", "prob": 0.2}]}))
    args = [*commands(exp)["expand moe"], "--similarity", str(sim), "--moe-k", "2", "--print-config"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    printed = yaml.safe_load(result.output)
    assert printed["moe_langs"] == ["pt", "pl"] and printed["moe_weights"] == pytest.approx([0.75, 0.25])


def test_a_bad_setting_is_refused_by_the_plan(exp):
    before = tree(exp.parent)
    result = CliRunner().invoke(app, [*commands(exp)["expand moe"], "--lr", "-1", "--print-config"])
    assert result.exit_code != 0 and "lr must be > 0" in str(result.exception)
    assert tree(exp.parent) == before
