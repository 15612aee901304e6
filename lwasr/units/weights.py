"""Finite weights: a unit whose tensors hold NaN or inf is refused when it is written and when it is loaded."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open

from lwasr.errors import LwasrError


def check_finite(tensors: Iterable[tuple[str, torch.Tensor]], unit: str | Path) -> None:
    """Raise LwasrError naming ``unit`` and the first tensor of ``tensors`` (name, tensor) with a NaN or an inf."""
    for name, tensor in tensors:
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            bad = "NaN" if bool(torch.isnan(tensor).any()) else "inf"
            raise LwasrError(
                f"unit {unit}: tensor {name} holds {bad} values; the unit is unusable (a diverged training or"
                " non-finite fusion weights): make it again"
            )


def check_finite_files(unit_dir: str | Path) -> None:
    """:func:`check_finite` over every tensor of the ``*.safetensors`` files directly in ``unit_dir``."""
    for path in sorted(Path(unit_dir).glob("*.safetensors")):
        try:
            with safe_open(str(path), framework="pt") as f:
                check_finite(((name, f.get_tensor(name)) for name in f.keys()), unit_dir)  # noqa: SIM118
        except (OSError, SafetensorError) as e:
            raise LwasrError(f"{path} cannot be loaded ({e}): a damaged or partial file; make the unit again") from e
