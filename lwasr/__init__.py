"""lwasr: multilingual ASR with Whisper and per-language LoRA language experts."""

from __future__ import annotations

import importlib
import logging
from typing import Any

__version__ = "0.1.0"

# bitsandbytes (the qlora extra; peft imports it whenever it is installed) logs a warning at its import on CPUs
# with avx512_bf16 when it cannot fetch an optional 4-bit CPU kernel from the Hugging Face hub, and then uses its
# built-in one: on every lwasr command, offline or not. Its errors still show.
logging.getLogger("bitsandbytes.backends.cpu.ops").setLevel(logging.ERROR)


def __getattr__(name: str) -> Any:
    """``lwasr.transcribe(paths, system=...)``, imported on first use so that ``import lwasr`` stays cheap."""
    if name == "transcribe":
        return importlib.import_module("lwasr.transcribe")
    raise AttributeError(f"module 'lwasr' has no attribute {name!r}")
