"""Which adapters decode the rows of a batch, when they differ from row to row.

Three cases, each a class: the model as it is for every row (:class:`RowAdapters` itself: no adapter, or the
one the system made active), peft's per-sample adapters (:class:`PerSampleAdapters`, ``adapter_names``), or each
row's weighted mixture of adapters (:class:`MixedAdapters`, soft routing: lwasr/units/mixture.py). Each gives
the decoder-call context of some rows of the batch (what greedy search wraps every decoder call in), and how
``generate`` runs.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Any

from torch import nn

from lwasr.units.mixture import AdapterMixture, mixed_adapters, per_sample_adapters


class RowAdapters:
    """Which adapters decode each row: here, the model as it is for every row; the subclasses below differ."""

    def context(self, rows: Sequence[int]) -> AbstractContextManager[Any]:
        """The decoder-call context of ``rows`` of the batch."""
        return contextlib.nullcontext()

    def generate_context(self, size: int) -> AbstractContextManager[Any]:
        """The context of a ``generate`` call on the whole batch of ``size`` rows."""
        return contextlib.nullcontext()

    def generate_inputs(self) -> dict[str, Any]:
        """What ``generate`` gets besides the encoder output and the prompt."""
        return {}


class PerSampleAdapters(RowAdapters):
    """Row ``i`` decoded by the adapter ``names[i]`` (peft's per-sample ``adapter_names``)."""

    def __init__(self, model: nn.Module, names: Sequence[str]) -> None:
        self.model = model
        self.names = list(names)

    def context(self, rows: Sequence[int]) -> AbstractContextManager[Any]:
        return per_sample_adapters(self.model, [self.names[r] for r in rows])

    def generate_inputs(self) -> dict[str, Any]:
        return {"adapter_names": self.names}


class MixedAdapters(RowAdapters):
    """Each row decoded by its own weighted mixture of adapters (``mixture``); call with the adapters disabled."""

    def __init__(self, model: nn.Module, mixture: AdapterMixture) -> None:
        self.model = model
        self.mixture = mixture

    def context(self, rows: Sequence[int]) -> AbstractContextManager[Any]:
        return mixed_adapters(self.model, self.mixture.take(rows))

    def generate_context(self, size: int) -> AbstractContextManager[Any]:
        return self.context(range(size))
