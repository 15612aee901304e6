"""The learned-fusion configuration (``lwasr fuse --method learned``); imports nothing heavy, for the CLI."""

from __future__ import annotations

from dataclasses import dataclass

from lwasr.errors import LwasrError
from lwasr.training.config import TrainConfig, UnitConfig, redefault, setting

GATES = ("module", "layer", "global")
GATE_FNS = ("softmax", "linear")


@dataclass
class FuseConfig(UnitConfig):
    """A learned-fusion run: ``experts`` (the experts directory), target ``langs``, the gate's form.

    Its training defaults differ from the shared LoRA's in ``lr``, ``warmup_steps``, ``num_epochs`` and
    ``valid_every``: a few gate parameters learn fast, so two passes over the pooled data, validated after each
    (the best kept), are its default budget.
    """

    lr: float = redefault(TrainConfig, "lr", 1e-2)
    warmup_steps: int = redefault(TrainConfig, "warmup_steps", 10)
    num_epochs: int = redefault(TrainConfig, "num_epochs", 2)
    valid_every: int = redefault(TrainConfig, "valid_every", 0)
    experts: str = setting("", "Experts directory: one adapter per language, <dir>/<lang>/.")
    gate: str = setting("module", "learned: one weight per expert and module (default), layer, or global.")
    gate_fn: str = setting("softmax", "learned: softmax over experts (default) or linear (unconstrained).")
    merge: bool = setting(False, "Also write <out>/merged: base + fused adapter as one HF model.")

    def _validate(self) -> None:
        super()._validate()
        checks = [
            (bool(self.experts), "learned fusion needs the experts directory (--experts)"),
            (bool(self.langs), "learned fusion needs the target languages (--langs)"),
            (self.mode == "shared", "learned fusion trains gate weights only (mode shared)"),
            (self.gate in GATES, f"gate must be one of {', '.join(GATES)}, not {self.gate!r}"),
            (self.gate_fn in GATE_FNS, f"gate_fn must be one of {', '.join(GATE_FNS)}, not {self.gate_fn!r}"),
        ]
        for ok, message in checks:
            if not ok:
                raise LwasrError(message)
