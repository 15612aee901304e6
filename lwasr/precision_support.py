"""Which floating-point precision a device computes fast: bfloat16 where the hardware has it, float32 elsewhere.

A CPU computes bfloat16 natively when it has ``avx512_bf16`` (AMD Zen 4 and later, Intel Cooper Lake) or AMX
(``amx_bf16``: Intel Sapphire Rapids and later); elsewhere torch emulates it, slower than float32. A CUDA GPU
does from Ampere on (``torch.cuda.is_bf16_supported``). The CPU flags are read from torch's own cpuinfo
(``torch.cpu._is_avx512_bf16_supported``, ``torch.cpu._is_amx_tile_supported``): torch has no public call for
them, and ``torch.ops.mkldnn._is_mkldnn_bf16_supported`` also answers yes for AVX-512 CPUs that only emulate it.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # torch is imported where a device is asked about: the config modules only need PRECISIONS
    import torch

#: The values of a precision setting (training's ``precision``); ``auto`` is resolved by :func:`resolve_precision`.
PRECISIONS = ("auto", "float32", "bfloat16", "float16")


def autocast_dtype(precision: str) -> torch.dtype | None:
    """The autocast dtype of a resolved ``precision`` (None: no autocast, float32)."""
    import torch

    return {"float32": None, "bfloat16": torch.bfloat16, "float16": torch.float16}[precision]


#: The CPU flags of native bfloat16 arithmetic, as /proc/cpuinfo names them.
CPU_BF16_FLAGS = ("avx512_bf16", "amx_bf16")


def cpu_bf16_flags() -> frozenset[str]:
    """Which of :data:`CPU_BF16_FLAGS` this machine's CPU has, as torch's cpuinfo reports them."""
    import torch

    found = {"avx512_bf16": torch.cpu._is_avx512_bf16_supported(), "amx_bf16": torch.cpu._is_amx_tile_supported()}
    return frozenset(flag for flag, present in found.items() if present)


def native_bf16(device_type: str, *, cpu_flags: Collection[str], cuda_bf16: bool) -> bool:
    """Whether a device computes bfloat16 natively: a CPU with one of :data:`CPU_BF16_FLAGS` in ``cpu_flags``, a
    CUDA GPU when ``cuda_bf16``; never another device type."""
    if device_type == "cpu":
        return any(flag in cpu_flags for flag in CPU_BF16_FLAGS)
    return device_type == "cuda" and cuda_bf16


def device_has_bf16(device: torch.device) -> bool:
    """:func:`native_bf16` of ``device`` on this machine."""
    import torch

    cuda = device.type == "cuda" and torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    return native_bf16(device.type, cpu_flags=cpu_bf16_flags() if device.type == "cpu" else (), cuda_bf16=cuda)


def resolve_precision(precision: str, device: torch.device, *, on_cpu: bool = True) -> str:
    """``precision`` with ``auto`` resolved on ``device``: bfloat16 where it is native, else float32; on a CPU
    float32 unless ``on_cpu`` (whether the work was measured faster there in bfloat16)."""
    if precision != "auto":
        return precision
    return "bfloat16" if device_has_bf16(device) and (on_cpu or device.type != "cpu") else "float32"
