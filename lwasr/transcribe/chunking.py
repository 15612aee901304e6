"""Long-form audio into Whisper-sized chunks: at pauses found by Silero VAD, else fixed windows with overlap.

- Audio of at most 30 s is one chunk, the whole file (``whole``), as ``lwasr decode`` sees a cut.
- ``silero-vad`` (the optional extra ``lwasr[vad]``; its model ships inside the package, so it works offline):
  speech regions, split at their longest inner pause when longer than 30 s, are merged in order while the
  chunk they make, from the first region's start to the last one's end, stays within 30 s. Chunks therefore
  begin and end at pauses, and the silence between them is not decoded.
- ``fixed-window`` (without silero-vad, with a warning, or asked for with ``--chunking fixed``): 30-s windows
  every 25 s. Each 5-s overlap is decoded twice; the segment boundary is put in the middle of the overlap, and
  each window keeps the words of its own side of it, by time (:func:`words_within`), not by what they say.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from lwasr.data.audio import SAMPLE_RATE
from lwasr.errors import LwasrError
from lwasr.features import CHUNK_SAMPLES
from lwasr.langcodes import uses_cer

log = logging.getLogger(__name__)

VAD = "silero-vad"
FIXED = "fixed-window"
WHOLE = "whole"
MAX_SECONDS = CHUNK_SAMPLES / SAMPLE_RATE
#: Fallback windows: Whisper's 30 s, starting every 25 s (5 s of overlap).
WINDOW_OVERLAP = 5 * SAMPLE_RATE


@dataclass(frozen=True)
class Span:
    """Samples ``[start, end)`` of a file at 16 kHz."""

    start: int
    end: int


#: ``--chunking`` values: ``auto`` is Silero VAD when it is installed, else fixed windows (with a warning).
CHUNKINGS = ("auto", "vad", "fixed")


def check_chunking(how: str, max_seconds: float) -> None:
    """LwasrError for an unknown chunking or a chunk length outside 1 to 30 s (what :class:`Chunker` takes)."""
    if how not in CHUNKINGS:
        raise LwasrError(f"unknown chunking {how!r}; use one of {', '.join(CHUNKINGS)}")
    if not 1.0 <= max_seconds <= MAX_SECONDS:
        raise LwasrError(f"--max-chunk-seconds must be between 1 and {MAX_SECONDS:g}, not {max_seconds:g}")


class Chunker:
    """Cuts 16-kHz audio into spans of at most ``max_seconds`` (30: Whisper's window); :attr:`method` says how a
    long file is cut.

    ``how``: ``auto`` (Silero VAD if installed, else fixed windows), ``vad`` (an error without silero-vad) or
    ``fixed`` (fixed windows even with silero-vad installed, e.g. to measure what the VAD brings). A shorter
    ``max_seconds`` suits a model fine-tuned on short utterances, which tends to stop after the first sentence
    of a longer chunk (docs/results.md).
    """

    def __init__(self, how: str = "auto", max_seconds: float = MAX_SECONDS) -> None:
        check_chunking(how, max_seconds)
        self.max_seconds = max_seconds
        self._limit = int(max_seconds * SAMPLE_RATE)
        self._vad = None
        self._warned = how == "fixed"  # asked for: nothing to warn about
        self.method = FIXED
        if how == "fixed":
            return
        try:
            from silero_vad import get_speech_timestamps, load_silero_vad
        except ImportError:
            if how == "vad":
                raise LwasrError("--chunking vad needs silero-vad: pip install 'lwasr[vad]'") from None
            return
        self.method = VAD
        self._vad = (load_silero_vad(), get_speech_timestamps)

    def __call__(self, audio: np.ndarray) -> tuple[list[Span], str]:
        """The chunks of ``audio`` and how they were made (``whole``, ``silero-vad`` or ``fixed-window``)."""
        if len(audio) <= self._limit:
            return [Span(0, len(audio))], WHOLE
        if self._vad is None:
            if not self._warned:
                self._warned = True
                log.warning(
                    "silero-vad is not installed: long audio is cut into fixed windows with overlap, not at"
                    " pauses (pip install 'lwasr[vad]' for voice activity detection)"
                )
            return fixed_windows(len(audio), self._limit, min(WINDOW_OVERLAP, self._limit // 6)), FIXED
        model, speech_timestamps = self._vad
        with torch.inference_mode():
            found = speech_timestamps(
                torch.from_numpy(audio), model, sampling_rate=SAMPLE_RATE, max_speech_duration_s=self.max_seconds
            )
        return merge_speech([Span(int(s["start"]), int(s["end"])) for s in found], self._limit), VAD


def merge_speech(regions: Sequence[Span], limit: int = CHUNK_SAMPLES) -> list[Span]:
    """Speech regions (in order) merged into chunks of at most ``limit`` samples; a longer region is split evenly."""
    chunks: list[Span] = []
    for region in regions:
        pieces = -(-(region.end - region.start) // limit)
        step = -(-(region.end - region.start) // pieces)
        for start in range(region.start, region.end, step):
            piece = Span(start, min(start + step, region.end))
            if chunks and piece.end - chunks[-1].start <= limit:
                chunks[-1] = Span(chunks[-1].start, piece.end)
            else:
                chunks.append(piece)
    return chunks


def fixed_windows(samples: int, window: int = CHUNK_SAMPLES, overlap: int = WINDOW_OVERLAP) -> list[Span]:
    """Windows of ``window`` samples every ``window - overlap``; the last one ends at the end of the audio."""
    spans = [Span(0, min(window, samples))]
    while spans[-1].end < samples:
        start = spans[-1].start + window - overlap
        spans.append(Span(start, min(start + window, samples)))
    return spans


def own_stretches(spans: Sequence[Span]) -> list[Span]:
    """The part of each chunk that is its own: where two chunks overlap, each keeps its half of the overlap."""
    bounds = [[s.start, s.end] for s in spans]
    for prev, cur in zip(bounds, bounds[1:], strict=False):
        if cur[0] < prev[1]:
            prev[1] = cur[0] = (cur[0] + prev[1]) // 2
    return [Span(a, b) for a, b in bounds]


def words_within(text: str, chunk: Span, own: Span, lang: str | None) -> str:
    """The units of ``text``, the hypothesis of ``chunk``, that fall within ``own`` (its :func:`own_stretches`).

    Units are words, or characters for languages scored by CER (no word boundaries). Greedy decoding gives no
    timestamps, so the units are taken as spread evenly over the chunk: unit ``i`` of ``n`` lies at
    ``chunk.start + (i + 0.5) / n`` of its length. Each overlapping fixed window thus keeps its own stretch of
    time and drops only the units of the half overlap the next (or previous) window keeps, whatever they say.
    """
    cer = bool(lang) and uses_cer(lang)
    units = [c for c in text if not c.isspace()] if cer else text.split()
    n, length = len(units), chunk.end - chunk.start
    kept = [u for i, u in enumerate(units) if own.start <= chunk.start + (i + 0.5) * length / n < own.end]
    return ("".join if cer else " ".join)(kept)
