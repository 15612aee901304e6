"""Temperature fallback and the no-speech rule of openai-whisper's ``transcribe``, on batches.

A hypothesis *needs fallback* when its gzip compression ratio is above ``compression_ratio_threshold`` (a
repetition loop) or its average token log-probability is below ``logprob_threshold``, unless it is silence
(its ``<|nospeech|>`` probability above ``no_speech_threshold`` and its log-probability below the threshold).
:func:`decode_with_fallback` decodes a batch at the first temperature (0: greedy), then decodes again, batched,
only the utterances that need it, at each next temperature (sampling), until each passes. An utterance that
fails at every temperature keeps faster-whisper's choice: the hypothesis of highest average log-probability
among those under the compression-ratio threshold, else among all. Last, a silent hypothesis is emptied:
``no_speech_prob`` above its threshold, unless the average log-probability is above ``logprob_threshold``.
Each rule is off when its threshold is None.
"""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import torch

from lwasr.decoding.options import DecodeOptions


def compression_ratio(text: str) -> float:
    """UTF-8 bytes of ``text`` over its zlib-compressed bytes (openai-whisper's ``get_compression_ratio``)."""
    data = text.encode("utf-8")
    return len(data) / len(zlib.compress(data))


#: The ``hyp.jsonl`` fields that say how a hypothesis was decoded (:meth:`Hypothesis.fields`; the scores only where
#: computed): what a transcript's segments carry from their chunk's record.
DECODING_FIELDS = ("temperature", "avg_logprob", "compression_ratio", "no_speech_prob")


@dataclass(frozen=True)
class Hypothesis:
    """One utterance's hypothesis, the temperature that produced it and, where computed, its scores."""

    text: str
    temperature: float = 0.0
    avg_logprob: float | None = None
    compression_ratio: float | None = None
    no_speech_prob: float | None = None

    def fields(self) -> dict[str, Any]:
        """The ``hyp.jsonl`` fields besides the text: the temperature, and each score that was computed."""
        scores = {k: getattr(self, k) for k in DECODING_FIELDS if k != "temperature"}
        return {"temperature": self.temperature, **{k: round(v, 6) for k, v in scores.items() if v is not None}}


def scored(
    text: str, temperature: float, tokens: Sequence[int], sum_logprob: float, eos_id: int, no_speech_prob: float | None
) -> Hypothesis:
    """The :class:`Hypothesis` of a searched row: ``sum_logprob`` over its text tokens plus one, as openai-whisper
    averages it (the end token's log-probability is in the sum)."""
    length = sum(1 for t in tokens if t != eos_id)
    return Hypothesis(text, temperature, sum_logprob / (length + 1), compression_ratio(text), no_speech_prob)


@dataclass(frozen=True)
class FallbackRules:
    """The temperatures and thresholds of :class:`DecodeOptions` (a None threshold: that rule off)."""

    temperatures: tuple[float, ...]
    compression_ratio_threshold: float | None
    logprob_threshold: float | None
    no_speech_threshold: float | None

    @classmethod
    def of(cls, opts: DecodeOptions) -> FallbackRules:
        return cls(
            opts.temperatures, opts.compression_ratio_threshold, opts.logprob_threshold, opts.no_speech_threshold
        )

    @property
    def active(self) -> bool:
        """Whether these rules can change a greedy hypothesis (more than one temperature, or the no-speech rule)."""
        return len(self.temperatures) > 1 or self.temperatures[0] != 0 or self.no_speech_threshold is not None

    def _low_logprob(self, h: Hypothesis) -> bool:
        return self.logprob_threshold is not None and h.avg_logprob < self.logprob_threshold

    def needs_fallback(self, h: Hypothesis) -> bool:
        """Too repetitive or too improbable, and not silence (openai-whisper's ``needs_fallback``)."""
        loop = self.compression_ratio_threshold is not None and h.compression_ratio > self.compression_ratio_threshold
        silent = self.no_speech_threshold is not None and (h.no_speech_prob or 0.0) > self.no_speech_threshold
        return (loop or self._low_logprob(h)) and not (silent and self._low_logprob(h))

    def is_silence(self, h: Hypothesis) -> bool:
        """Whether the no-speech rule empties ``h``: its no-speech probability is above the threshold, and its
        average log-probability is not above ``logprob_threshold`` (openai-whisper's ``should_skip``)."""
        if self.no_speech_threshold is None or h.no_speech_prob is None:
            return False
        confident = self.logprob_threshold is not None and h.avg_logprob > self.logprob_threshold
        return h.no_speech_prob > self.no_speech_threshold and not confident

    def best(self, tried: Sequence[Hypothesis]) -> Hypothesis:
        """What an utterance that failed at every temperature keeps (faster-whisper's choice): the highest average
        log-probability among the hypotheses under the compression-ratio threshold, else among all (the first,
        lowest temperature, on a tie)."""
        limit = self.compression_ratio_threshold
        under = [h for h in tried if limit is not None and h.compression_ratio <= limit]
        return max(under or tried, key=lambda h: h.avg_logprob)


#: Decodes the given rows of a batch at a temperature, given each row's hypothesis at the temperature before (""
#: at the first), which seeds its sampling (:func:`sampling_generator`): one :class:`Hypothesis` per row, in order.
RowDecoder = Callable[[list[int], float, list[str]], list[Hypothesis]]


def decode_with_fallback(decode: RowDecoder, size: int, rules: FallbackRules) -> list[Hypothesis]:
    """The hypotheses of a batch of ``size`` rows under ``rules``: each temperature decodes, in one call, only the
    rows that needed fallback at the one before; then the no-speech rule empties the silent ones."""
    tried: list[list[Hypothesis]] = [[] for _ in range(size)]
    todo = list(range(size))
    for temperature in rules.temperatures:
        before = [tried[row][-1].text if tried[row] else "" for row in todo]
        for row, h in zip(todo, decode(todo, temperature, before), strict=True):
            tried[row].append(h)
        todo = [row for row in todo if rules.needs_fallback(tried[row][-1])]
        if not todo:
            break
    kept = [rules.best(t) if row in todo else t[-1] for row, t in enumerate(tried)]
    return [replace(h, text="") if rules.is_silence(h) else h for h in kept]


def sampling_generator(seed: int, key: str, temperature: float, device: torch.device) -> torch.Generator:
    """The random generator of one utterance at one temperature, seeded by ``seed``, ``key`` (its language and the
    hypothesis it replaces, the one that failed at the temperature before) and the temperature: what it draws does
    not depend on the utterance's batch or name (a resumed decode draws the same; the same audio twice, the
    same)."""
    digest = hashlib.sha256(f"{seed}\0{key}\0{temperature!r}".encode()).digest()
    return torch.Generator(device=device).manual_seed(int.from_bytes(digest[:8], "little") >> 1)
