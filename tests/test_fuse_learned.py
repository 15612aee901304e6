"""`lwasr fuse --method learned` on the tiny model: the gated model folds exactly into its static adapter."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from helpers import gated, make_cuts
from safetensors.torch import load_file
from transformers import WhisperForConditionalGeneration
from typer.testing import CliRunner

from lwasr.cli import app
from lwasr.errors import LwasrError
from lwasr.fusion.learned import group_of
from lwasr.fusion.run import fuse
from lwasr.fusion.static import FUSED, save_adapter
from lwasr.models.trim import set_trimmed_input
from lwasr.training import checkpoint
from lwasr.units.meta import ModelMeta


@pytest.fixture(scope="module")
def cuts(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("data")
    return make_cuts(root / "train", per_lang=3), make_cuts(root / "dev", per_lang=1, name="cuts_dev")


@torch.no_grad()
def logits(model: torch.nn.Module) -> torch.Tensor:
    """Logits on 2 s of random features (trimmed input keeps the tiny model fast)."""
    set_trimmed_input(model)
    gen = torch.Generator().manual_seed(0)
    feats = torch.randn(2, 80, 200, generator=gen)
    ids = torch.tensor([[50258, 50269, 50359, 50363, 400, 500]] * 2)
    return model(input_features=feats, decoder_input_ids=ids).logits


def adapter_model(base_dir: Path | str, adapter_dir: Path) -> torch.nn.Module:
    from peft import PeftModel

    return PeftModel.from_pretrained(WhisperForConditionalGeneration.from_pretrained(base_dir), adapter_dir).eval()


def test_groups():
    name = "model.decoder.layers.1.encoder_attn.q_proj"
    assert [group_of(name, g) for g in ("module", "layer", "global")] == [name, "model.decoder.layers.1", "all"]


@pytest.mark.parametrize(
    ("langs", "gate", "fn"),
    [(["pl", "pt"], "module", "softmax"), (["pl", "pt", "de"], "layer", "linear"), (["pt", "de"], "global", "softmax")],
)
def test_static_export_equals_the_gated_model(tiny_whisper, experts_dir, tmp_path, langs, gate, fn):
    model = gated(tiny_whisper, experts_dir, langs, gate, fn)
    uniform = logits(model)
    # uniform start = static sum with weights 1/n
    torch.testing.assert_close(
        uniform, logits(adapter_model(tiny_whisper, fuse(experts_dir, langs, "sum", tmp_path / "s")))
    )
    with torch.no_grad():
        model.gate.logits.normal_(0, 1.0)
    want = logits(model)
    assert not torch.allclose(want, uniform, atol=1e-4)
    model.fold()
    save_adapter(model.peft, tmp_path / "fused", FUSED)
    torch.testing.assert_close(logits(adapter_model(tiny_whisper, tmp_path / "fused")), want, atol=1e-5, rtol=0)


def test_learned_fusion_trains_resumes_and_exports(tiny_whisper, experts_dir, cuts, tmp_path):
    train_cuts, dev_cuts = cuts
    over = dict(cuts=[str(train_cuts)], dev_cuts=[str(dev_cuts)], max_duration=2.5, num_buckets=2, max_steps=4)
    over |= dict(save_every=2, valid_every=2, final_model="last", lr=0.2, lang_token=False)
    out = tmp_path / "exp" / "fused_learned"

    def stop(step: int) -> None:
        if step == 3:
            raise KeyboardInterrupt

    from lwasr.training import loop

    real_train = loop.train
    with pytest.raises(KeyboardInterrupt):
        import lwasr.fusion.learned as learned

        learned.train = lambda cfg, trainer: real_train(cfg, on_step=stop, trainer=trainer)
        try:
            fuse(experts_dir, ["pl", "pt"], "learned", out, train_overrides=over, merge=True)
        finally:
            learned.train = real_train
    assert not out.exists()
    unit = fuse(experts_dir, ["pl", "pt"], "learned", out, train_overrides=over, merge=True)
    run = tmp_path / "exp" / "train_fused_learned"
    assert "resumed from" in (run / "train.log").read_text()
    meta = ModelMeta.load(unit)
    assert (meta.kind, meta.languages, meta.lang_token, meta.extra["fusion"]) == (
        "lora",
        ["pl", "pt"],
        False,
        "learned",
    )
    assert meta.extra["gate"] == "module" and meta.extra["steps"] == 4 and meta.extra["rank"] == 12
    assert [v["step"] for v in meta.extra["validations"]] == [2, 4]  # its dev curve, across the resume
    weights = meta.extra["gate_weights"]
    assert len(weights) == 2 * 6 + 2 * 10 and any(abs(w["pl"] - 0.5) > 1e-3 for w in weights.values())
    # the exported adapter is the gated model with the trained gate
    model = gated(tiny_whisper, experts_dir, ["pl", "pt"], "module", "softmax")
    checkpoint.load_trainable(model, torch.load(checkpoint.latest(run / "checkpoints") / "model.pt"))
    torch.testing.assert_close(logits(adapter_model(tiny_whisper, unit)), logits(model), atol=1e-5, rtol=0)
    merged = WhisperForConditionalGeneration.from_pretrained(unit / "merged").eval()
    torch.testing.assert_close(logits(merged), logits(model), atol=1e-5, rtol=0)
    assert set(load_file(unit / "adapter_model.safetensors")) and ModelMeta.load(unit / "merged").kind == "full"


def test_gradient_checkpointing_trains_the_same_gate(tiny_whisper, experts_dir, cuts, tmp_path):
    """Checkpointed layers run their forward again in backward, gate hooks included: the gate's weights must still
    be there then, and the gradients the same."""
    train_cuts, dev_cuts = cuts
    over = dict(cuts=[str(train_cuts)], dev_cuts=[str(dev_cuts)], max_duration=2.5, num_buckets=2, max_steps=2)
    over |= dict(valid_every=0, final_model="last", lr=0.2)
    gates = [
        ModelMeta.load(
            fuse(experts_dir, ["pl", "pt"], "learned", tmp_path / f"ckpt{on}" / "fused", train_overrides=over | on)
        ).extra["gate_weights"]
        for on in ({"grad_checkpointing": False}, {"grad_checkpointing": True})
    ]
    assert any(abs(w["pl"] - 0.5) > 1e-3 for w in gates[0].values())  # it trained
    for module, w in gates[0].items():
        assert gates[1][module] == pytest.approx(w, abs=1e-6), module


def test_cli_learned(experts_dir, cuts, tmp_path):
    train_cuts, _ = cuts
    out = tmp_path / "cli_learned"
    args = ["fuse", "--experts", str(experts_dir), "--langs", "pl,pt", "--method", "learned", "--out", str(out)]
    args += ["--cuts", str(train_cuts), "--gate", "layer", "--gate-fn", "linear", "--max-steps", "1"]
    args += ["--max-duration", "2.5", "--set", "num_buckets=2"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    meta = ModelMeta.load(out)
    assert (meta.extra["gate"], meta.extra["gate_fn"], meta.lang_token) == ("layer", "linear", True)
    assert (tmp_path / "train_cli_learned" / "config.yaml").is_file()
    assert logits(adapter_model(ModelMeta.load(out).base_model, out)).isfinite().all()


@pytest.mark.parametrize(
    ("langs", "over", "message"),
    [
        (["pl", "el"], {}, "no expert for el"),
        (["pl", "cy"], {}, "different base models"),
        (["pl", "pt"], {"cuts": None}, "--cuts"),
        (["pl", "pt"], {"gate": "router"}, "gate must be one of"),
    ],
)
def test_bad_input(experts_dir, cuts, tmp_path, langs, over, message):
    kw = {"cuts": [str(cuts[0])], "max_steps": 1, **over}
    with pytest.raises(LwasrError, match=message):
        fuse(experts_dir, langs, "learned", tmp_path / "x", train_overrides=kw)
    assert not (tmp_path / "x").exists()


def test_static_methods_refuse_training_settings(experts_dir, cuts, tmp_path):
    with pytest.raises(LwasrError, match=r"training settings \(cuts\) are for --method learned"):
        fuse(experts_dir, ["pl", "pt"], "sum", tmp_path / "x", train_overrides={"cuts": [str(cuts[0])]})
