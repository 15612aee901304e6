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

:func:`search` is the same loop with what temperature fallback needs (lwasr/decoding/fallback.py): sampling at a
temperature, each row with its own seeded generator; the sum of each row's token log-probabilities; the
``<|nospeech|>`` probability after ``<|startoftranscript|>``. At temperature 0 its tokens are greedy search's.

:meth:`GreedyRules.of` refuses (returns None) generation configs asking for something this loop does not do
(repetition penalty, no-repeat n-grams, thresholds, timestamps...); the caller then uses ``generate``.
tests/test_decode_greedy.py checks token-for-token equality with ``model.generate``.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

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

    def states(self, ids: torch.Tensor, encoder_hidden: torch.Tensor, cache=None) -> tuple[torch.Tensor, object]:
        """Decoder hidden states ``[batch, len(ids), d_model]`` and the updated cache (None: no cache)."""
        out = self.decoder(
            input_ids=ids, encoder_hidden_states=encoder_hidden, use_cache=cache is not None, **{_CACHE: cache}
        )
        return out.last_hidden_state, getattr(out, _CACHE)

    def logits(self, states: torch.Tensor) -> torch.Tensor:
        """Float32 logits of decoder hidden states."""
        return self.proj_out(states).float()

    def step(self, ids: torch.Tensor, encoder_hidden: torch.Tensor, cache=None) -> tuple[torch.Tensor, object]:
        """Float32 logits ``[batch, vocab]`` after the last of ``ids``, and the updated cache (None: no cache)."""
        states, cache = self.states(ids, encoder_hidden, cache)
        return self.logits(states[:, -1]), cache


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


@dataclass(frozen=True)
class Searched:
    """One row's search result: its new tokens (ending token included) and, when asked for, the sum of their
    log-probabilities and the ``<|nospeech|>`` probability."""

    tokens: list[int]
    sum_logprob: float | None = None
    no_speech_prob: float | None = None


def greedy_search(*args: Any, **kwargs: Any) -> list[list[int]]:
    """Greedy search: the new tokens of each row, ending token included (:func:`search`'s arguments, at
    temperature 0 and without scores)."""
    return [found.tokens for found in search(*args, **kwargs)]


def search(
    parts: WhisperParts,
    encoder_hidden: torch.Tensor,
    prompts: torch.Tensor,
    rules: GreedyRules,
    max_new_tokens: int,
    *,
    row_context: RowContext | None = None,
    temperature: float = 0.0,
    generators: Sequence[torch.Generator] | None = None,
    scores: bool = False,
    no_speech_id: int | None = None,
    step_threads: int | None = None,
) -> list[Searched]:
    """Greedy search (``temperature`` 0) or sampling (above 0, row ``i`` drawn with ``generators[i]``) from
    ``prompts`` ``[batch, prompt_len]``, whose first token is ``<|startoftranscript|>``.

    ``scores``: also sum each row's token log-probabilities (of the suppressed, untempered logits, the end token
    included), as openai-whisper does. ``no_speech_id``: also the probability of that token after
    ``<|startoftranscript|>`` (the raw logits of the first call), openai-whisper's no-speech probability.
    ``row_context(rows)`` (optional) wraps every decoder call on the still-running ``rows`` of the batch.
    ``step_threads``: torch's CPU threads for the one-token steps (None: as set); the prompt call, which computes
    the cross-attention keys and values over every encoder frame, keeps the threads as set. The result does not
    depend on it. Call under ``torch.inference_mode()``.
    """
    batch, prompt_len = prompts.shape
    if encoder_hidden.shape[0] != batch:
        raise ValueError(f"{encoder_hidden.shape[0]} encoder rows for {batch} prompts")
    if temperature > 0 and (generators is None or len(generators) != batch):
        raise ValueError("sampling needs one generator per row")
    if max_new_tokens + prompt_len > rules.max_target_positions:  # generate refuses the same
        raise LwasrError(
            f"prompt ({prompt_len}) + max_new_tokens ({max_new_tokens}) exceeds the decoder's"
            f" {rules.max_target_positions} positions"
        )
    row_context = row_context or (lambda rows: contextlib.nullcontext())
    out: list[list[int]] = [[] for _ in range(batch)]
    sums = [0.0] * batch
    no_speech: list[float | None] = [None] * batch
    rows = list(range(batch))
    ids = prompts
    cache = None
    suppress = begin = None
    with contextlib.ExitStack() as threads:  # the one-token steps
        for step in range(max_new_tokens):
            if step == 1:
                threads.enter_context(cpu_threads(step_threads))
            with row_context(rows):
                if step == 0 and no_speech_id is not None:
                    states, cache = parts.states(ids, encoder_hidden, _new_cache())
                    logits = parts.logits(states[:, -1])
                    no_speech = parts.logits(states[:, 0]).softmax(-1)[:, no_speech_id].tolist()
                else:
                    logits, cache = parts.step(ids, encoder_hidden, cache if step else _new_cache())
            if step == 0:
                suppress = _mask(rules.suppress, logits.shape[-1], logits.device)
                begin = _mask(rules.begin_suppress, logits.shape[-1], logits.device)
                if begin is not None:
                    logits.masked_fill_(begin, float("-inf"))
            if suppress is not None:
                logits.masked_fill_(suppress, float("-inf"))
            tokens = logits.argmax(-1) if temperature == 0 else _sample(logits, temperature, generators, rows)
            if scores:
                picked = logits.log_softmax(-1).gather(1, tokens[:, None])[:, 0].tolist()
                for j, lp in enumerate(picked):
                    sums[rows[j]] += lp
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
    return [Searched(t, s if scores else None, p) for t, s, p in zip(out, sums, no_speech, strict=True)]


@contextlib.contextmanager
def cpu_threads(threads: int | None) -> Iterator[None]:
    """torch's intra-op CPU threads set to ``threads`` (None: unchanged) inside the block, restored after it."""
    before = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        if threads:
            torch.set_num_threads(before)


def _sample(
    logits: torch.Tensor, temperature: float, generators: Sequence[torch.Generator], rows: Sequence[int]
) -> torch.Tensor:
    """One token per row drawn from ``softmax(logits / temperature)``, row ``j`` with ``generators[rows[j]]`` (a
    row's draws do not depend on the rest of the batch)."""
    probs = (logits / temperature).softmax(-1)
    return torch.cat([torch.multinomial(p, 1, generator=generators[r]) for p, r in zip(probs, rows, strict=True)])


def _new_cache():
    from transformers.cache_utils import DynamicCache, EncoderDecoderCache

    return EncoderDecoderCache(DynamicCache(), DynamicCache())
