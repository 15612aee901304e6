"""Lean training for small GPUs on the tiny Whisper: float16 with a loss scaler, and QLoRA (a quantised base)."""

from __future__ import annotations

import pytest
import torch
from helpers import small
from peft import PeftModel
from safetensors.torch import load_file
from transformers import WhisperForConditionalGeneration

from lwasr.training import checkpoint, ddp
from lwasr.training.loop import Trainer, train
from lwasr.training.scaler import loss_scaler, optimizer_step
from lwasr.units.meta import ModelMeta, base_fingerprint


def test_float16_trains_with_a_loss_scale_and_resumes_exactly(tmp_path, tiny_whisper, manifests):
    kw = dict(precision="float16", max_steps=4, save_every=1, valid_every=0, final_model="last")
    cfg_a = small(tmp_path / "a", tiny_whisper, manifests, **kw)
    train(cfg_a)
    cfg_32 = small(tmp_path / "f32", tiny_whisper, manifests, **{**kw, "precision": "float32"})
    train(cfg_32)

    def kill(step: int) -> None:
        if step == 3:
            raise KeyboardInterrupt

    cfg_b = small(tmp_path / "b", tiny_whisper, manifests, **kw)
    with pytest.raises(KeyboardInterrupt):
        train(cfg_b, on_step=kill)
    train(cfg_b)
    states = [torch.load(checkpoint.latest(c.run_dir / "checkpoints") / "trainer.pt") for c in (cfg_a, cfg_b, cfg_32)]
    # the scaler ran (its scale multiplied the loss) and its state came back on resume: the growth tracker counts
    # the good steps of the whole run, as in the uninterrupted one
    assert states[0]["scaler"]["scale"] > 1 and states[0]["scaler"]["_growth_tracker"] == 4
    assert states[1]["scaler"] == states[0]["scaler"] and states[2]["scaler"] == {}
    a, b, f32 = (load_file(c.unit_dir / "adapter_model.safetensors") for c in (cfg_a, cfg_b, cfg_32))
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert all(torch.isfinite(v).all() for v in a.values())
    assert any(not torch.equal(a[k], f32[k]) for k in a)  # the forward pass computed in float16


def test_a_step_with_overflowing_gradients_is_skipped_and_the_scale_halves():
    layer = torch.nn.Linear(4, 2)
    optimizer = torch.optim.AdamW(layer.parameters(), lr=0.1)
    scaler = loss_scaler(torch.float16, torch.device("cpu"))
    before = layer.weight.detach().clone()
    scaler.scale(layer(torch.ones(1, 4)).sum()).backward()
    layer.weight.grad[0, 0] = torch.inf
    scale = scaler.get_scale()
    optimizer_step(scaler, optimizer, list(layer.parameters()), max_grad_norm=1.0)
    assert torch.equal(layer.weight, before) and scaler.get_scale() == scale / 2
    optimizer.zero_grad()
    scaler.scale(layer(torch.ones(1, 4)).sum()).backward()
    optimizer_step(scaler, optimizer, list(layer.parameters()), max_grad_norm=1.0)
    assert not torch.equal(layer.weight, before)
    assert not loss_scaler(torch.bfloat16, torch.device("cpu")).is_enabled()


@pytest.mark.parametrize(("quantize", "layer"), [("4bit", "Linear4bit"), ("8bit", "Linear8bitLt")])
def test_qlora_trains_a_lora_on_a_quantised_base_that_decodes_on_the_float_base(
    tmp_path, tiny_whisper, manifests, quantize, layer
):
    pytest.importorskip("bitsandbytes")  # the optional extra lwasr[qlora]
    cfg = small(tmp_path, tiny_whisper, manifests, quantize_base=quantize, max_steps=2, dev_cuts=[], valid_every=0)
    trainer = Trainer(cfg, ddp.setup("cpu"))
    fc1 = trainer.model.base_model.model.model.encoder.layers[0].fc1.base_layer
    assert type(fc1).__name__ == layer and fc1.weight.dtype in (torch.uint8, torch.int8)
    assert all("lora_" in n for n, p in trainer.model.named_parameters() if p.requires_grad)
    unit = trainer.run()
    float_base = WhisperForConditionalGeneration.from_pretrained(tiny_whisper)
    assert ModelMeta.load(unit).base_fingerprint == base_fingerprint(float_base)
    peft = PeftModel.from_pretrained(float_base, unit)
    assert any(n.endswith("lora_B.default.weight") and p.abs().sum() > 0 for n, p in peft.named_parameters())
