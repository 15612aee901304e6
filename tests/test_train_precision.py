"""``precision``: bfloat16 autocast in training on a CPU (float32 weights and optimizer, exact resume), its record,
and the older ``bf16`` key."""

from __future__ import annotations

import math

import pytest
import torch
import yaml
from helpers import RUN, small
from safetensors.torch import load_file

import lwasr.loaders  # noqa: F401  (registers valid_metric wer, as the lwasr commands do)
from lwasr import precision_support
from lwasr.distill.config import DistillConfig
from lwasr.errors import LwasrError
from lwasr.training.config import load_config
from lwasr.training.loop import Trainer, train
from lwasr.units.meta import ModelMeta


class Watched(Trainer):
    """A trainer that records every training loss, the dtypes of its weights and optimizer state, and those of the
    outputs of its linear layers (what autocast computes in)."""

    losses: list[float] = []
    dtypes: set[torch.dtype] = set()
    computed: set[torch.dtype] = set()

    def prepare(self) -> None:
        for module in self.model.modules():
            if isinstance(module, torch.nn.Linear):
                module.register_forward_hook(lambda _m, _i, out: Watched.computed.add(out.dtype))

    def loss(self, batch, train):
        loss_sum, tokens = super().loss(batch, train)
        Watched.losses.append(loss_sum.item())
        return loss_sum, tokens

    def after_step(self) -> None:
        state = [v for s in self.optimizer.state.values() for v in s.values() if v.is_floating_point()]
        Watched.dtypes |= {p.dtype for p in self.model.parameters()} | {v.dtype for v in state}


def stop_after(at: int):
    def on_step(step: int) -> None:
        if step == at:
            raise KeyboardInterrupt

    return on_step


def adapter(unit) -> dict[str, torch.Tensor]:
    return load_file(unit / "adapter_model.safetensors")


def test_bf16_on_cpu_trains_float32_weights_and_resumes_exactly(tmp_path, tiny_whisper, manifests):
    Watched.losses.clear(), Watched.dtypes.clear(), Watched.computed.clear()
    run = dict(RUN, precision="bfloat16")
    cfg = small(tmp_path / "killed", tiny_whisper, manifests, **run)
    with pytest.raises(KeyboardInterrupt):
        train(cfg, on_step=stop_after(2), trainer=Watched)
    resumed = train(cfg, trainer=Watched)
    assert Watched.losses and all(math.isfinite(v) for v in Watched.losses)
    assert Watched.dtypes == {torch.float32}  # master weights and AdamW state stay float32 under autocast
    reference = train(small(tmp_path / "ref", tiny_whisper, manifests, **run))
    a, b = adapter(reference), adapter(resumed)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert all(v.dtype == torch.float32 for v in b.values())
    assert ModelMeta.load(resumed).extra["precision"] == "bfloat16"
    assert "precision bfloat16 (bfloat16)" in (cfg.run_dir / "train.log").read_text()
    assert Watched.computed == {torch.bfloat16}  # autocast did take effect: every linear layer ran in bfloat16


def test_auto_trains_in_float32_on_a_cpu_even_with_bf16_units(tmp_path, tiny_whisper, manifests, monkeypatch):
    monkeypatch.setattr(precision_support, "cpu_bf16_flags", lambda: frozenset({"avx512_bf16"}))
    Watched.computed.clear()
    cfg = small(tmp_path, tiny_whisper, manifests, max_steps=1)
    assert cfg.precision == "auto"
    unit = train(cfg, trainer=Watched)
    assert Watched.computed == {torch.float32} and ModelMeta.load(unit).extra["precision"] == "float32"
    assert "precision float32 (auto)" in (cfg.run_dir / "train.log").read_text()


@pytest.mark.parametrize(("old", "new"), [(True, "auto"), (False, "float32")])
def test_a_config_of_older_lwasr_with_bf16_loads_and_resumes(tmp_path, tiny_whisper, manifests, old, new):
    cfg = small(tmp_path, tiny_whisper, manifests)
    recorded = yaml.safe_load(cfg.to_yaml())
    del recorded["precision"]
    recorded["bf16"] = old
    path = tmp_path / "old.yaml"
    path.write_text(yaml.safe_dump(recorded))
    loaded = load_config(path, {})
    assert loaded.precision == new
    assert loaded.resume_changes(recorded) == []  # a checkpoint recording bf16 resumes under its new name
    assert load_config(path, {"precision": "bfloat16"}).precision == "bfloat16"  # the command line still wins


