"""Write a fused adapter, and merge it into its base: a standalone Hugging Face Whisper directory that plain
transformers loads."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from peft import PeftModel

from lwasr.fusion.static import FUSED, save_adapter
from lwasr.units.base import load_whisper
from lwasr.units.merge import merged_whisper, save_standalone
from lwasr.units.meta import ModelMeta
from lwasr.units.weights import check_finite_files

MERGED_DIR = "merged"


def write_fused(peft_model: PeftModel, unit: Path, meta: ModelMeta, base_path: str, merge: bool) -> None:
    """Write adapter ``fused`` of ``peft_model`` and ``meta`` into the (temporary) unit directory ``unit``;
    ``merge``: also ``unit/merged``."""
    save_adapter(peft_model, unit, FUSED, base_path=base_path)
    meta.save(unit)
    if merge:
        merge_adapter(unit, base_path, unit / MERGED_DIR, meta)


def merge_adapter(adapter_dir: Path, base_path: str, out: Path, meta: ModelMeta) -> Path:
    """Write base + adapter (merge_and_unload) to ``out`` with the base's tokenizer, feature extractor and
    generation config, and an lwasr.json of kind ``full`` derived from the adapter's ``meta``.

    The adapter is read back from ``adapter_dir``, so the merged model is exactly what was saved there.
    """
    check_finite_files(adapter_dir)
    base, tokenizer = load_whisper(base_path)
    save_standalone(merged_whisper(PeftModel.from_pretrained(base, str(adapter_dir))), tokenizer, out)
    dataclasses.replace(meta, kind="full", extra={**meta.extra, "merged": True}).save(out)
    return out
