"""Bad training settings: one line (exit 2) before any work, in `lwasr train` and every config built on TrainConfig."""

from __future__ import annotations

import re
import sys

import pytest
from helpers import make_cuts, one_line_error, run_main, small

from lwasr.distill.config import DistillConfig
from lwasr.errors import LwasrError
from lwasr.expansion.config import ExpandConfig
from lwasr.fusion.learned import FuseConfig
from lwasr.training import loop
from lwasr.training.loop import Trainer, train
from lwasr.units.meta import ModelMeta


def no_work(*args, **kwargs):
    pytest.fail("a bad setting should have been refused before this")


def train_args(tmp_path, tiny_whisper, manifests) -> list[str]:
    cuts, _ = manifests
    return ["train", "--lang", "pl", "--cuts", str(cuts), "--model", str(tiny_whisper), "--exp-dir", str(tmp_path)]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--max-steps", "-3"], "max_steps must be >= 1, or 0 to let num_epochs decide; got -3"),
        (["--max-steps", "0", "--num-epochs", "0"], "num_epochs must be >= 1, got 0"),
        (["--lr", "-0.001"], "lr must be > 0, got -0.001"),
        (["--set", "lr=.nan"], "lr must be a finite number, got nan"),
        (["--lora-rank", "0"], "lora_rank must be >= 1, got 0"),
        (["--set", "lora_alpha=0"], "lora_alpha must be > 0, got 0"),
        (["--set", "lora_dropout=1.0"], "lora_dropout must be in [0, 1), got 1.0"),
        (["--set", "warmup_steps=-1"], "warmup_steps must be >= 0, got -1"),
        (["--set", "log_every=0"], "log_every must be >= 1, got 0"),
        (["--set", "valid_every=-1"], "valid_every must be >= 0, got -1"),
        (["--set", "num_buckets=0"], "num_buckets must be >= 1, got 0"),
        (["--set", "speed_perturb=[0.0]"], "speed_perturb factors must be > 0, got [0.0]"),
    ],
)
def test_bad_setting_is_one_line_before_any_work(
    tmp_path,
    tiny_whisper,
    manifests,
    monkeypatch,
    capsys,
    args,
    message,
):
    monkeypatch.setattr(loop, "load_whisper", no_work)  # the model is never loaded
    status, err = run_main(monkeypatch, capsys, *train_args(tmp_path / "exp", tiny_whisper, manifests), *args)
    assert status == 2 and one_line_error(err) == f"error: {message}"
    assert not (tmp_path / "exp").exists()


@pytest.mark.parametrize("target", ["foo_proj", "self_attn"])
def test_target_modules_must_name_layers_of_the_model(tmp_path, tiny_whisper, manifests, monkeypatch, capsys, target):
    monkeypatch.setattr(Trainer, "run", no_work)
    args = [*train_args(tmp_path / "exp", tiny_whisper, manifests), "--set", f"lora_target_modules=[{target}]"]
    status, err = run_main(monkeypatch, capsys, *args)
    line = one_line_error(err)
    assert status == 2 and f"lora_target_modules: {target!r} names no linear, conv or embedding layer" in line
    assert "fc1" in line and "q_proj" in line and "out_proj" in line
    assert not (tmp_path / "exp" / "experts").exists()


def test_one_bucket_and_a_one_cut_dev_set_train(tmp_path, tiny_whisper, manifests):
    dev = make_cuts(tmp_path / "dev", langs=("pl",), per_lang=1, name="cuts_dev")
    unit = train(small(tmp_path, tiny_whisper, (manifests[0], dev), num_buckets=1, max_steps=2))
    log = (tmp_path / "exp" / "train_expert_pl" / "train.log").read_text()
    assert ModelMeta.load(unit).extra["steps"] == 2 and "dev loss" in log


@pytest.mark.parametrize(
    ("cls", "values", "message"),
    [
        (DistillConfig, {"teachers": "exp/experts", "lr": -1.0}, "lr must be > 0"),
        (FuseConfig, {"experts": "exp/experts", "langs": ["pl"], "max_steps": -1}, "max_steps must be >= 1"),
        (ExpandConfig, {"lang": "pl", "new_lang": "pl", "out_dir": "exp/x", "lora_rank": 0}, "lora_rank must be >= 1"),
    ],
)
def test_configs_built_on_train_config_check_the_same(cls, values, message):
    with pytest.raises(LwasrError, match=message):
        cls(**values)


def test_an_unknown_precision_is_one_line_naming_the_values(tmp_path, tiny_whisper, manifests, monkeypatch, capsys):
    monkeypatch.setattr(loop, "load_whisper", no_work)  # the model is never loaded
    args = [*train_args(tmp_path / "exp", tiny_whisper, manifests), "--precision", "half"]
    status, err = run_main(monkeypatch, capsys, *args)
    line = one_line_error(err)
    assert status == 2 and line.startswith("error: precision must be one of auto, float32, bfloat16")
    assert line.endswith(": half") and not (tmp_path / "exp").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--quantize-base", "2bit"], "quantize_base must be one of none, 8bit, 4bit, not '2bit'"),
        (
            ["--quantize-base", "4bit"],
            "quantize_base 4bit needs bitsandbytes, which is not installed: pip install 'lwasr[qlora]'"
            " (or train with quantize_base none)",
        ),
    ],
)
def test_a_quantised_base_that_cannot_be_had_is_one_line_before_any_work(
    tmp_path, tiny_whisper, manifests, monkeypatch, capsys, args, message
):
    monkeypatch.setitem(sys.modules, "bitsandbytes", None)  # not installed (CI installs the qlora extra)
    monkeypatch.setattr(loop, "load_whisper", no_work)
    status, err = run_main(monkeypatch, capsys, *train_args(tmp_path / "exp", tiny_whisper, manifests), *args)
    assert status == 2 and one_line_error(err) == f"error: {message}"
    assert not (tmp_path / "exp").exists()
    with pytest.raises(LwasrError, match="quantize_base 8bit freezes a quantised base under a LoRA; mode full"):
        small(tmp_path, tiny_whisper, manifests, mode="full", lang=None, quantize_base="8bit")


@pytest.mark.parametrize(
    ("cls", "values"),
    [
        (DistillConfig, {"teachers": "exp/experts"}),
        (FuseConfig, {"experts": "exp/experts", "langs": ["pl"]}),
        (ExpandConfig, {"lang": "pl", "new_lang": "cy", "out_dir": "exp/x"}),
    ],
)
def test_a_quantised_base_is_refused_outside_lwasr_train(cls, values):
    message = "quantize_base is a setting of lwasr train (distill, learned fusion and expand train on a float base)"
    with pytest.raises(LwasrError, match=re.escape(message)):
        cls(**values, quantize_base="4bit")
