"""Lean batched greedy search for Whisper: the same tokens as ``model.generate``, without its per-step overhead.

transformers' Whisper ``generate`` runs, per decoder step, a generic loop with logits processors, stopping
criteria, cache bookkeeping and output padding; for whisper-base on a CPU that overhead is a sizeable part
of a step. :func:`greedy_search` is the short-form, no-timestamps greedy search of ``generate`` written out:

- the encoder runs once (:meth:`WhisperParts.encode`; the trimmed-input patch of :mod:`lwasr.models.trim`
  applies), and the caller may share its output (language ID, then decoding);
- the forced prompt (``<|sot|><|lang|><|transcribe|><|notimestamps|>``, or without ``<|lang|>``) is fed in
  one decoder call, then one token per step with the KV cache (transformers' ``EncoderDecoderCache``; the
  cross-attention keys and values are computed at the first step and reused);
- at every step ``suppress_tokens`` are set to -inf, at the first generated step ``begin_suppress_tokens``
  too; then argmax (the first maximum, as ``generate``). Timestamp tokens are **not** suppressed:
  ``generate(return_timestamps=False)`` adds no timestamp processor, only the ``<|notimestamps|>`` prompt
  token (openai-whisper does the same);
- a sequence stops at ``<|endoftext|>`` and leaves the batch (its rows are dropped from the cache);
- at most ``max_new_tokens`` new tokens (the end token included), as ``generate``'s ``max_new_tokens``.

:meth:`GreedyRules.of` refuses (returns None) generation configs asking for something this loop does not do
(repetition penalty, no-repeat n-grams, thresholds, timestamps...); the caller then uses ``generate``.
tests/test_decode_greedy.py checks token-for-token equality with ``model.generate``.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass

import torch
from torch import nn
from transformers import WhisperForConditionalGeneration
from transformers.models.whisper.modeling_whisper import WhisperDecoder
from transformers.models.whisper.tokenization_whisper import TO_LANGUAGE_CODE

from lwasr.errors import LwasrError

#: The decoder's KV-cache argument (and output field): ``cache`` since transformers 5.24, ``past_key_values`` before.
_CACHE = "cache" if "cache" in inspect.signature(WhisperDecoder.forward).parameters else "past_key_values"

#: A context for a decoder call on the given rows of the original batch (e.g. peft's per-sample adapters).
RowContext = Callable[[Sequence[int]], AbstractContextManager]

# generation-config fields whose non-default values change greedy search beyond what greedy_search does
_UNSUPPORTED = {
    "repetition_penalty": 1.0,
    "no_repeat_ngram_size": 0,
    "encoder_no_repeat_ngram_size": 0,
    "bad_words_ids": None,
    "sequence_bias": None,
    "min_length": 0,
    "min_new_tokens": None,
    "forced_bos_token_id": None,
    "forced_eos_token_id": None,
    "exponential_decay_length_penalty": None,
    "no_speech_threshold": None,
    "logprob_threshold": None,
    "compression_ratio_threshold": None,
    "return_timestamps": False,
    "max_time": None,
    "stop_strings": None,
}


def whisper_of(model: nn.Module) -> WhisperForConditionalGeneration:
    """The ``WhisperForConditionalGeneration`` inside ``model`` (itself, or a PEFT wrapper's base)."""
    for module in model.modules():
        if isinstance(module, WhisperForConditionalGeneration):
            return module
    raise TypeError(f"no WhisperForConditionalGeneration inside {type(model).__name__}")


@dataclass(frozen=True)
class WhisperParts:
    """Encoder, decoder and output projection of a Whisper model (LoRA layers inside them stay active)."""

    encoder: nn.Module
    decoder: nn.Module
    proj_out: nn.Module

    @classmethod
    def of(cls, model: nn.Module) -> WhisperParts:
        whisper = whisper_of(model)
        return cls(whisper.model.encoder, whisper.model.decoder, whisper.proj_out)

    def encode(self, features: torch.Tensor) -> torch.Tensor:
        """Encoder hidden states ``[batch, frames / 2, d_model]`` of log-mel ``features``."""
        return self.encoder(features).last_hidden_state

    def step(self, ids: torch.Tensor, encoder_hidden: torch.Tensor, cache=None) -> tuple[torch.Tensor, object]:
        """Float32 logits ``[batch, vocab]`` after the last of ``ids``, and the updated cache (None: no cache)."""
        out = self.decoder(
            input_ids=ids, encoder_hidden_states=encoder_hidden, use_cache=cache is not None, **{_CACHE: cache}
        )
        return self.proj_out(out.last_hidden_state[:, -1]).float(), getattr(out, _CACHE)


@dataclass(frozen=True)
class GreedyRules:
    """What Whisper's short-form greedy ``generate`` applies, read from a generation config."""

    eos_id: int
    suppress: tuple[int, ...]
    begin_suppress: tuple[int, ...]
    max_target_positions: int

    @classmethod
    def of(cls, model: nn.Module) -> GreedyRules | None:
        """Rules of ``model.generation_config``; None when it asks for more than :func:`greedy_search` does."""
        gen = model.generation_config
        for name, default in _UNSUPPORTED.items():
            if getattr(gen, name, default) not in (default, None):
                return None
        eos = gen.eos_token_id
        if isinstance(eos, list):
            if len(eos) != 1:
                return None
            eos = eos[0]
        return cls(
            eos_id=int(eos),
            suppress=tuple(gen.suppress_tokens or ()),
            begin_suppress=tuple(gen.begin_suppress_tokens or ()),
            max_target_positions=int(whisper_of(model).config.max_target_positions),
        )


def language_token_id(generation_config, lang: str) -> int:
    """The ``<|xx|>`` id of a language code or name, resolved as ``generate(language=...)`` does (aliases too)."""
    table = generation_config.lang_to_id
    lang = lang.lower()
    if lang in table:  # a bare code registered as an alias (lwasr.units.prompt)
        return int(table[lang])
    code = TO_LANGUAGE_CODE.get(lang, lang)
    if f"<|{code}|>" not in table:
        raise LwasrError(f"the model has no language token for {lang!r}")
    return int(table[f"<|{code}|>"])


def forced_prompt(generation_config, lang: str | None, task: str = "transcribe") -> list[int]:
    """``<|sot|> [<|lang|>] <|task|> <|notimestamps|>`` ids, from the generation config as ``generate`` builds them."""
    gen = generation_config
    ids = [int(gen.decoder_start_token_id)]
    if lang is not None:
        ids.append(language_token_id(gen, lang))
    return ids + [int(gen.task_to_id[task]), int(gen.no_timestamps_token_id)]


def _mask(ids: Sequence[int], vocab: int, device: torch.device) -> torch.Tensor | None:
    keep = [i for i in ids if 0 <= i < vocab]
    if not keep:
        return None
    mask = torch.zeros(vocab, dtype=torch.bool, device=device)
    mask[keep] = True
    return mask


def greedy_search(
    parts: WhisperParts,
    encoder_hidden: torch.Tensor,
    prompts: torch.Tensor,
    rules: GreedyRules,
    max_new_tokens: int,
    *,
    row_context: RowContext | None = None,
) -> list[list[int]]:
    """Greedy search from ``prompts`` ``[batch, prompt_len]``: the new tokens of each row, ending token included.

    ``row_context(rows)`` (optional) wraps every decoder call on the still-running ``rows`` of the batch.
    Call under ``torch.inference_mode()``.
    """
    batch, prompt_len = prompts.shape
    if encoder_hidden.shape[0] != batch:
        raise ValueError(f"{encoder_hidden.shape[0]} encoder rows for {batch} prompts")
    if max_new_tokens + prompt_len > rules.max_target_positions:  # generate refuses the same
        raise LwasrError(
            f"prompt ({prompt_len}) + max_new_tokens ({max_new_tokens}) exceeds the decoder's"
            f" {rules.max_target_positions} positions"
        )
    row_context = row_context or (lambda rows: contextlib.nullcontext())
    out: list[list[int]] = [[] for _ in range(batch)]
    rows = list(range(batch))
    ids = prompts
    cache = None
    suppress = begin = None
    for step in range(max_new_tokens):
        with row_context(rows):
            logits, cache = parts.step(ids, encoder_hidden, cache if step else _new_cache())
        if step == 0:
            suppress = _mask(rules.suppress, logits.shape[-1], logits.device)
            begin = _mask(rules.begin_suppress, logits.shape[-1], logits.device)
            if begin is not None:
                logits.masked_fill_(begin, float("-inf"))
        if suppress is not None:
            logits.masked_fill_(suppress, float("-inf"))
        tokens = logits.argmax(-1)
        keep = []
        for j, token in enumerate(tokens.tolist()):
            out[rows[j]].append(token)
            if token != rules.eos_id:
                keep.append(j)
        if not keep:
            break
        if len(keep) < len(rows):  # finished rows leave the batch
            index = torch.tensor(keep, device=tokens.device)
            cache.batch_select_indices(index)
            encoder_hidden = encoder_hidden.index_select(0, index)
            tokens = tokens.index_select(0, index)
            rows = [rows[j] for j in keep]
        ids = tokens[:, None]
    return out


def _new_cache():
    from transformers.cache_utils import DynamicCache, EncoderDecoderCache

    return EncoderDecoderCache(DynamicCache(), DynamicCache())
