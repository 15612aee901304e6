"""Utterances to decode and their batches: sorted by duration, cut by count and by seconds of audio."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from lwasr.data.cuts import cut_lang, cut_text
from lwasr.decoding.options import DecodeOptions
from lwasr.errors import LwasrError
from lwasr.features import CHUNK_SAMPLES, SAMPLE_RATE

MAX_SECONDS = CHUNK_SAMPLES / SAMPLE_RATE


@dataclass
class Utt:
    """One utterance to decode."""

    id: str
    lang: str | None
    ref: str
    duration: float
    cut: Any


def utterances(cuts) -> list[Utt]:
    """Cuts -> :class:`Utt`; LwasrError for a cut longer than 30 s (Whisper's window)."""
    out = []
    for cut in cuts:
        if cut.duration > MAX_SECONDS + 1e-3:
            raise LwasrError(
                f"utterance {cut.id} is {cut.duration:.1f} s long; Whisper decodes at most 30 s."
                " Split long recordings into segments with `lwasr prepare` first."
            )
        out.append(Utt(cut.id, cut_lang(cut, required=False), cut_text(cut), float(cut.duration), cut))
    return out


def make_batches(
    utts: Sequence[Utt],
    opts: DecodeOptions,
    *,
    by_language: bool = False,
    key: Callable[[Utt], str | None] | None = None,
) -> list[list[Utt]]:
    """Sort by duration (longest first) and cut into batches of at most ``batch_size`` utterances and
    ``max_duration`` seconds of real audio (whichever fills first; a longer single clip gets its own batch).

    With ``by_language`` every batch holds one language; with ``key`` one value of ``key(utt)`` (the groups in
    the order of their keys). Sorting keeps the padding (trimmed input) and the spread of hypothesis lengths in a
    batch small.
    """
    if key is None:
        key = (lambda u: u.lang) if by_language else (lambda u: None)
    groups: dict[str | None, list[Utt]] = defaultdict(list)
    for u in utts:
        groups[key(u)].append(u)
    batches: list[list[Utt]] = []
    for key in sorted(groups, key=str):
        batch: list[Utt] = []
        seconds = 0.0
        for u in sorted(groups[key], key=lambda u: -u.duration):
            full = (opts.batch_size is not None and len(batch) >= opts.batch_size) or (
                opts.max_duration is not None and seconds + u.duration > opts.max_duration
            )
            if batch and full:
                batches.append(batch)
                batch, seconds = [], 0.0
            batch.append(u)
            seconds += u.duration
        if batch:
            batches.append(batch)
    return batches


def token_budget(seconds: float, opts: DecodeOptions) -> int:
    """New tokens a batch may generate: ``max_tokens_per_second`` x longest clip + 10, at most ``max_new_tokens``."""
    return min(opts.max_new_tokens, int(opts.max_tokens_per_second * seconds) + 10)
