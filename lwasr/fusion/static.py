"""Static fusion: combine LoRA experts into one adapter with fixed weights (sum, svd, ties, dare, dare_ties).

The methods are registered in :mod:`lwasr.fusion.methods`; this module holds their arithmetic.

``sum`` is exact: the fused adapter's update is ``sum_i w_i * s_i * B_i @ A_i`` (``s_i = lora_alpha / r``),
built by concatenation (A stacked, B side by side and scaled), so its rank is the sum of the experts' ranks.
``svd`` truncates that exact sum to rank ``r`` per module (the best rank-r approximation, Eckart-Young).
``ties``, ``dare`` and ``dare_ties`` are peft's ``add_weighted_adapter`` methods, which combine the A and B
factors separately; they are heuristics kept for comparison.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import torch
from peft import LoraConfig, PeftModel, get_peft_model_state_dict
from safetensors.torch import save_file

from lwasr.units.experts import Factors, lora_layers

FUSED = "fused"


def sum_factors(experts: list[dict[str, Factors]], weights: list[float]) -> dict[str, Factors]:
    """The exact weighted sum of the experts' updates, per module, as concatenated factors with scaling 1.

    A module adapted by only some experts sums only those (the others contribute zero).
    """
    names = list(dict.fromkeys(name for factors in experts for name in factors))
    fused = {}
    for name in names:
        parts = [(w, f[name]) for w, f in zip(weights, experts, strict=True) if name in f]
        A = torch.cat([f.A for _, f in parts], dim=0)
        B = torch.cat([(w * f.scaling) * f.B for w, f in parts], dim=1)
        fused[name] = Factors(A=A, B=B, scaling=1.0)
    return fused


def truncated_svd(f: Factors, rank: int) -> Factors:
    """The best rank-``rank`` approximation of ``f.delta()``, computed from the factors without the dense matrix.

    With thin QRs ``B = Qb Rb`` and ``A^T = Qa Ra``, ``delta = Qb (s Rb Ra^T) Qa^T``; the SVD of the small
    middle matrix gives the SVD of ``delta``. The singular values are split evenly between the new A and B.
    """
    Qb, Rb = torch.linalg.qr(f.B.double())
    Qa, Ra = torch.linalg.qr(f.A.double().T)
    U, S, Vh = torch.linalg.svd(f.scaling * (Rb @ Ra.T))
    k = min(rank, S.numel())
    root = S[:k].sqrt()
    B = (Qb @ U[:, :k]) * root
    A = root[:, None] * (Vh[:k] @ Qa.T)
    return Factors(A=A.to(f.A.dtype), B=B.to(f.B.dtype), scaling=1.0)


def svd_factors(experts: list[dict[str, Factors]], weights: list[float], rank: int) -> dict[str, Factors]:
    """The exact weighted sum (see :func:`sum_factors`), truncated to ``rank`` per module."""
    return {name: truncated_svd(f, rank) for name, f in sum_factors(experts, weights).items()}


def _pad(f: Factors, rank: int) -> Factors:
    """``f`` with zero rows in A and zero columns in B up to ``rank`` (the update is unchanged)."""
    extra = rank - f.rank
    return Factors(
        A=torch.cat([f.A, f.A.new_zeros(extra, f.A.shape[1])]),
        B=torch.cat([f.B, f.B.new_zeros(f.B.shape[0], extra)], dim=1),
        scaling=f.scaling,
    )


def fused_config(template: LoraConfig, rank: int, modules: list[str] | None) -> LoraConfig:
    """A LoRA config of rank ``rank`` and scaling 1 (alpha = r); targets ``modules`` by name if given."""
    config = dataclasses.replace(
        template, r=rank, lora_alpha=rank, use_rslora=False, rank_pattern={}, alpha_pattern={}, inference_mode=True
    )
    if modules is not None:
        config.target_modules = sorted(modules)
        config.layers_to_transform = None
        config.layers_pattern = None
        config.exclude_modules = None
    return config


def add_factors(model: PeftModel, fused: dict[str, Factors], template: LoraConfig, same_modules: bool) -> None:
    """Add adapter ``fused`` to ``model`` holding exactly ``fused`` (scaling-1 factors, zero-padded to one rank).

    ``same_modules``: every expert adapts the same modules, so the experts' target spec is kept; otherwise the
    fused adapter lists the union of adapted modules by full name.
    """
    rank = max(f.rank for f in fused.values())
    model.add_adapter(FUSED, fused_config(template, rank, None if same_modules else list(fused)))
    layers = {name: layer for name, layer in lora_layers(model).items() if FUSED in layer.lora_A}
    if set(layers) != set(fused):
        raise RuntimeError(f"fused adapter covers {len(layers)} modules, expected {len(fused)}")
    with torch.no_grad():
        for name, f in fused.items():
            f = _pad(f, rank)
            layers[name].lora_A[FUSED].weight.copy_(f.A)
            layers[name].lora_B[FUSED].weight.copy_(f.B)


def add_peft_merge(
    model: PeftModel, langs: list[str], weights: list[float], combination: str, density: float, seed: int
) -> None:
    """Add adapter ``fused`` made by peft's ``add_weighted_adapter`` (``combination``: ties, dare_linear, dare_ties).

    DARE's random drops are seeded with ``seed`` without touching the global RNG.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model.add_weighted_adapter(langs, weights, FUSED, combination_type=combination, density=density)
    # peft writes factors for scaling 1 (alpha = r) but copies use_rslora from the first expert
    model.peft_config[FUSED].use_rslora = False


def save_adapter(model: PeftModel, out: Path, adapter: str = FUSED, base_path: str | None = None) -> None:
    """Write ``adapter`` of ``model`` as a standalone PEFT adapter directory (loadable by PeftModel.from_pretrained)."""
    out.mkdir(parents=True, exist_ok=True)
    state = get_peft_model_state_dict(model, adapter_name=adapter)
    save_file({k: v.detach().contiguous() for k, v in state.items()}, str(out / "adapter_model.safetensors"))
    config = dataclasses.replace(model.peft_config[adapter], inference_mode=True)
    if base_path is not None:
        config.base_model_name_or_path = base_path
    config.save_pretrained(str(out))


def same_modules(factors: dict[str, dict[str, Factors]]) -> bool:
    """Whether every expert of ``factors`` (language -> module -> Factors) adapts the same modules."""
    per_expert = list(factors.values())
    return all(set(f) == set(per_expert[0]) for f in per_expert)
