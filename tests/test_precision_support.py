"""Which devices compute bfloat16 natively (lwasr/precision_support.py), and what ``auto`` resolves to."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from lwasr import precision_support
from lwasr.precision_support import cpu_bf16_flags, native_bf16, resolve_precision

CPU = torch.device("cpu")


@pytest.mark.parametrize(
    ("flags", "native"),
    [
        ({"avx512_bf16", "avx512f"}, True),  # AMD Zen 4, Intel Cooper Lake
        ({"amx_bf16", "amx_tile", "avx512f"}, True),  # Intel Sapphire Rapids
        ({"avx512f", "avx512_vnni"}, False),  # AVX-512 without bfloat16 units: emulated, slower than float32
        ({"avx2"}, False),
        (set(), False),
    ],
)
def test_a_cpu_computes_bf16_natively_only_with_avx512_bf16_or_amx(flags, native):
    assert native_bf16("cpu", cpu_flags=flags, cuda_bf16=False) is native
    assert native_bf16("cpu", cpu_flags=flags, cuda_bf16=True) is native  # a GPU's answer is not the CPU's


def test_a_gpu_follows_cuda_and_other_devices_never():
    assert native_bf16("cuda", cpu_flags={"avx512_bf16"}, cuda_bf16=True)
    assert not native_bf16("cuda", cpu_flags={"avx512_bf16"}, cuda_bf16=False)
    assert not native_bf16("mps", cpu_flags={"avx512_bf16"}, cuda_bf16=True)


def test_torch_reports_the_flags_the_kernel_lists():
    listed = set(Path("/proc/cpuinfo").read_text().split("flags", 1)[1].split("\n", 1)[0].split())
    assert cpu_bf16_flags() == {f for f in ("avx512_bf16", "amx_bf16") if f in listed}


@pytest.mark.parametrize("native", [True, False])
def test_auto_is_bf16_only_where_native_and_a_value_given_stays(monkeypatch, native):
    monkeypatch.setattr(precision_support, "cpu_bf16_flags", lambda: frozenset({"avx512_bf16"} if native else ()))
    assert resolve_precision("auto", CPU) == ("bfloat16" if native else "float32")
    assert resolve_precision("auto", CPU, on_cpu=False) == "float32"  # where bfloat16 does not pay on a CPU
    assert resolve_precision("float32", CPU) == "float32"
    assert resolve_precision("bfloat16", CPU) == "bfloat16"
