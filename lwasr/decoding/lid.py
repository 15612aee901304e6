"""Whisper language ID with probabilities.

One decoder step from ``<|startoftranscript|>`` gives logits over the vocabulary; a softmax over the
language tokens (all of Whisper's, or only a ``--lid-langs`` set) is the LID distribution. This is
what Whisper's own ``detect_language`` does (it keeps only the argmax); restricting the set
renormalises the probabilities over the allowed languages.

A :class:`LanguageIdentifier` is what the agnostic scenario asks for a batch's language: :class:`WhisperLid`
(a model's own first decoder step), or another one a method provides (the learned router, lwasr.routing).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Protocol

import torch
from torch import nn
from transformers.modeling_outputs import BaseModelOutput

from lwasr.decoding.greedy import WhisperParts
from lwasr.errors import LwasrError


@dataclass(frozen=True)
class LanguageSet:
    """Language codes and their ``<|xx|>`` token ids, in the same order."""

    codes: tuple[str, ...]
    token_ids: tuple[int, ...]

    @classmethod
    def build(cls, lang_to_id: dict[str, int], langs: Sequence[str] | None = None) -> LanguageSet:
        """From a generation config's ``lang_to_id`` (``<|xx|> -> id``): all its languages, or only ``langs``."""
        table = {tok.strip("<|>"): int(i) for tok, i in lang_to_id.items()}
        if not table:
            raise LwasrError("the model's generation config lists no language tokens (lang_to_id)")
        codes = list(langs) if langs else list(table)
        unknown = [c for c in codes if c not in table]
        if unknown:
            raise LwasrError(f"the model has no language token for {', '.join(unknown)}")
        return cls(tuple(codes), tuple(table[c] for c in codes))


@torch.inference_mode()
def language_probs(
    model: nn.Module,
    sot_id: int,
    langs: LanguageSet,
    *,
    input_features: torch.Tensor | None = None,
    encoder_outputs: BaseModelOutput | None = None,
    encoder_hidden: torch.Tensor | None = None,
) -> torch.Tensor:
    """``[batch, len(langs.codes)]`` LID probabilities from one decoder step.

    Give log-mel ``input_features``, or the encoder output (``encoder_hidden``, or ``encoder_outputs``) to
    share it with decoding (lwasr/decoding/decoder.py). The step is the decoder call of
    :class:`lwasr.decoding.greedy.WhisperParts`, the one greedy search makes.
    """
    parts = WhisperParts.of(model)
    if encoder_hidden is None:
        encoder_hidden = encoder_outputs.last_hidden_state if encoder_outputs is not None else None
    if encoder_hidden is None:
        if input_features is None:
            raise ValueError("give input_features, encoder_hidden or encoder_outputs")
        encoder_hidden = parts.encode(input_features)
    start = torch.full((encoder_hidden.shape[0], 1), sot_id, dtype=torch.long, device=encoder_hidden.device)
    logits, _ = parts.step(start, encoder_hidden)
    ids = torch.tensor(langs.token_ids, device=logits.device)
    return logits.index_select(-1, ids).softmax(-1)


def detect(probs: torch.Tensor, langs: LanguageSet) -> list[tuple[str, float]]:
    """Most probable language and its probability, per row of :func:`language_probs`."""
    values, indices = probs.max(-1)
    return [(langs.codes[i], round(float(p), 4)) for p, i in zip(values.tolist(), indices.tolist(), strict=True)]


class LanguageIdentifier(Protocol):
    """Language ID of a batch: probabilities over :attr:`langs`, and the encoder output decoding may reuse."""

    langs: LanguageSet

    def __call__(self, feats: torch.Tensor, seconds: Sequence[float]) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``[batch, len(langs.codes)]`` probabilities of log-mel ``feats`` (``seconds``: each clip's length), and
        the encoder output that computed them when it is the decode model's own (else None)."""
        ...


@dataclass(frozen=True)
class WhisperLid:
    """A Whisper model's own language ID (:func:`language_probs`), run inside ``context`` (e.g. adapters off).

    ``shares_encoder``: the encoder output is the one the decode needs (a single model identifying itself).
    """

    model: nn.Module
    sot_id: int
    langs: LanguageSet
    context: Callable[[], AbstractContextManager] = contextlib.nullcontext
    shares_encoder: bool = True

    def __call__(self, feats: torch.Tensor, seconds: Sequence[float]) -> tuple[torch.Tensor, torch.Tensor | None]:
        with self.context():
            hidden = WhisperParts.of(self.model).encode(feats)
            probs = language_probs(self.model, self.sot_id, self.langs, encoder_hidden=hidden)
        return probs, hidden if self.shares_encoder else None