class Frozen(Watched):
    """A Watched trainer that records the dtypes of its trained weights and optimizer state (``trained``) apart from
    those of its frozen weights (``frozen``)."""

    trained: set[torch.dtype] = set()
    frozen: set[torch.dtype] = set()

    def after_step(self) -> None:
        state = [v for s in self.optimizer.state.values() for v in s.values() if v.is_floating_point()]
        params = list(self.model.parameters())
        Frozen.trained |= {p.dtype for p in params if p.requires_grad} | {v.dtype for v in state}
        Frozen.frozen |= {p.dtype for p in params if not p.requires_grad}


def test_a_bf16_frozen_base_trains_a_float32_lora_and_resumes_exactly(tmp_path, tiny_whisper, manifests):
    Watched.losses.clear(), Watched.computed.clear(), Frozen.trained.clear(), Frozen.frozen.clear()
    run = dict(RUN, frozen_dtype="bfloat16", precision="float32", valid_every=2, valid_metric="wer")
    cfg = small(tmp_path / "killed", tiny_whisper, manifests, **run)
    with pytest.raises(KeyboardInterrupt):
        train(cfg, on_step=stop_after(3), trainer=Frozen)
    resumed = train(cfg, trainer=Frozen)
    assert Watched.losses and all(math.isfinite(v) for v in Watched.losses)
    assert Frozen.frozen == {torch.bfloat16}  # the base was cast once and stays bfloat16 ...
    assert Frozen.trained == {torch.float32}  # ... while peft keeps the LoRA, and AdamW its state, in float32
    assert torch.bfloat16 in Watched.computed  # the base's linear layers compute in bfloat16 (no autocast)
    reference = train(small(tmp_path / "ref", tiny_whisper, manifests, **run))
    a, b = adapter(reference), adapter(resumed)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert all(v.dtype == torch.float32 for v in b.values())
    meta = ModelMeta.load(resumed)
    assert meta.extra["frozen_dtype"] == "bfloat16" and meta.extra["precision"] == "float32"
    assert math.isfinite(meta.extra["best_dev_wer"])  # the dev WER decode ran on the bfloat16 base
    assert "frozen base in bfloat16" in (cfg.run_dir / "train.log").read_text()
    plain = train(small(tmp_path / "f32", tiny_whisper, manifests, **dict(run, frozen_dtype="float32")))
    assert ModelMeta.load(plain).extra["frozen_dtype"] == "float32"
    c = adapter(plain)
    assert not all(torch.equal(a[k], c[k]) for k in a)  # the dtype does change what is computed ...
    assert all(torch.allclose(a[k], c[k], atol=0.05) for k in a)  # ... by bfloat16 rounding only


def test_frozen_dtype_auto_is_bf16_where_native_and_full_mode_ignores_it(
    tmp_path, tiny_whisper, manifests, monkeypatch
):
    monkeypatch.setattr(precision_support, "cpu_bf16_flags", lambda: frozenset({"avx512_bf16"}))
    unit = train(small(tmp_path / "auto", tiny_whisper, manifests, max_steps=1, frozen_dtype="auto"))
    assert ModelMeta.load(unit).extra["frozen_dtype"] == "bfloat16"
    monkeypatch.setattr(precision_support, "cpu_bf16_flags", lambda: frozenset())
    unit = train(small(tmp_path / "none", tiny_whisper, manifests, max_steps=1, frozen_dtype="auto"))
    assert ModelMeta.load(unit).extra["frozen_dtype"] == "float32"
    full = small(tmp_path / "full", tiny_whisper, manifests, max_steps=1, mode="full", lang=None, langs=["pl"],
                 frozen_dtype="bfloat16")  # fmt: skip
    assert ModelMeta.load(train(full)).extra["frozen_dtype"] == "float32"


def test_frozen_dtype_refuses_a_quantised_base_and_the_trainers_on_a_float32_base(tmp_path, tiny_whisper, manifests):
    with pytest.raises(LwasrError, match="frozen_dtype is a setting of lwasr train on a float base"):
        small(tmp_path, tiny_whisper, manifests, frozen_dtype="bfloat16", quantize_base="8bit")
    with pytest.raises(LwasrError, match="frozen_dtype must be one of auto, float32, bfloat16"):
        small(tmp_path, tiny_whisper, manifests, frozen_dtype="float16")
    with pytest.raises(LwasrError, match="frozen_dtype is a setting of lwasr train"):
        DistillConfig(langs=["pl"], frozen_dtype="bfloat16")
