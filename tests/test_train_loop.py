"""The trainer on the tiny Whisper: experts in PEFT format, baselines, exact resume, NaN stop."""

from __future__ import annotations

import json
import math
import re

import pytest
import torch
from helpers import small
from peft import PeftModel
from safetensors.torch import load_file
from transformers import WhisperForConditionalGeneration

from lwasr.errors import LwasrError
from lwasr.training import checkpoint
from lwasr.training.loop import Trainer, train
from lwasr.units.meta import ModelMeta


def test_expert_is_saved_in_peft_format_and_reloads(tmp_path, tiny_whisper, manifests):
    cfg = small(tmp_path, tiny_whisper, manifests, spec_augment=True, speed_perturb=[0.9])
    unit = train(cfg)
    assert unit == tmp_path / "exp" / "experts" / "pl"
    meta = ModelMeta.load(unit)
    assert (meta.kind, meta.languages, meta.base_model, meta.lang_token) == ("lora", ["pl"], str(tiny_whisper), True)
    assert meta.extra["lora"]["rank"] == 4 and meta.trim_encoder_input
    run = tmp_path / "exp" / "train_expert_pl"
    assert (run / "config.yaml").is_file() and "dev loss" in (run / "train.log").read_text()
    assert (run / "checkpoints" / "best" / "model.pt").is_file() and any((run / "tensorboard").iterdir())
    assert [p.name for p in checkpoint.step_dirs(run / "checkpoints")] == ["step-00000002", "step-00000004"]
    peft = PeftModel.from_pretrained(WhisperForConditionalGeneration.from_pretrained(tiny_whisper), unit)
    saved = load_file(unit / "adapter_model.safetensors")
    assert saved and all("lora_" in k for k in saved)
    assert any(n.endswith("lora_B.default.weight") and p.abs().sum() > 0 for n, p in peft.named_parameters())
    assert train(cfg) == unit  # a finished unit is skipped


@pytest.mark.parametrize("valid_every", [2, 0])  # 0: validated at each epoch's end
def test_killed_and_resumed_run_ends_with_identical_weights(tmp_path, tiny_whisper, manifests, valid_every):
    kw = dict(max_steps=6, accum_grad=2, lora_dropout=0.1, spec_augment=True, save_every=3, valid_every=valid_every)
    cfg_a = small(tmp_path / "a", tiny_whisper, manifests, **kw)
    train(cfg_a)

    def kill(step: int) -> None:
        if step == 4:  # the last checkpoint (step 3) lies in the middle of the second epoch
            raise KeyboardInterrupt

    cfg_b = small(tmp_path / "b", tiny_whisper, manifests, **kw)
    with pytest.raises(KeyboardInterrupt):
        train(cfg_b, on_step=kill)
    last = checkpoint.latest(cfg_b.run_dir / "checkpoints")
    state = torch.load(last / "trainer.pt", weights_only=False)
    assert last.name == "step-00000003" and state["epoch"] >= 1 and state["batches_done"] > 0
    train(cfg_b)
    runs = (cfg_a.run_dir, cfg_b.run_dir)
    assert "resumed from" in (cfg_b.run_dir / "train.log").read_text()
    a = load_file(tmp_path / "a" / "exp" / "experts" / "pl" / "adapter_model.safetensors")
    b = load_file(cfg_b.unit_dir / "adapter_model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)  # the best checkpoint's weights
    best_a, best_b = (json.loads((r / "checkpoints" / "best" / "info.json").read_text()) for r in runs)
    assert best_a == best_b


def test_valid_every_0_validates_each_epoch_and_keeps_the_best_epoch(tmp_path, tiny_whisper, manifests):
    cfg = small(tmp_path, tiny_whisper, manifests, max_steps=0, num_epochs=3, valid_every=0, save_every=1000)
    train(cfg)
    log = (cfg.run_dir / "train.log").read_text()
    per_epoch = int(re.search(r"training \d+ steps \((\d+) batches per epoch, accum_grad 1\)", log).group(1))
    dev = [line for line in log.splitlines() if " dev loss " in line]
    validated = [int(re.search(r"step (\d+) dev loss", line).group(1)) for line in dev]
    assert validated == [per_epoch, 2 * per_epoch, 3 * per_epoch]  # at the end of each epoch, once each
    best = [step for step, line in zip(validated, dev, strict=True) if line.endswith("(best)")][-1]
    info = json.loads((cfg.run_dir / "checkpoints" / "best" / "info.json").read_text())
    assert info["step"] == best


def test_nan_loss_stops_and_keeps_last_good_checkpoint(tmp_path, tiny_whisper, manifests, monkeypatch):
    loss = Trainer.loss

    def poisoned(self, batch, train):
        value, tokens = loss(self, batch, train)
        return (value * math.nan if train and self.step >= 2 else value), tokens

    monkeypatch.setattr(Trainer, "loss", poisoned)
    cfg = small(tmp_path, tiny_whisper, manifests)
    with pytest.raises(LwasrError, match="not finite.*step-00000002"):
        train(cfg)
    assert not cfg.unit_dir.exists()


def test_shared_and_full_baselines(tmp_path, tiny_whisper, manifests):
    shared = train(small(tmp_path, tiny_whisper, manifests, mode="shared", lang=None, max_steps=2, lang_token=False))
    assert shared.name == "shared" and ModelMeta.load(shared).languages == ["pl", "pt"]
    assert not ModelMeta.load(shared).lang_token
    full = train(small(tmp_path, tiny_whisper, manifests, mode="full", lang=None, langs=["pt"], max_steps=2, lr=1e-4))
    assert full.name == "full" and ModelMeta.load(full).kind == "full"
    assert {"preprocessor_config.json", "tokenizer.json", "generation_config.json"} <= {p.name for p in full.iterdir()}
    model = WhisperForConditionalGeneration.from_pretrained(full)
    base = WhisperForConditionalGeneration.from_pretrained(tiny_whisper)
    assert not torch.equal(model.model.encoder.layers[0].fc1.weight, base.model.encoder.layers[0].fc1.weight)
    assert ModelMeta.load(full).base_fingerprint == ModelMeta.load(shared).base_fingerprint


class _Stop(Exception):
    pass


def _stop(step: int) -> None:
    raise _Stop


@pytest.mark.parametrize("given", [False, True])
def test_a_run_says_where_it_goes_and_when_that_is_the_default(
    tmp_path, tiny_whisper, manifests, monkeypatch, caplog, given
):
    """Forgetting --exp-dir trained into exp/train silently (issue 28.4): every run names its unit and run dir, and
    says when the exp dir is the default one."""
    monkeypatch.chdir(tmp_path)
    cfg = small(tmp_path, tiny_whisper, manifests, **({} if given else {"exp_dir": "exp/train"}))
    with caplog.at_level("INFO", logger="lwasr"), pytest.raises(_Stop):
        train(cfg, on_step=_stop)
    line = next(r.getMessage() for r in caplog.records if r.getMessage().startswith("training "))
    assert str(cfg.unit_dir) in line and str(cfg.run_dir) in line
    assert ("default --exp-dir" in line) == (not given)
