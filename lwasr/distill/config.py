"""The distillation configuration: a :class:`~lwasr.training.config.UnitConfig` plus teacher, loss and init."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from lwasr.errors import LwasrError
from lwasr.training.config import UnitConfig, setting

INIT_PREFIXES = ("fused", "shared")
STUDENTS = {"lora": "shared", "full": "full"}  # --student -> mode
STUDENT_HELP = "lora (one LoRA adapter) or full (every weight)."


@dataclass
class DistillConfig(UnitConfig):
    """One student: ``mode`` shared (a LoRA student) or full; loss ``alpha*CE + (1-alpha)*tau^2*KL``.

    ``init``: ``scratch`` (a fresh LoRA, or the base weights for a full student), or an lwasr unit directory,
    optionally labelled ``fused:<dir>`` (must be a fusion output) or ``shared:<dir>`` (a shared/full baseline).
    """

    langs: list[str] | None = setting(None, "Target languages, comma-separated (default: all in --cuts).")
    teachers: str = setting("", "Experts directory (<dir>/<lang>/ adapters): the teachers.")
    alpha: float = setting(0.5, "Weight of the CE on the references.")
    temperature: float = setting(2.0, "Softening temperature tau.")
    init: str = setting("scratch", "scratch, fused:<dir>, shared:<dir>, or a unit dir.")
    teacher_cache: str | None = setting(None, "Directory of cached top-k teacher logits (shared).")
    cache_topk: int = setting(32, "Teacher logits kept per position in the cache.")
    name: str = setting("", "Student name: <exp-dir>/<name>/ (default distilled[_full]_aware or ..._agnostic).")

    def __post_init__(self) -> None:
        if not self.name:
            self.name = student_name(self.mode, self.lang_token)
        super().__post_init__()

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


def student_mode(student: str) -> str:
    """The ``mode`` of a ``--student``: lora -> shared, full -> full."""
    if student not in STUDENTS:
        raise LwasrError(f"--student must be lora or full, not {student!r}")
    return STUDENTS[student]


def student_name(mode: str, lang_token: bool) -> str:
    """The default student name: ``distilled[_full]_aware`` (with the language token) or ``..._agnostic``."""
    return "distilled" + ("_full" if mode == "full" else "") + ("_aware" if lang_token else "_agnostic")


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
