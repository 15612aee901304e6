"""lwasr: multilingual ASR with Whisper and per-language LoRA language experts."""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    """``lwasr.transcribe(paths, system=...)``, imported on first use so that ``import lwasr`` stays cheap."""
    if name == "transcribe":
        return importlib.import_module("lwasr.transcribe")
    raise AttributeError(f"module 'lwasr' has no attribute {name!r}")
