"""Non-finite numbers: NaN or inf in a numeric list option, or in a unit's weights, never reaches a model."""

from __future__ import annotations

import shutil

import pytest
import torch
from helpers import fuse_args, make_cuts, one_line_error, run_main
from safetensors.torch import load_file, save_file

from lwasr.errors import LwasrError
from lwasr.loaders import load_system
from lwasr.units.meta import META_FILE, ModelMeta

ADAPTER = "adapter_model.safetensors"


@pytest.mark.parametrize("weights", ["1,nan", "1,inf", "-inf,1"])
def test_fuse_weights_that_are_not_finite_are_one_line_and_write_nothing(
    pl_pt_experts, tmp_path, monkeypatch, capsys, weights
):
    out = tmp_path / "fused"
    status, err = run_main(
        monkeypatch, capsys, *fuse_args(pl_pt_experts, out, "--langs", "pl,pt", "--weights", weights)
    )
    assert status == 2
    assert one_line_error(err).startswith("error: --weights: expected comma-separated numbers, all finite")
    assert not out.exists()


def test_a_numeric_training_list_that_is_not_finite_is_one_line(tmp_path, tiny_whisper, monkeypatch, capsys):
    cuts = make_cuts(tmp_path / "data", langs=("pl",), per_lang=1)
    args = ["train", "--mode", "expert", "--lang", "pl", "--cuts", str(cuts), "--model", str(tiny_whisper)]
    status, err = run_main(
        monkeypatch, capsys, *args, "--exp-dir", str(tmp_path / "exp"), "--set", "speed_perturb=[0.9,.inf]"
    )
    assert status == 2
    assert "config speed_perturb: expected comma-separated numbers, all finite" in one_line_error(err)
    assert not (tmp_path / "exp").exists()


def poisoned(expert, root):
    """A copy of ``expert`` whose first LoRA tensor holds a NaN (weights only, its lwasr.json kept)."""
    unit = shutil.copytree(expert, root / expert.name)
    state = load_file(unit / ADAPTER)
    name = sorted(state)[0]
    state[name][0, 0] = float("nan")
    save_file(state, str(unit / ADAPTER))
    return unit, name


def test_a_unit_with_nan_weights_is_refused_when_written(experts, tmp_path):
    unit, name = poisoned(experts / "pl", tmp_path)
    meta = ModelMeta.load(unit)
    (unit / META_FILE).unlink()
    with pytest.raises(LwasrError, match=f"unit {unit}: tensor {name} holds NaN"):
        meta.save(unit)
    assert not (unit / META_FILE).exists()


def test_a_unit_with_nan_weights_is_refused_when_loaded(experts, tmp_path):
    root = tmp_path / "experts"
    shutil.copytree(experts / "pt", root / "pt")
    unit, name = poisoned(experts / "pl", root)
    with pytest.raises(LwasrError, match=f"unit {unit}: tensor {name} holds NaN"):
        load_system(str(root), None)
    with pytest.raises(LwasrError, match=f"tensor {name} holds NaN"):
        load_system(str(unit), None)  # the one expert, as a lora unit


def test_a_full_model_with_inf_weights_is_refused_when_loaded(tiny_whisper, tmp_path):
    from lwasr.units.base import load_whisper

    model = shutil.copytree(tiny_whisper, tmp_path / "full")
    weights = next(model.glob("*.safetensors"))
    state = load_file(weights)
    name = sorted(k for k, v in state.items() if v.is_floating_point())[0]
    state[name].view(-1)[0] = torch.inf
    save_file(state, str(weights), metadata={"format": "pt"})
    with pytest.raises(LwasrError, match=f"tensor .*{name.split('.')[-1]} holds inf"):
        load_whisper(str(model))
