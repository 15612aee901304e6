"""The settings of one ``lwasr export`` (its options are generated from these fields). Imports nothing heavy."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lwasr.config_fields import redefault, setting
from lwasr.decoding.options import SystemRun

FORMATS = ("hf", "ct2")
#: The CTranslate2 weight types faster-whisper runs on CPU and GPU.
QUANTIZATIONS = ("float32", "float16", "int8", "int8_float16")
#: The choices of ``--format`` and ``--quantization`` on the command line.
Format = enum.Enum("Format", {f: f for f in FORMATS}, type=str)
Quantization = enum.Enum("Quantization", {q: q for q in QUANTIZATIONS}, type=str)


@dataclass(frozen=True, kw_only=True)
class ExportConfig:
    """What to export (``system``, ``lang``), in which format, where, and the parity check's cuts."""

    system: str = setting(
        help="What to export: an experts dir, a unit dir with lwasr.json (lora, full, fused, distilled, moe), a"
        " Hugging Face model dir or embedded:whisper-base."
    )
    out: Path = setting(
        help="Output directory: new, or an earlier export (kept if made with the same settings, unless --overwrite)."
    )
    lang: str | None = setting(None, "Experts dir: export only this language's expert (default: all).")
    fmt: str = setting(
        "hf", "hf (transformers) or ct2 (CTranslate2, for faster-whisper).", flag="format", cli_type=Format
    )
    quantization: str | None = setting(
        None,
        "ct2: weight type. float16 (default) runs as float32 on CPU; int8 is faster-whisper's usual CPU setting and"
        " changes some tokens.",
        cli_type=Quantization | None,
    )
    cuts: list[Path] | None = setting(None, "Manifest(s), or a manifests dir (its test split), for the parity check.")
    parity_cuts_per_lang: int = setting(
        20, "Cuts per language decoded by the parity check (0: no check).", flag="parity-cuts"
    )
    model: str | None = redefault(SystemRun, "model", None)
    overwrite: bool = setting(
        False, "Replace an earlier export at --out (once the new one is complete; files you added there are kept)."
    )
    #: Where each model goes (``<out>/<lang>`` for each expert of an experts dir), named by the plan.
    outputs: list[Path] = field(default_factory=list)
    #: Whether ``out`` is an earlier export that is kept (no ``overwrite``): the run then does nothing.
    keep_earlier: bool = False

    def __post_init__(self) -> None:
        for name in ("fmt", "quantization"):  # the command line gives the choices as enum members
            value = getattr(self, name)
            if isinstance(value, enum.Enum):
                object.__setattr__(self, name, value.value)

    def recorded(self) -> dict[str, Any]:
        """The settings that make the export what it is (by option name, paths resolved): what its output marker
        records, and what a rerun onto it must match for the earlier export to be kept."""
        return {
            "system": _resolved(self.system),
            "lang": self.lang,
            "format": self.fmt,
            "quantization": self.quantization,
            "model": _resolved(self.model) if self.model else None,
            "cuts": [_resolved(c) for c in self.cuts or []],
            "parity_cuts": self.parity_cuts_per_lang,
        }


def _resolved(spec: str | Path) -> str:
    """A path as an absolute one; anything else (``embedded:whisper-base``, a hub id) as it is."""
    path = Path(spec).expanduser()
    return str(path.resolve()) if path.exists() else str(spec)
