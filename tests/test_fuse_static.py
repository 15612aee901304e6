"""`lwasr fuse` on the tiny model: sum is exact, svd is the best low-rank approximation, ties/dare load, errors."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from helpers import ALL_TARGETS, make_shaped_expert
from peft import PeftModel
from safetensors.torch import load_file
from transformers import WhisperForConditionalGeneration

from lwasr.errors import LwasrError
from lwasr.fusion.run import fuse
from lwasr.units.meta import ModelMeta

#: lang -> (rank, alpha, use_rslora, target modules)
EXPERTS = {
    "pl": (4, 8, False, ALL_TARGETS),
    "pt": (8, 16, False, ALL_TARGETS),
    "it": (4, 4, True, ALL_TARGETS),
    "de": (4, 8, False, ["q_proj", "v_proj"]),
}


@pytest.fixture(scope="module")
def experts_dir(tiny_whisper, other_base, tmp_path_factory) -> Path:
    """Experts pl, pt (rank 8), it (rsLoRA), de (q/v only) on the tiny model, and cy trained from another base.

    This module's own set, in place of conftest.py's ``experts_dir``.
    """
    root = tmp_path_factory.mktemp("exp") / "experts"
    for seed, (lang, spec) in enumerate(EXPERTS.items()):
        make_shaped_expert(tiny_whisper, root / lang, lang, *spec, seed=seed)
    make_shaped_expert(other_base, root / "cy", "cy", 4, 8, False, ALL_TARGETS, seed=9)
    return root


def lora_deltas(adapter_dir: Path) -> dict[str, torch.Tensor]:
    """Dense updates of a saved adapter, read straight from its files: base weight name -> scaling * B @ A."""
    config = json.loads((adapter_dir / "adapter_config.json").read_text())
    state = load_file(adapter_dir / "adapter_model.safetensors")
    deltas = {}
    for key, A in state.items():
        if ".lora_A." not in key:
            continue
        B = state[key.replace(".lora_A.", ".lora_B.")]
        rank = A.shape[0]
        scaling = config["lora_alpha"] / (math.sqrt(rank) if config["use_rslora"] else rank)
        name = key.removeprefix("base_model.model.").replace(".lora_A.weight", ".weight")
        deltas[name] = scaling * B.double() @ A.double()
    return deltas


def weighted_sum(experts_dir: Path, langs: list[str], weights: list[float]) -> dict[str, torch.Tensor]:
    """sum_i w_i * delta_i, densely."""
    total: dict[str, torch.Tensor] = {}
    for lang, w in zip(langs, weights, strict=True):
        for name, d in lora_deltas(experts_dir / lang).items():
            total[name] = total.get(name, 0) + w * d
    return total


def inputs() -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    return {
        "input_features": torch.randn(2, 80, 3000),
        "decoder_input_ids": torch.tensor([[50258, 50269, 50359, 50363, 400, 500]] * 2),
    }


@torch.no_grad()
def logits(model: torch.nn.Module) -> torch.Tensor:
    return model(**inputs()).logits


def dense_model(base_dir: Path, deltas: dict[str, torch.Tensor]) -> torch.nn.Module:
    """The base with ``deltas`` added to its weights."""
    model = WhisperForConditionalGeneration.from_pretrained(base_dir).eval()
    params = dict(model.named_parameters())
    with torch.no_grad():
        for name, d in deltas.items():
            params[name].add_(d.float())
    return model


def adapter_model(base_dir: Path, adapter_dir: Path) -> torch.nn.Module:
    return PeftModel.from_pretrained(WhisperForConditionalGeneration.from_pretrained(base_dir), adapter_dir).eval()


def assert_deltas_close(got: dict[str, torch.Tensor], want: dict[str, torch.Tensor], atol: float = 1e-5) -> None:
    assert set(got) == set(want)
    for name in want:
        torch.testing.assert_close(got[name], want[name], atol=atol, rtol=0, msg=name)


@pytest.mark.parametrize(
    ("langs", "weights"),
    [
        (["pl", "pt"], None),  # unequal ranks, uniform weights
        (["pl", "pt", "it"], [0.2, 0.5, 1.3]),  # unequal weights, an rsLoRA expert
        (["pl", "de"], [0.7, 0.3]),  # different target modules
    ],
)
def test_sum_is_the_exact_weighted_sum(tiny_whisper, experts_dir, tmp_path, langs, weights):
    out = fuse(experts_dir, langs, "sum", tmp_path / "fused_sum", weights=weights)
    w = weights or [1 / len(langs)] * len(langs)
    want = weighted_sum(experts_dir, langs, w)
    assert_deltas_close(lora_deltas(out), want)
    torch.testing.assert_close(
        logits(adapter_model(tiny_whisper, out)), logits(dense_model(tiny_whisper, want)), atol=1e-5, rtol=0
    )
    meta = ModelMeta.load(out)
    assert (meta.kind, meta.languages, meta.extra["fusion"]) == ("lora", langs, "sum")
    assert meta.extra["weights"] == dict(zip(langs, w, strict=True))
    assert meta.base_fingerprint == ModelMeta.load(experts_dir / "pl").base_fingerprint


def test_svd_at_full_rank_equals_sum_and_truncation_is_optimal(experts_dir, tmp_path):
    langs, weights = ["pl", "pt", "it"], [0.5, 0.3, 0.2]
    want = weighted_sum(experts_dir, langs, weights)
    full = fuse(experts_dir, langs, "svd", tmp_path / "full", weights=weights, rank=16)
    assert_deltas_close(lora_deltas(full), want)

    errors = []
    for rank in (2, 4, 8):
        got = lora_deltas(fuse(experts_dir, langs, "svd", tmp_path / f"r{rank}", weights=weights, rank=rank))
        err = sum(float((got[n] - want[n]).square().sum()) for n in want)
        # Eckart-Young: the best rank-r error is the energy in the discarded singular values
        best = sum(float(torch.linalg.svdvals(want[n])[rank:].square().sum()) for n in want)
        assert err == pytest.approx(best, rel=1e-4)
        errors.append(err)
    assert errors[0] > errors[1] > errors[2] > 0
    assert json.loads((tmp_path / "r4" / "adapter_config.json").read_text())["r"] == 4


def test_svd_default_rank_is_the_experts_rank(experts_dir, tmp_path):
    out = fuse(experts_dir, ["pl", "pt"], "svd", tmp_path / "svd")
    assert ModelMeta.load(out).extra["rank"] == 8


@pytest.mark.parametrize("method", ["ties", "dare", "dare_ties"])
def test_peft_methods_give_loadable_adapters(tiny_whisper, experts_dir, tmp_path, method):
    out = fuse(experts_dir, ["pl", "it"], method, tmp_path / method, density=0.5, seed=3)
    fused = logits(adapter_model(tiny_whisper, out))
    base = logits(WhisperForConditionalGeneration.from_pretrained(tiny_whisper).eval())
    assert torch.isfinite(fused).all() and not torch.allclose(fused, base)
    assert ModelMeta.load(out).extra["fusion"] == method
    if method.startswith("dare"):
        again = fuse(experts_dir, ["pl", "it"], method, tmp_path / f"{method}2", density=0.5, seed=3)
        assert_deltas_close(lora_deltas(again), lora_deltas(out), atol=0)  # seeded: reproducible


def test_dare_without_drops_is_peft_linear_with_the_right_scaling(experts_dir, tmp_path):
    """density 1 drops nothing: A and B are each summed with weights sqrt(w_i * s_i), and the fused scaling is 1.

    "it" (rsLoRA) comes first, so this also checks that the fused adapter does not inherit use_rslora.
    """
    langs, weights = ["it", "pl"], [0.4, 0.6]
    out = fuse(experts_dir, langs, "dare", tmp_path / "dare", weights=weights, density=1.0)
    sums: dict[str, list[torch.Tensor]] = {}
    for lang, w in zip(langs, weights, strict=True):
        config = json.loads((experts_dir / lang / "adapter_config.json").read_text())
        state = load_file(experts_dir / lang / "adapter_model.safetensors")
        for key, A in state.items():
            if ".lora_A." in key:
                r = A.shape[0]
                root = math.sqrt(w * config["lora_alpha"] / (math.sqrt(r) if config["use_rslora"] else r))
                B = state[key.replace(".lora_A.", ".lora_B.")]
                name = key.removeprefix("base_model.model.").replace(".lora_A.weight", ".weight")
                acc = sums.setdefault(name, [0, 0])
                acc[0], acc[1] = acc[0] + root * A.double(), acc[1] + root * B.double()
    assert_deltas_close(lora_deltas(out), {name: B @ A for name, (A, B) in sums.items()})


def test_merge_writes_a_plain_transformers_model(tiny_whisper, experts_dir, tmp_path):
    from transformers import WhisperProcessor

    out = fuse(experts_dir, ["pl", "pt"], "sum", tmp_path / "fused", merge=True)
    merged = WhisperForConditionalGeneration.from_pretrained(out / "merged").eval()
    torch.testing.assert_close(logits(merged), logits(adapter_model(tiny_whisper, out)), atol=1e-5, rtol=0)
    WhisperProcessor.from_pretrained(out / "merged")
    generated = merged.generate(inputs()["input_features"][:1], language="pl", max_new_tokens=3)
    assert generated.shape[0] == 1
    meta = ModelMeta.load(out / "merged")
    assert (meta.kind, meta.languages, meta.extra["fusion"]) == ("full", ["pl", "pt"], "sum")


def test_missing_language_lists_available_experts(experts_dir, tmp_path):
    with pytest.raises(LwasrError, match=r"no expert for el .*experts there: cy, de, it, pl, pt"):
        fuse(experts_dir, ["pl", "el"], "sum", tmp_path / "x")
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize(
    ("langs", "message"),
    [(["pl", "pt"], r"different LoRA ranks \(4 vs 8"), (["pl", "de"], "adapt different modules")],
)
def test_ties_needs_equal_ranks_and_modules(experts_dir, tmp_path, langs, message):
    with pytest.raises(LwasrError, match=message):
        fuse(experts_dir, langs, "ties", tmp_path / "x")
    assert not (tmp_path / "x").exists()


def test_experts_from_different_bases_are_refused(experts_dir, tmp_path):
    with pytest.raises(LwasrError, match="different base models"):
        fuse(experts_dir, ["pl", "cy"], "sum", tmp_path / "x")


def test_base_model_with_another_fingerprint_is_refused(experts_dir, other_base, tmp_path):
    with pytest.raises(LwasrError, match=r"fingerprint .* but the experts were trained from"):
        fuse(experts_dir, ["pl", "pt"], "sum", tmp_path / "x", model=str(other_base))


def test_wrong_number_of_weights(experts_dir, tmp_path):
    with pytest.raises(LwasrError, match="2 languages"):
        fuse(experts_dir, ["pl", "pt"], "sum", tmp_path / "x", weights=[1.0])
