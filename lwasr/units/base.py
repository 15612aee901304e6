"""The one loader of a base Whisper model, shared by training, fusion, distillation, expansion and decoding."""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator, Mapping
from typing import Any

import torch
from transformers import WhisperForConditionalGeneration, WhisperTokenizerFast

from lwasr.errors import LwasrError
from lwasr.models.resolve import resolve_model
from lwasr.units.meta import ModelMeta, base_fingerprint, check_same_base
from lwasr.units.weights import check_finite


def load_whisper(spec: str, **load_options: Any) -> tuple[WhisperForConditionalGeneration, WhisperTokenizerFast]:
    """A Whisper model (float32, SDPA attention, eval mode) and its tokenizer from a ``--model`` spec; NaN or inf
    weights are refused.

    float32 master weights whatever the checkpoint stores (hub Whisper checkpoints are often float16);
    ``model.name_or_path`` is the resolved local directory. ``load_options``: more ``from_pretrained`` arguments
    (a quantised base: ``quantization_config`` and ``device_map``, :mod:`lwasr.training.qlora`).
    """
    path = resolve_model(spec)
    model = WhisperForConditionalGeneration.from_pretrained(
        path, dtype=torch.float32, attn_implementation="sdpa", **load_options
    )
    check_finite(model.state_dict().items(), spec)
    return model.eval(), WhisperTokenizerFast.from_pretrained(path)


def load_base_of(
    metas: Mapping[str, ModelMeta], model: str | None = None, what: str = "the experts"
) -> tuple[WhisperForConditionalGeneration, WhisperTokenizerFast]:
    """Load the base model that the units ``metas`` (name -> lwasr.json) were trained on, checked by fingerprint.

    ``model`` overrides the base recorded in their lwasr.json (e.g. when the base was moved).
    """
    check_same_base({k: m.base_fingerprint for k, m in metas.items()})
    first = next(iter(metas.values()))
    spec = model or first.base_model
    base, tok = load_whisper(spec)
    found = base_fingerprint(base)
    if first.base_fingerprint and found != first.base_fingerprint:
        raise LwasrError(
            f"base model {spec!r} has fingerprint {found}, but {what} were trained from a base with "
            f"fingerprint {first.base_fingerprint} ({first.base_model!r}); give the right one with --model"
        )
    return base, tok


@contextlib.contextmanager
def quiet_peft_wrapping() -> Iterator[None]:
    """Drop the one FutureWarning peft causes whenever it wraps a model: it reads transformers' deprecated
    ``is_gradient_checkpointing`` (peft's code, not ours); every other warning passes."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="`is_gradient_checkpointing` is deprecated", category=FutureWarning)
        yield
