"""TrainConfig: shipped YAML defaults, overrides, type checks, run and unit directories."""

from __future__ import annotations

import pytest

from lwasr.errors import LwasrError
from lwasr.training.config import TrainConfig, load_config, parse_override


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
