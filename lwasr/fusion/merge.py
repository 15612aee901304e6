"""Merge a fused adapter into its base: a standalone Hugging Face Whisper directory that plain transformers loads."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import torch
from peft import PeftModel
from transformers import WhisperForConditionalGeneration, WhisperProcessor

from lwasr.models.meta import ModelMeta


def merge_adapter(adapter_dir: Path, base_path: str, out: Path, meta: ModelMeta) -> Path:
    """Write base + adapter (merge_and_unload) to ``out`` with the base's tokenizer, feature extractor and
    generation config, and an lwasr.json of kind ``full`` derived from the adapter's ``meta``.

    The adapter is read back from ``adapter_dir``, so the merged model is exactly what was saved there.
    """
    base = WhisperForConditionalGeneration.from_pretrained(base_path, dtype=torch.float32)
    merged = PeftModel.from_pretrained(base, str(adapter_dir)).merge_and_unload()
    merged.save_pretrained(out)  # the generation config loaded with the base is saved too
    WhisperProcessor.from_pretrained(base_path).save_pretrained(out)
    dataclasses.replace(meta, kind="full", extra={**meta.extra, "merged": True}).save(out)
    return out
