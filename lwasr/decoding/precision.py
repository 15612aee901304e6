"""Decoding precision (``lwasr decode --dtype``): float32, bfloat16, or int8.

int8 is PyTorch's dynamic quantization of every linear layer (``torch.ao.quantization.quantize_dynamic``): int8
weights, activations quantized per batch on the fly, on CPU only. It is what faster-whisper's CPU default
(CTranslate2 ``int8``) does to the same layers. Experts cannot be decoded in int8: switching experts merges
each LoRA into the float weights of the layers that int8 replaces. torch marks ``torch.ao.quantization`` as
deprecated in favour of torchao; it works in the pinned torch 2.13, and its deprecation warnings are silenced.
"""

from __future__ import annotations

import warnings

import torch
from torch import nn

from lwasr.errors import LwasrError

DTYPES = ("float32", "bfloat16", "int8")


def check_dtype(dtype: str) -> None:
    """LwasrError unless ``dtype`` is one of :data:`DTYPES`."""
    if dtype not in DTYPES:
        raise LwasrError(f"unknown --dtype {dtype!r}; use one of {', '.join(DTYPES)}")


def apply_precision(model: nn.Module, dtype: str, device: torch.device, *, routes_by_language: bool) -> torch.dtype:
    """Convert ``model`` (in place) to decode at ``dtype`` on ``device``; return the dtype its input features need."""
    check_dtype(dtype)
    if dtype == "float32":
        return torch.float32
    if dtype == "bfloat16":
        model.to(torch.bfloat16)
        return torch.bfloat16
    if device.type != "cpu":
        raise LwasrError(f"--dtype int8 is dynamic quantization for CPU, not {device.type}; use bfloat16 there")
    if routes_by_language:
        raise LwasrError(
            "--dtype int8 cannot switch language experts (each LoRA merges into float weights); decode the experts"
            " in float32 or bfloat16, or export one expert (lwasr export --lang) and decode that in int8"
        )
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*deprecated.*")
        torch.ao.quantization.quantize_dynamic(model, {nn.Linear}, dtype=torch.qint8, inplace=True)
    return torch.float32
