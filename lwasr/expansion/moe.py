"""LoRA-MoE: a new trainable LoRA mixed with frozen base-language experts, and the ``moe`` unit on disk.

All adapters live on one PeftModel: the base experts under their language codes, the new one under
:data:`NEW`, mixed by :mod:`lwasr.units.mixture`: for a wrapped linear layer

    y = W x + b + g_new * s_new * B_new A_new x + sum_i g_i * s_i * B_i A_i x        (s = alpha / r)

Gates (``--moe-gate``):

- ``fixed``: ``g_new = 1`` and ``g_i`` = the similarity scores of the top-k experts renormalised to sum 1.
  Exact by construction (the layer computes the formula above); the tests check it against a dense merge.
- ``learned``: per LoRA-wrapped module, ``g = softmax(logits)`` over ``[new, base_1..k]`` (k+1 parameters per
  module), initialised to ``[1/2, w_1/2, ..., w_k/2]`` (half the new expert, half the similarity mixture).
  The layer adds the mixture with ``g`` computed from the logits in each forward, so gradients reach them.
  We chose this over a router on pooled encoder states because the gate is input-independent:
  after training it is a constant per module, so decoding merges every adapter into the dense weights and
  runs at plain-model speed; it has few parameters (it cannot overfit a small new-language set); and a
  router would need the encoder output before the encoder's own LoRA layers have run.

Unit layout (``lwasr.json`` kind ``moe``)::

    <unit>/lwasr.json          extra.moe: gate, weights, base experts (lang, path, sha256 of their safetensors)
    <unit>/new/                the new adapter (PEFT format)
    <unit>/gate.safetensors    learned gate logits by module name (gate=learned only)
"""

from __future__ import annotations

import hashlib
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from peft import PeftModel
from peft.tuners.lora import LoraLayer
from safetensors.torch import load_file, save_file
from torch import nn
from transformers import WhisperTokenizerFast

from lwasr.decoding.systems import System
from lwasr.errors import LwasrError
from lwasr.expansion.config import check_moe_gate
from lwasr.models.resolve import resolve_model
from lwasr.units.experts import (
    Expert,
    attach_experts,
    base_spec,
    check_compatible,
    load_base,
    load_experts,
    lora_layers,
)
from lwasr.units.kinds import register_loader
from lwasr.units.meta import ModelMeta
from lwasr.units.mixture import WeightedAdapters, freeze_adapters, scale_adapters

NEW = "new"
GATE_FILE = "gate.safetensors"
SAFETENSORS = "adapter_model.safetensors"
GATE_PARAM = "lwasr_moe_logits"


