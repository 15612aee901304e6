"""The distillation configuration: a :class:`~lwasr.training.config.UnitConfig` plus teacher, loss and init."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from lwasr.errors import LwasrError
from lwasr.training.config import UnitConfig

INIT_PREFIXES = ("fused", "shared")


@dataclass
class DistillConfig(UnitConfig):
    """One student: ``mode`` shared (a LoRA student) or full; loss ``alpha*CE + (1-alpha)*tau^2*KL``.

    ``init``: ``scratch`` (a fresh LoRA, or the base weights for a full student), or an lwasr unit directory,
    optionally labelled ``fused:<dir>`` (must be a fusion output) or ``shared:<dir>`` (a shared/full baseline).
    """

    teachers: str = ""  # experts directory: <teachers>/<lang>/ per language
    alpha: float = 0.5  # weight of the cross-entropy on the references
    temperature: float = 2.0
    init: str = "scratch"
    teacher_cache: str | None = None  # directory of cached top-k teacher logits
    cache_topk: int = 32
    name: str = "distilled"

    def _validate(self) -> None:
        super()._validate()
        checks = [
            (bool(self.teachers), "distillation needs the teachers' experts directory (--teachers)"),
            (0.0 <= self.alpha <= 1.0, f"alpha must be in [0, 1], got {self.alpha}"),
            (self.temperature > 0, f"temperature must be positive, got {self.temperature}"),
            (self.cache_topk >= 1, f"cache_topk must be at least 1, got {self.cache_topk}"),
        ]
        for ok, message in checks:
            if not ok:
                raise LwasrError(message)
        parse_init(self.init)

    @property
    def student(self) -> str:
        """``lora`` or ``full``."""
        return "full" if self.mode == "full" else "lora"


def parse_init(spec: str) -> tuple[str, Path | None]:
    """``scratch`` -> (scratch, None); ``fused:<dir>`` / ``shared:<dir>`` -> (label, dir); ``<dir>`` -> (path, dir)."""
    if spec == "scratch":
        return "scratch", None
    label, sep, rest = spec.partition(":")
    if sep and label in INIT_PREFIXES:
        if not rest:
            raise LwasrError(f"--init {spec}: give a directory after '{label}:'")
        return label, Path(rest)
    if not spec:
        raise LwasrError("--init must be scratch, fused:<dir>, shared:<dir> or a model directory")
    return "path", Path(spec)
