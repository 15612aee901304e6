"""Decoding precision (``lwasr decode --dtype``): auto, float32, bfloat16, or int8.

auto (:func:`decode_dtype`) is bfloat16 for a fine-tuned system on a device that computes bfloat16 natively
(:mod:`lwasr.precision_support`) and float32 otherwise: a base model stays float32, since bfloat16 cost zero-shot
whisper-base WER (docs/performance.md).

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
from lwasr.models.trim import input_dtype
from lwasr.precision_support import device_has_bf16

DTYPES = ("auto", "float32", "bfloat16", "int8")


def check_dtype(dtype: str) -> None:
    """LwasrError unless ``dtype`` is one of :data:`DTYPES`."""
    if dtype not in DTYPES:
        raise LwasrError(f"unknown --dtype {dtype!r}; use one of {', '.join(DTYPES)}")


def decode_dtype(dtype: str, device: torch.device, *, fine_tuned: bool) -> str:
    """``dtype`` with ``auto`` resolved: bfloat16 for a ``fine_tuned`` system (it has an lwasr.json) on a device
    with native bfloat16, float32 for a base model and elsewhere; any other value as it is."""
    if dtype != "auto":
        return dtype
    return "bfloat16" if fine_tuned and device_has_bf16(device) else "float32"


def apply_precision(model: nn.Module, dtype: str, device: torch.device, *, routes_by_language: bool) -> torch.dtype:
    """Convert ``model`` (in place) to decode at ``dtype`` (resolved: not auto) on ``device``; return the dtype
    its input features need. float32 leaves the model as it is: float32 as loaded, or a model training on a
    bfloat16 frozen base (the trainer's dev WER), whose LoRA stays float32."""
    check_dtype(dtype)
    if dtype == "auto":
        raise ValueError("resolve --dtype auto first (decode_dtype)")
    if dtype == "float32":
        return input_dtype(model)
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
