"""Validation by greedy dev WER and checkpoint averaging: the lowest-WER epoch is the one kept, N identical
checkpoints average to that checkpoint, the average of the last/best N is what is exported, and a killed run
resumes to the same averaged model."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from lhotse import CutSet, Recording, SupervisionSegment
from safetensors.torch import load_file
from torch import nn

import lwasr.loaders  # noqa: F401  (registers valid_metric wer, as the lwasr commands do)
from lwasr.errors import LwasrError
from lwasr.training import checkpoint
from lwasr.training.config import TrainConfig
from lwasr.training.loop import train
from lwasr.training.validation import kept_steps
from lwasr.units.meta import ModelMeta

TEXTS = {"pl": ["ala ma kota", "dom stoi", "pies je"], "pt": ["bom dia", "o gato", "uma casa"]}


def write_cuts(root: Path, per_lang: int, name: str) -> Path:
    """Short tone-and-noise wavs with texts and languages, as a CutSet file."""
    rng = np.random.default_rng(len(name))
    root.mkdir(parents=True, exist_ok=True)
    cuts = []
    for lang, texts in TEXTS.items():
        for i in range(per_lang):
            t = np.arange(int(rng.uniform(0.6, 1.1) * 16000)) / 16000
            wav = root / f"{name}_{lang}_{i}.wav"
            sf.write(wav, (0.3 * np.sin(2 * np.pi * (180 + 40 * i) * t) + 0.05 * rng.standard_normal(t.size)), 16000)
            cut = Recording.from_file(wav, recording_id=wav.stem).to_cut()
            cut.supervisions = [
                SupervisionSegment(wav.stem, wav.stem, 0, cut.duration, text=texts[i % 3], language=lang)
            ]
            cuts.append(cut)
    path = root / f"{name}.jsonl.gz"
    CutSet.from_cuts(cuts).to_file(path)
    return path


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("valdata")
    return write_cuts(root, 4, "train"), write_cuts(root, 2, "dev")


def config(tmp: Path, tiny: Path, data: tuple[Path, Path], **kw) -> TrainConfig:
    base = dict(mode="shared", model=str(tiny), cuts=[str(data[0])], dev_cuts=[str(data[1])], exp_dir=str(tmp),
                max_duration=2.5, num_buckets=2, lora_rank=4, lora_alpha=8, lr=3e-2, warmup_steps=1, max_steps=0,
                num_epochs=4, valid_every=0, save_every=1000, log_every=1)  # fmt: skip
    return TrainConfig(**{**base, **kw})


def records(cfg: TrainConfig) -> list[dict]:
    state = torch.load(checkpoint.latest(cfg.run_dir / "checkpoints") / checkpoint.TRAINER_FILE, weights_only=True)
    return state["validations"]


def adapter(unit: Path) -> dict[str, torch.Tensor]:
    return load_file(unit / "adapter_model.safetensors")


def test_wer_validation_keeps_the_lowest_wer_epoch(tmp_path, tiny_whisper, data):
    cfg = config(tmp_path, tiny_whisper, data, valid_metric="wer", lr=0.1, num_epochs=6)
    unit = train(cfg)
    vals = records(cfg)
    log = (cfg.run_dir / "train.log").read_text()
    assert len(vals) == 6 and all("dev_wer" in v and v["dev_wer"] >= 0 for v in vals)
    assert len(re.findall(r"step \d+ dev loss [\d.]+ dev wer [\d.]+", log)) == 6  # WER beside loss
    best = min(vals, key=lambda v: (v["dev_wer"], v["step"]))
    by_loss = min(vals, key=lambda v: v["dev_loss"])
    assert best["dev_wer"] < by_loss["dev_wer"]  # on this toy run, loss and WER disagree: WER decides
    info = json.loads((cfg.run_dir / "checkpoints" / "best" / "info.json").read_text())
    assert info == best  # the lowest-WER epoch, whatever its dev loss
    meta = ModelMeta.load(unit)
    assert meta.extra["best_dev_wer"] == pytest.approx(best["dev_wer"])
    assert meta.extra["best_dev_loss"] == pytest.approx(min(v["dev_loss"] for v in vals))
    assert meta.extra["validations"] == vals  # the whole dev curve travels with the unit
    saved = checkpoint.load_file(cfg.run_dir / "checkpoints" / "best" / checkpoint.MODEL_FILE)
    exported = adapter(unit)
    assert len(exported) == len(saved)
    for name, value in exported.items():  # the exported adapter is the best checkpoint's
        match = [k for k in saved if k.replace(".default", "").endswith(name.split("base_model.model.", 1)[-1])]
        assert match and torch.equal(saved[match[0]], value), name


def test_average_of_identical_checkpoints_is_that_checkpoint(tmp_path):
    model = nn.Linear(3, 2)
    root = tmp_path / "checkpoints"
    for step in (1, 2, 3):
        checkpoint.save_validated(root, model, {"step": step, "dev_loss": 1.0})
    avg = checkpoint.average_validated(root, [1, 2, 3])
    assert all(torch.equal(avg[k], v) for k, v in checkpoint.trainable_state(model).items())
    with torch.no_grad():
        model.weight.add_(3.0)
    checkpoint.save_validated(root, model, {"step": 4, "dev_loss": 1.0})
    assert torch.allclose(checkpoint.average_validated(root, [3, 4])["weight"], model.weight - 1.5)
    checkpoint.prune_validated(root, {4})
    assert sorted(checkpoint.validated_dirs(root)) == [4]
    with pytest.raises(LwasrError, match=r"step\(s\) \[3\] are missing"):
        checkpoint.average_validated(root, [3, 4])


def test_kept_steps_best_and_last() -> None:
    vals = [{"step": s, "dev_loss": x} for s, x in ((1, 0.5), (2, 0.3), (3, 0.3), (4, 0.9))]
    assert kept_steps(vals, 2, "best", "loss") == [2, 3]
    assert kept_steps(vals, 2, "last", "loss") == [3, 4]
    assert kept_steps(vals, 9, "best", "loss") == [1, 2, 3, 4]


@pytest.mark.parametrize("final_model", ["best", "last"])
def test_exported_model_is_the_average_of_the_kept_validations(tmp_path, tiny_whisper, data, final_model):
    cfg = config(tmp_path, tiny_whisper, data, average=2, final_model=final_model)
    unit = train(cfg)
    vals = records(cfg)
    kept = kept_steps(vals, 2, final_model, "loss")
    assert ModelMeta.load(unit).extra["averaged_steps"] == kept
    ckpts = cfg.run_dir / "checkpoints"
    assert sorted(checkpoint.validated_dirs(ckpts)) == kept  # the others were pruned
    if final_model == "last":
        assert kept == [v["step"] for v in vals[-2:]]
    avg = checkpoint.average_validated(ckpts, kept)
    one = checkpoint.load_file(checkpoint.validated_dirs(ckpts)[kept[0]] / checkpoint.MODEL_FILE)
    assert any(not torch.equal(avg[k], one[k]) for k in avg)  # a real average, not one checkpoint
    exported = adapter(unit)
    for name, value in exported.items():
        match = [k for k in avg if k.replace(".default", "").endswith(name.split("base_model.model.", 1)[-1])]
        assert match and torch.equal(avg[match[0]], value), name


def test_killed_averaging_run_resumes_to_the_same_model(tmp_path, tiny_whisper, data):
    kw = dict(average=2, valid_metric="wer", save_every=3)
    whole = train(config(tmp_path / "a", tiny_whisper, data, **kw))

    def kill(step: int) -> None:
        if step == 5:
            raise KeyboardInterrupt

    cfg = config(tmp_path / "b", tiny_whisper, data, **kw)
    with pytest.raises(KeyboardInterrupt):
        train(cfg, on_step=kill)
    resumed = train(cfg)
    assert "resumed from" in (cfg.run_dir / "train.log").read_text()
    a, b = adapter(whole), adapter(resumed)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    for key in ("averaged_steps", "validations"):  # a validation remade after the resume scores the same
        assert ModelMeta.load(whole).extra[key] == ModelMeta.load(resumed).extra[key]


def test_average_needs_dev_cuts(tmp_path, tiny_whisper, data):
    with pytest.raises(LwasrError, match="give dev cuts"):
        config(tmp_path, tiny_whisper, data, average=3, dev_cuts=[])
    with pytest.raises(LwasrError, match="valid_metric must be one of loss, wer"):
        config(tmp_path, tiny_whisper, data, valid_metric="bleu")
