"""Weighted mixtures of LoRA adapters: the one place lwasr combines adapters with weights of its own.

In every LoRA layer of a PeftModel, a mixture of adapters ``i`` with weights ``w_i`` computes

    y = W x + b + sum_i w_i * s_i * B_i A_i dropout_i(x)        (s_i = alpha_i / r_i, adapter i's own scaling)

Soft routing (``lwasr decode --soft-top-k``: one weight per batch row), learned fusion (a gate's weights per module
group) and LoRA-MoE (fixed or learned weights per module) all mix through here, with peft's public interface:

- weights that change per forward (a gate that is trained, the rows of a batch): :class:`WeightedAdapters` switches
  peft's own adapter sum off in each LoRA layer (``enable_adapters(False)``, as ``disable_adapter`` does) and adds
  the weighted sum in a forward hook, from the layer's adapter state as ``LoraLayer.forward`` reads it (``lora_A``,
  ``lora_B``, ``lora_dropout``, ``scaling``);
- constant weights: :func:`scale_adapters` (``LoraLayer.set_scale``), so that peft's own forward computes the sum of
  the active adapters and ``merge_adapter`` merges exactly that into the base weights;
- one adapter per row (hard routing): :func:`per_sample_adapters`, peft's own per-sample path (the ``adapter_names``
  argument of ``LoraLayer.forward``).

peft's ``add_weighted_adapter`` is not used: its weights are one number per adapter for the whole model (fusion and
LoRA-MoE weight each module), and it writes a new adapter rather than weighting the forward.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from peft import PeftModel
from peft.tuners.lora import LoraLayer
from torch import nn

from lwasr.units.experts import lora_layers

#: A weight: a number, a 0-dim tensor (a gate's weight, which gets its gradient) or a ``[rows]`` tensor (one per row).
Weight = float | torch.Tensor
#: ``weights(module, x)``: the (adapter, weight) pairs of the LoRA layer named ``module`` for its input ``x``.
LayerWeights = Callable[[str, torch.Tensor], Iterable[tuple[str, Weight]]]


def add_weighted(
    layer: LoraLayer, x: torch.Tensor, output: torch.Tensor, weights: Iterable[tuple[str, Weight]]
) -> torch.Tensor:
    """``output + sum w * s * B A dropout(x)`` over the (adapter, weight) pairs that ``layer`` has.

    Each term is what ``LoraLayer.forward`` adds for one active adapter, with its scaling times ``w``. A ``[rows]``
    weight that is zero on every row adds nothing and is skipped (soft routing leaves most experts out).
    """
    for name, w in weights:
        if name not in layer.lora_A:
            continue
        per_row = isinstance(w, torch.Tensor) and w.dim() == 1
        if per_row and not bool(w.any()):
            continue
        lora_A, lora_B = layer.lora_A[name], layer.lora_B[name]
        update = lora_B(lora_A(layer.lora_dropout[name](x.to(lora_A.weight.dtype))))
        coef = w * layer.scaling[name]
        if per_row:
            coef = coef.view(-1, *[1] * (update.dim() - 1))
        output = output + (coef * update).to(output.dtype)
    return output


class WeightedAdapters:
    """Every LoRA layer of ``model`` adds its adapters' updates weighted by ``weights`` (see :data:`LayerWeights`),
    in place of peft's own sum of the active adapters, until :meth:`remove`.

    The layers' adapter parameters stop requiring gradients (peft's ``enable_adapters(False)``); a method that trains
    one of them says so (``trainable``). :meth:`remove` gives peft its sum back where it was on before.
    """

    def __init__(self, model: nn.Module, weights: LayerWeights, trainable: Sequence[str] = ()) -> None:
        self.layers = lora_layers(model)
        self._enabled = [layer for layer in self.layers.values() if not layer.disable_adapters]
        self._hooks = []
        for name, layer in self.layers.items():
            layer.enable_adapters(False)
            self._hooks.append(layer.register_forward_hook(_hook(name, weights)))
        if trainable:
            model.set_requires_grad(list(trainable), True)

    def remove(self) -> None:
        """Uninstall the hooks; layers whose adapters were on are switched back on."""
        for hook in self._hooks:
            hook.remove()
        self._hooks = []
        for layer in self._enabled:
            layer.enable_adapters(True)
        self._enabled = []


def _hook(module: str, weights: LayerWeights) -> Callable[..., torch.Tensor]:
    def hook(layer: LoraLayer, args: tuple[Any, ...], output: torch.Tensor) -> torch.Tensor:
        return add_weighted(layer, args[0], output, weights(module, args[0]))

    return hook


def scale_adapters(model: nn.Module, weights: Callable[[str], Mapping[str, float]]) -> None:
    """Constant weights: adapter ``a`` of LoRA layer ``m`` gets the scaling ``weights(m)[a] * alpha_a / r_a``.

    peft's ``LoraLayer.set_scale``: with the weighted adapters active (``set_adapter``), peft's own forward computes
    the mixture, and ``merge_adapter`` merges it into the base weights.
    """
    for name, layer in lora_layers(model).items():
        for adapter, w in weights(name).items():
            layer.set_scale(adapter, w)


def freeze_adapters(model: PeftModel, adapters: Sequence[str]) -> None:
    """Make ``adapters`` fixed functions in a mixture that trains: no gradients, and no LoRA dropout.

    The dropout module is replaced by the identity (peft has no switch for one adapter's dropout).
    """
    model.set_requires_grad(list(adapters), False)
    for layer in lora_layers(model).values():
        for name in adapters:
            if name in layer.lora_dropout:
                layer.lora_dropout[name] = nn.Identity()


@dataclass(frozen=True)
class AdapterMixture:
    """Per-row weights ``[batch, len(adapters)]`` over named adapters (soft routing)."""

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

    def layer_weights(self, module: str, x: torch.Tensor) -> list[tuple[str, torch.Tensor]]:
        """Each adapter's ``[rows]`` weights for an input of ``x.shape[0]`` rows: beam search expands each row into
        ``n`` beams, so each row's weights are repeated ``n`` times, as ``generate`` repeats the encoder output."""
        weights = self.weights.to(x.device)
        if x.shape[0] != weights.shape[0]:
            weights = weights.repeat_interleave(x.shape[0] // weights.shape[0], dim=0)
        return [(name, weights[:, j]) for j, name in enumerate(self.adapters)]


@contextlib.contextmanager
def mixed_adapters(model: nn.Module, mixture: AdapterMixture) -> Iterator[None]:
    """Every LoRA layer of ``model`` adds each row's weighted expert updates (:class:`WeightedAdapters`)."""
    mix = WeightedAdapters(model, mixture.layer_weights)
    try:
        yield
    finally:
        mix.remove()


@contextlib.contextmanager
def per_sample_adapters(model: nn.Module, adapter_names: Sequence[str]) -> Iterator[None]:
    """Row ``i`` of every LoRA layer's input goes through adapter ``adapter_names[i]`` alone (``__base__``: none).

    peft's per-sample routing: ``LoraLayer.forward(x, adapter_names=...)``. ``PeftModel.forward`` and ``generate``
    take ``adapter_names`` and hand it to the layers (with the private ``_enable_peft_forward_hooks``); the greedy
    search calls Whisper's encoder and decoder without going through ``PeftModel.forward``, so this hands it to the
    layers itself, in a forward pre-hook.
    """
    names = list(adapter_names)

    def pass_names(layer: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
        return args, {**kwargs, "adapter_names": names}

    hooks = [layer.register_forward_pre_hook(pass_names, with_kwargs=True) for layer in lora_layers(model).values()]
    try:
        yield
    finally:
        for hook in hooks:
            hook.remove()
