"""The learned-fusion configuration (``lwasr fuse --method learned``); imports nothing heavy, for the CLI."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from lwasr.config_fields import finite_numbers
from lwasr.errors import LwasrError
from lwasr.langcodes import parse_langs
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


@dataclass(kw_only=True)
class FuseOptions:
    """The settings of one ``lwasr fuse`` of its own (the experts, ``merge`` and the learned run's training
    settings are :class:`FuseConfig` fields). The command line gives the lists comma-separated; they become lists
    here."""

    langs: list[str] = setting(help="Target languages, comma-separated Whisper codes: pl,pt,it.", cli_type=str)
    out: Path = setting(help="Output directory: new, or an earlier fuse output (kept unless --overwrite).")
    method: str = setting("sum", "Fusion method (see above).")
    weights: list[float] | None = setting(
        None, "One weight per language, comma-separated: 0.5,0.5.", cli_type=str | None
    )
    lambdas: list[float] | None = setting(
        None,
        "sum, svd: task arithmetic, weight λ for every expert, λ chosen from this grid (e.g. 0.2,0.4,0.6,0.8,1.0) by"
        " the lowest dev loss on --dev-cuts.",
        cli_type=str | None,
    )
    rank: int | None = setting(None, "svd: rank of the fused adapter, at least 1 (default: the experts' largest rank).")
    density: float = setting(0.5, "ties/dare: fraction of factor entries kept, in (0, 1].")
    seed: int = setting(0, "dare: seed of the random drops.")
    model: str | None = setting(None, "Base model (default: the one recorded in the experts' lwasr.json).")
    overwrite: bool = setting(False, "Replace an earlier fuse output at --out (once the new one is complete).")

    def __post_init__(self) -> None:
        self.langs = parse_langs(self.langs) if isinstance(self.langs, str) else list(self.langs)
        self.out = Path(self.out)
        self.weights = None if self.weights is None else finite_numbers(self.weights, "--weights")
        self.lambdas = None if self.lambdas is None else finite_numbers(self.lambdas, "--lambdas")
        if self.rank is not None and self.rank < 1:
            raise LwasrError(f"--rank must be at least 1 (leave it out for the experts' rank), got {self.rank}")
