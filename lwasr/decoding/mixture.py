"""Soft routing: each utterance decoded by a weighted mixture of experts (per-sample adapter weights).

Row ``b`` of a batch gets, in every LoRA layer, ``y = W x + sum_j w[b, j] * s_j * B_j A_j x``: the experts'
updates weighted by that row's weights (the adapters are not merged). With one-hot weights this is peft's
per-sample routing (``adapter_names``), so soft routing of the top-1 expert decodes what hard routing decodes
(tests/test_router.py). The weights come from language ID: the top-k languages' probabilities, renormalised
over them (:meth:`AdapterMixture.top_k`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import torch
from peft import PeftModel

from lwasr.units.experts import lora_layers


@dataclass(frozen=True)
class AdapterMixture:
    """Per-row weights ``[batch, len(adapters)]`` over named adapters."""

    adapters: tuple[str, ...]
    weights: torch.Tensor

    @classmethod
    def top_k(cls, probs: torch.Tensor, adapters: Sequence[str], k: int) -> AdapterMixture:
        """The ``k`` most probable of ``probs`` (``[batch, len(adapters)]``) per row, renormalised to sum 1."""
        values, indices = probs.float().topk(min(k, probs.shape[-1]), dim=-1)
        weights = torch.zeros_like(probs, dtype=torch.float32)
        weights.scatter_(-1, indices, values / values.sum(-1, keepdim=True))
        return cls(tuple(adapters), weights)

    def take(self, rows: Sequence[int]) -> AdapterMixture:
        """The mixture of some rows of the batch."""
        return AdapterMixture(self.adapters, self.weights[list(rows)])

    def single(self, row: int) -> bool:
        """Whether ``row`` is decoded by one adapter alone (one-hot weights)."""
        return bool((self.weights[row] == 1).any())


@contextlib.contextmanager
def mixed_adapters(model: PeftModel, mixture: AdapterMixture) -> Iterator[None]:
    """Every LoRA layer of ``model`` adds each row's weighted expert updates (call with the adapters disabled).

    A batch of ``n x rows`` (beam search expands each row into ``n`` beams) repeats each row's weights ``n``
    times, as ``generate`` repeats the encoder output.
    """

    def add_updates(layer, args, output: torch.Tensor) -> torch.Tensor:
        x = args[0]
        weights = mixture.weights.to(output.device)
        if x.shape[0] != weights.shape[0]:
            weights = weights.repeat_interleave(x.shape[0] // weights.shape[0], dim=0)
        for j, name in enumerate(mixture.adapters):
            w = weights[:, j]
            if name not in layer.lora_A or not bool(w.any()):
                continue
            lx = layer._cast_input_dtype(x, layer.lora_A[name].weight.dtype)
            update = layer.lora_B[name](layer.lora_A[name](lx)) * layer.scaling[name]
            output = output + (w.view(-1, *[1] * (update.dim() - 1)) * update).to(output.dtype)
        return output

    hooks = [layer.register_forward_hook(add_updates) for layer in lora_layers(model).values()]
    try:
        yield
    finally:
        for hook in hooks:
            hook.remove()
