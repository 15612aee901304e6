"""Resuming with changed settings: refused with the differences (old -> new) unless declared safe; --overwrite."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch
import yaml
from helpers import RUN, copy_of, one_line_error, run_main, small
from safetensors.torch import load_file
from typer.testing import CliRunner

from lwasr.cli import app
from lwasr.errors import LwasrError
from lwasr.training import checkpoint
from lwasr.training.config import TrainConfig
from lwasr.training.loop import Trainer, train
from lwasr.units.meta import ModelMeta


class NoWork(Trainer):
    """A trainer that fails as it is made: the resume must be refused before any model is loaded."""

    def __init__(self, *args, **kwargs) -> None:
        pytest.fail("the resume should have been refused before the model was loaded")


def adapter(unit: Path) -> dict[str, torch.Tensor]:
    return load_file(unit / "adapter_model.safetensors")


def recorded_lr(cfg: TrainConfig) -> float:
    return yaml.safe_load((cfg.run_dir / "config.yaml").read_text())["lr"]


def test_changed_settings_are_refused_and_safe_ones_resume_exactly(killed, tmp_path, tiny_whisper, manifests):
    cfg = copy_of(killed, tmp_path)
    last = checkpoint.latest(cfg.run_dir / "checkpoints")
    for change, shown in (({"lr": 0.05}, "lr: 0.01 -> 0.05"), ({"lora_rank": 8, "lr": 0.02}, "lr: 0.01 -> 0.02")):
        with pytest.raises(LwasrError) as refused:
            train(dataclasses.replace(cfg, **change), trainer=NoWork)
        message = str(refused.value)
        assert f"{last} was made with other settings (" in message and shown in message and "\n" not in message
        assert "rerun with the old settings" in message and "--overwrite" in message
    assert "lora_rank: 4 -> 8" in message
    assert recorded_lr(cfg) == 0.01 and checkpoint.latest(cfg.run_dir / "checkpoints") == last
    # settings declared safe (RESUME_SAFE) may change: the run resumes and ends exactly as an uninterrupted one
    unit = train(dataclasses.replace(cfg, log_every=3, keep_last=1, save_every=3))
    assert "resumed from" in (cfg.run_dir / "train.log").read_text()
    reference = train(small(tmp_path / "ref", tiny_whisper, manifests, **RUN))
    a, b = adapter(reference), adapter(unit)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_cli_refusal_is_one_line_and_overwrite_starts_over(killed, tmp_path, monkeypatch, capsys):
    cfg = copy_of(killed, tmp_path)
    conf = tmp_path / "run.yaml"
    cfg.save(conf)
    status, err = run_main(monkeypatch, capsys, "train", "--config", str(conf), "--lr", "0.05")
    assert status == 2 and "(lr: 0.01 -> 0.05)" in one_line_error(err)
    assert not cfg.unit_dir.exists()

    args = ["train", "--config", str(conf), "--lr", "0.05", "--max-steps", "2", "--overwrite"]
    status, _ = run_main(monkeypatch, capsys, *args)
    log = (cfg.run_dir / "train.log").read_text()
    assert status == 0 and "starting over" in log and "resumed from" not in log.split("starting over")[-1]
    assert recorded_lr(cfg) == 0.05 and ModelMeta.load(cfg.unit_dir).extra["steps"] == 2
    first = adapter(cfg.unit_dir)

    # a finished unit is skipped ... unless --overwrite, which trains it again and replaces it
    status, _ = run_main(monkeypatch, capsys, "train", "--config", str(conf), "--lr", "0.02")
    assert status == 0 and all(torch.equal(first[k], v) for k, v in adapter(cfg.unit_dir).items())
    status, _ = run_main(
        monkeypatch, capsys, "train", "--config", str(conf), "--lr", "0.02", "--max-steps", "1", "--overwrite"
    )
    assert status == 0 and recorded_lr(cfg) == 0.02
    assert any(not torch.equal(first[k], v) for k, v in adapter(cfg.unit_dir).items())


def test_checkpoint_without_recorded_settings_is_refused(killed, tmp_path):
    cfg = copy_of(killed, tmp_path)
    last = checkpoint.latest(cfg.run_dir / "checkpoints")
    (last / "config.yaml").unlink()  # as an older lwasr wrote it
    with pytest.raises(LwasrError, match=r"records no settings.*--overwrite"):
        train(cfg)


@pytest.mark.parametrize("command", [["train"], ["train", "experts"], ["distill"]])
def test_training_commands_offer_overwrite(command):
    out = CliRunner().invoke(app, [*command, "--help"], env={"COLUMNS": "200"}).output
    assert "--overwrite" in out