def sha256_file(path: str | Path) -> str:
    """Hex sha256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def check_k(k: int, available: Sequence[str]) -> None:
    """``--moe-k`` must be between 1 and the number of base experts."""
    if k < 1:
        raise LwasrError(f"--moe-k must be at least 1, got {k}")
    if k > len(available):
        have = ", ".join(available) or "none"
        raise LwasrError(f"--moe-k {k} is larger than the number of base experts ({len(available)}: {have})")


def fixed_weights(scores: Sequence[float]) -> list[float]:
    """Similarity scores renormalised to sum 1 (uniform when they are all zero)."""
    total = float(sum(scores))
    return [float(s) / total for s in scores] if total > 0 else [1.0 / len(scores)] * len(scores)


class Mixture:
    """The mixing state of a PeftModel holding the base experts (``langs``) and the new adapter :data:`NEW`.

    Freezes the base experts (their dropout off: they are fixed functions) and mixes all the adapters with
    :mod:`lwasr.units.mixture`: the fixed gate as their scalings, the learned gate in a
    :class:`~lwasr.units.mixture.WeightedAdapters` mixture whose weights are the softmax of per-module logits (a
    parameter of each LoRA layer, so that checkpoints hold it). ``weights`` are the base experts' fixed weights (for
    ``learned``: the initial ones).
    """

    def __init__(self, model: PeftModel, langs: Sequence[str], weights: Sequence[float], gate: str) -> None:
        check_moe_gate(gate)
        if len(langs) != len(weights):
            raise ValueError("one weight per base expert")
        self.model, self.langs, self.gate = model, list(langs), gate
        self.weights = dict(zip(self.langs, map(float, weights), strict=True))
        self.order = [NEW, *self.langs]
        self.layers = lora_layers(model)
        model.base_model.set_adapter(self.order)
        freeze_adapters(model, self.langs)
        self._learned: WeightedAdapters | None = None
        if gate == "fixed":
            scale_adapters(model, self.initial_gates)
        else:
            self._install_learned()

    def _present(self, layer: LoraLayer) -> list[str]:
        return [n for n in self.order if n in layer.lora_A]

    def initial_gates(self, module: str) -> dict[str, float]:
        """Gate values of ``module`` before training: fixed ``[1, w]``; learned ``[1/2, w/2]`` renormalised."""
        present = self._present(self.layers[module])
        raw = {n: (1.0 if n == NEW else self.weights[n]) for n in present}
        if self.gate == "fixed":
            return raw
        total = sum(raw.values())
        return {n: v / total for n, v in raw.items()}

    def gates(self, module: str) -> dict[str, float]:
        """The current gate values of ``module`` (adapter name -> g)."""
        if self.gate == "fixed":
            return self.initial_gates(module)
        layer = self.layers[module]
        probs = getattr(layer, GATE_PARAM).detach().float().softmax(-1).tolist()
        return dict(zip(self._present(layer), probs, strict=True))

    def _install_learned(self) -> None:
        for module, layer in self.layers.items():
            init = self.initial_gates(module)
            logits = torch.tensor([math.log(max(init[n], 1e-8)) for n in self._present(layer)])
            weight = next(iter(layer.lora_A.values())).weight
            setattr(layer, GATE_PARAM, nn.Parameter(logits.to(weight.device)))
        self._learned = WeightedAdapters(self.model, self._learned_weights, trainable=[NEW])

    def _learned_weights(self, module: str, x: torch.Tensor) -> list[tuple[str, torch.Tensor]]:
        layer = self.layers[module]
        g = getattr(layer, GATE_PARAM).softmax(-1)
        return [(name, g[j]) for j, name in enumerate(self._present(layer))]

    def gate_state(self) -> dict[str, torch.Tensor]:
        """Learned gate logits by module name (empty for the fixed gate)."""
        if self.gate == "fixed":
            return {}
        return {m: getattr(layer, GATE_PARAM).detach().cpu().clone() for m, layer in self.layers.items()}

    def load_gate_state(self, state: dict[str, torch.Tensor]) -> None:
        """Load :meth:`gate_state` output (learned gate)."""
        if set(state) != set(self.layers):
            raise LwasrError("the gate file does not match the model's LoRA modules")
        with torch.no_grad():
            for m, logits in state.items():
                getattr(self.layers[m], GATE_PARAM).copy_(logits)

    def freeze(self) -> None:
        """Fix the gates at their current values (the adapters' scalings, no hooks): ready to merge for decoding."""
        current = {m: self.gates(m) for m in self.layers}
        if self._learned is not None:
            self._learned.remove()
            self._learned = None
            freeze_adapters(self.model, self.langs)
        for layer in self.layers.values():
            if hasattr(layer, GATE_PARAM):
                delattr(layer, GATE_PARAM)
        scale_adapters(self.model, current.__getitem__)
        self.gate = "fixed-after-training" if self.gate == "learned" else self.gate

    def mean_gates(self) -> dict[str, float]:
        """Average gate value per adapter over the modules (a summary for logs and lwasr.json)."""
        sums: dict[str, list[float]] = {n: [] for n in self.order}
        for m in self.layers:
            for n, g in self.gates(m).items():
                sums[n].append(g)
        return {n: round(sum(v) / len(v), 6) for n, v in sums.items() if v}


def attach_moe(
    base: nn.Module, experts: list[Expert], weights: Sequence[float], gate: str, new: Any
) -> tuple[PeftModel, Mixture]:
    """``base`` (changed in place) with the frozen ``experts`` and the new adapter, mixed by ``gate``.

    ``new``: a LoraConfig (a fresh trainable adapter) or a PEFT adapter directory (a saved new adapter).
    """
    model = attach_experts(base, experts)
    if isinstance(new, (str, Path)):
        model.load_adapter(str(new), adapter_name=NEW)
    else:
        model.add_adapter(NEW, new)
    return model, Mixture(model, [e.lang for e in experts], weights, gate)


def expert_refs(experts: list[Expert], weights: Sequence[float], unit_dir: Path) -> list[dict[str, Any]]:
    """How the unit references its base experts: language, path (absolute and relative to the unit), sha256."""
    return [
        {
            "lang": e.lang,
            "path": str(e.path.resolve()),
            "relpath": os.path.relpath(e.path.resolve(), unit_dir.resolve()),
            "sha256": sha256_file(e.path / SAFETENSORS),
            "weight": float(w),
        }
        for e, w in zip(experts, weights, strict=True)
    ]


def resolve_refs(unit_dir: Path, refs: list[dict[str, Any]]) -> list[Expert]:
    """Load the base experts a unit references (relative path first, then absolute); check their sha256."""
    experts = []
    for ref in refs:
        candidates = [(unit_dir / ref["relpath"]).resolve(), Path(ref["path"])]
        path = next((p for p in candidates if (p / SAFETENSORS).is_file()), None)
        if path is None:
            raise LwasrError(f"base expert {ref['lang']} of {unit_dir} not found at {ref['path']}")
        found = sha256_file(path / SAFETENSORS)
        if found != ref["sha256"]:
            raise LwasrError(
                f"base expert {path} has changed since the MoE unit {unit_dir} was trained"
                f" (sha256 {found[:12]} != {ref['sha256'][:12]}); retrain the unit"
            )
        if path.name != ref["lang"]:
            raise LwasrError(f"base expert directory {path} is not named after its language {ref['lang']!r}")
        experts += load_experts(path.parent, [ref["lang"]])
    check_compatible(experts)
    return experts


def save_gate(mixture: Mixture, unit_dir: Path) -> None:
    """Write the learned gate logits (nothing for the fixed gate)."""
    state = mixture.gate_state()
    if state:
        save_file({k: v.contiguous() for k, v in state.items()}, str(unit_dir / GATE_FILE))


def load_moe(unit_dir: str | Path, model: str | None = None) -> tuple[PeftModel, Mixture, list[Expert]]:
    """Rebuild a saved ``moe`` unit: base model + base experts + new adapter, gates as trained (frozen)."""
    unit_dir = Path(unit_dir)
    meta = ModelMeta.load(unit_dir)
    if meta.kind != "moe":
        raise LwasrError(f"{unit_dir} is a {meta.kind!r} unit, not a moe unit")
    info = meta.extra["moe"]
    experts = resolve_refs(unit_dir, info["experts"])
    if meta.base_fingerprint != experts[0].meta.base_fingerprint:
        raise LwasrError(f"{unit_dir} was trained on another base model than its experts")
    base = load_base(experts, model)
    peft_model, mixture = attach_moe(
        base, experts, [r["weight"] for r in info["experts"]], info["gate"], unit_dir / info.get("new_adapter", NEW)
    )
    if info["gate"] == "learned":
        mixture.load_gate_state(load_file(str(unit_dir / GATE_FILE)))
    mixture.freeze()
    return peft_model.eval(), mixture, experts


@register_loader("moe")
def load_moe_system(spec: str, meta: ModelMeta | None, model_override: str | None) -> MoeSystem:
    """The decode loader of kind ``moe``: every adapter merged with its gate into the dense weights."""
    path = Path(spec)
    assert meta is not None
    model, _, experts = load_moe(path, model_override)
    model.merge_adapter()
    tok = WhisperTokenizerFast.from_pretrained(resolve_model(base_spec(experts, model_override)))
    return MoeSystem(model, tok, source=str(path), meta=meta)


class MoeSystem(System):
    """A decodable ``moe`` unit: one merged model for its new language, prompted with ``extra.prompt_lang``."""

    kind = "moe"

    def __init__(self, model: nn.Module, tokenizer: WhisperTokenizerFast, *, source: str, meta: ModelMeta) -> None:
        super().__init__(model, tokenizer, source=source, meta=meta)
        self.new_lang = meta.languages[0]

    def check_languages(self, langs: Sequence[str]) -> None:
        other = sorted(set(langs) - {self.new_lang})
        if other:
            raise LwasrError(
                f"{self.source} is the MoE unit of {self.new_lang}; it does not decode {', '.join(other)}"
                " (decode base languages with their experts)"
            )

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "languages": [self.new_lang]}
