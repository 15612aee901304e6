"""TrainConfig: shipped YAML defaults, overrides, type checks, run and unit directories."""

from __future__ import annotations

import pytest
import yaml

from lwasr.errors import LwasrError
from lwasr.training.config import TrainConfig, UnitConfig, load_config, parse_override


def test_shipped_defaults_and_overrides(tmp_path):
    cfg = load_config(None, {"lang": "pl", "lr": "2e-4", "speed_perturb": "0.9,1.1", "exp_dir": str(tmp_path)})
    assert (cfg.mode, cfg.lora_rank, cfg.trim_encoder_input) == ("expert", 32, True)
    assert cfg.lora_target_modules == ["q_proj", "k_proj", "v_proj", "out_proj", "fc1", "fc2"]
    assert cfg.lr == 2e-4 and cfg.speed_perturb == [0.9, 1.1]
    assert cfg.run_dir == tmp_path / "train_expert_pl" and cfg.unit_dir == tmp_path / "experts" / "pl"
    full = load_config(None, {"mode": "full"})
    assert full.lr == 1e-5 and full.unit_dir.name == "full" and full.run_dir.name == "train_full"


def test_yaml_file_then_overrides_and_roundtrip(tmp_path):
    conf = tmp_path / "x.yaml"
    conf.write_text("mode: shared\nlora_rank: 8\nmax_duration: 60\n")
    cfg = load_config(conf, {"lora_rank": 16})
    assert (cfg.mode, cfg.lora_rank, cfg.max_duration) == ("shared", 16, 60.0)
    cfg.save(tmp_path / "resolved.yaml")
    assert load_config(tmp_path / "resolved.yaml", {}) == cfg


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"lang": "pl", "lora_rank": "big"}, "lora_rank: expected int"),
        ({"lang": "pl", "trim_encoder_input": 3}, "expected bool"),
        ({"lang": "pl", "no_such_key": 1}, "unknown training option"),
        ({"mode": "expert"}, "needs a language"),
        ({"mode": "shared", "lang": "pl"}, "--lang is for mode=expert"),
        ({"mode": "distill", "lang": "pl"}, "mode must be one of"),
        ({"lang": "pl", "name": "mine"}, "name is for modes shared and full"),
        ({"mode": "shared", "name": "a/b"}, "plain directory name"),
        ({"mode": "full", "name": ".."}, "plain directory name"),
    ],
)
def test_bad_settings_are_clear_errors(overrides, message):
    with pytest.raises(LwasrError, match=message):
        load_config(None, overrides)


def test_parse_override():
    assert parse_override("speed-perturb=[0.9, 1.1]") == ("speed_perturb", [0.9, 1.1])
    assert parse_override("lr=1e-4") == ("lr", "1e-4")  # YAML reads 1e-4 as text; TrainConfig converts it
    assert TrainConfig(lang="pl", lr="1e-4").lr == 1e-4
    with pytest.raises(LwasrError):
        parse_override("lr")


def test_a_named_baseline_sits_beside_the_default_one(tmp_path):
    """``name`` moves a shared/full unit and its run dir; empty keeps <exp>/shared and train_shared."""
    named = load_config(None, {"mode": "shared", "name": "shared_nolang", "exp_dir": str(tmp_path)})
    assert named.unit_dir == tmp_path / "shared_nolang" and named.run_dir == tmp_path / "train_shared_nolang"
    plain = load_config(None, {"mode": "shared", "exp_dir": str(tmp_path)})
    assert plain.unit_dir == tmp_path / "shared" and plain.run_dir == tmp_path / "train_shared"
    unit = UnitConfig(exp_dir=str(tmp_path))  # the methods' units keep their own default name
    assert unit.unit_dir == tmp_path / "model" and unit.run_name == "train_model"
    assert UnitConfig(exp_dir=str(tmp_path), name="s").unit_dir == tmp_path / "s"


def test_a_checkpoint_made_before_the_name_setting_resumes(tmp_path):
    cfg = load_config(None, {"mode": "shared", "exp_dir": str(tmp_path)})
    old = yaml.safe_load(cfg.to_yaml())
    del old["name"]  # checkpoints made before the setting existed do not record it
    assert cfg.resume_changes(old) == []
    renamed = load_config(None, {"mode": "shared", "exp_dir": str(tmp_path), "name": "shared_nolang"})
    assert renamed.resume_changes(old) == ["name:  -> shared_nolang"]
