"""Error rates: WER, or CER for languages without word boundaries (zh, ja, th, lo, my, yue).

Both sides go through a normalizer (:mod:`lwasr.scoring.normalizers`; by default Whisper's
language-independent ``BasicTextNormalizer``: lower case, marks, punctuation and symbols to spaces, whitespace
collapsed). For CER, spaces are then removed and the text split into characters. jiwer aligns the units and
counts substitutions, deletions and insertions, per utterance (:func:`score_utterances`); a language's rate
pools them (errors / reference units).
"""

from __future__ import annotations

import dataclasses
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lwasr.atomic import write_json
from lwasr.decoding.io import RESULTS_FILE
from lwasr.errors import LwasrError
from lwasr.langcodes import uses_cer
from lwasr.scoring.alignment import aligned_pairs, error_kind
from lwasr.scoring.normalizers import DEFAULT_NORMALIZER, get_normalizer
from lwasr.scoring.outliers import ends_in_loop, without_worst


def normalize(text: str, normalizer: str = DEFAULT_NORMALIZER) -> str:
    """``text`` through the normalizer called ``normalizer``."""
    return get_normalizer(normalizer)(text or "").strip()


def units(text: str, lang: str, normalizer: str = DEFAULT_NORMALIZER) -> list[str]:
    """Normalised scoring units: characters without spaces (CER languages) or words."""
    norm = normalize(text, normalizer)
    return list(norm.replace(" ", "")) if uses_cer(lang) else norm.split()


def metric_name(lang: str) -> str:
    return "CER" if uses_cer(lang) else "WER"


@dataclass
class ErrorCounts:
    """Alignment counts over one or more utterances; ``ref`` is the number of reference units."""

    sub: int = 0
    dele: int = 0
    ins: int = 0
    ref: int = 0
    utts: int = 0

    def __add__(self, other: ErrorCounts) -> ErrorCounts:
        return ErrorCounts(*(a + b for a, b in zip(dataclasses.astuple(self), dataclasses.astuple(other), strict=True)))

    @property
    def errors(self) -> int:
        return self.sub + self.dele + self.ins

    @property
    def rate(self) -> float:
        """Error rate in percent (errors / reference units; insertions on an empty reference count fully)."""
        return 100.0 * self.errors / max(self.ref, 1)


def count_errors(ref: str, hyp: str, lang: str, normalizer: str = DEFAULT_NORMALIZER) -> ErrorCounts:
    """Substitutions, deletions and insertions of ``hyp`` against ``ref`` in ``lang``'s units."""
    return _align(units(ref, lang, normalizer), units(hyp, lang, normalizer))


def _align(r: list[str], h: list[str]) -> ErrorCounts:
    found = Counter(error_kind(pair) for pair in aligned_pairs(r, h))
    return ErrorCounts(found["substitutions"], found["deletions"], found["insertions"], len(r), 1)


@dataclass(frozen=True)
class UttScore:
    """One utterance's alignment counts, and whether its hypothesis ends in a repetition loop."""

    id: str
    lang: str
    counts: ErrorCounts
    loop: bool


def score_utterances(records: Iterable[dict[str, Any]], normalizer: str = DEFAULT_NORMALIZER) -> list[UttScore]:
    """Per-utterance scores of ``hyp.jsonl`` records (id, lang, ref, hyp, ...), in record order."""
    scores = []
    for rec in records:
        lang = rec.get("lang") or "unknown"
        ref, hyp = units(rec.get("ref", ""), lang, normalizer), units(rec.get("hyp", ""), lang, normalizer)
        scores.append(UttScore(rec["id"], lang, _align(ref, hyp), ends_in_loop(hyp)))
    return scores


def score_records(records: Iterable[dict[str, Any]], normalizer: str = DEFAULT_NORMALIZER) -> dict[str, Any]:
    """Per-language error rates and outlier counts, their macro average (and without the worst language), and
    LID accuracy when records carry ``detected_lang``.

    Records are ``hyp.jsonl`` lines (id, lang, ref, hyp, detected_lang, ...).
    """
    records = list(records)
    return summarize(score_utterances(records, normalizer), records, normalizer)


def summarize(scores: Sequence[UttScore], records: Sequence[dict[str, Any]], normalizer: str) -> dict[str, Any]:
    """:func:`score_records`'s results from the utterances' ``scores`` and their ``records`` (for LID)."""
    per_lang: dict[str, ErrorCounts] = defaultdict(ErrorCounts)
    over_100: dict[str, int] = defaultdict(int)
    loops: dict[str, int] = defaultdict(int)
    for s in scores:
        per_lang[s.lang] = per_lang[s.lang] + s.counts
        over_100[s.lang] += s.counts.rate > 100.0
        loops[s.lang] += s.loop
    detected = [rec for rec in records if rec.get("detected_lang") is not None]
    lid_hits = sum(rec["detected_lang"] == rec.get("lang") for rec in detected)
    langs = {
        lang: {
            "metric": metric_name(lang),
            "rate": round(c.rate, 2),
            "sub": c.sub,
            "del": c.dele,
            "ins": c.ins,
            "ref_units": c.ref,
            "utterances": c.utts,
            "over_100": over_100[lang],
            "loops": loops[lang],
        }
        for lang, c in sorted(per_lang.items())
    }
    rates = {lang: c.rate for lang, c in per_lang.items()}
    robust, worst = without_worst(rates)
    return {
        "languages": langs,
        "macro_average": round(sum(rates.values()) / len(rates), 2) if rates else None,
        "macro_without_worst": None if robust is None else round(robust, 2),
        "worst_language": worst,
        "lid_accuracy": round(100.0 * lid_hits / len(detected), 2) if detected else None,
        "utterances": sum(c.utts for c in per_lang.values()),
        "normalizer": normalizer,
    }


def read_records(decode_dirs: Sequence[str | Path]) -> list[dict[str, Any]]:
    """The records of one or several finished decode dirs, pooled as one system's disjoint parts.

    An utterance id found in two of them is an error, since it would be counted twice. A dir that is
    unfinished, damaged or short of records is an error (:func:`lwasr.decoding.io.read_finished`): a score is
    never of a silent subset.
    """
    from lwasr.decoding.io import read_finished

    dirs = [Path(d) for d in decode_dirs]
    check_distinct(dirs)
    records: list[dict[str, Any]] = []
    seen: dict[str, Path] = {}
    for d in dirs:
        for rec in read_finished(d):
            if rec["id"] in seen:
                raise LwasrError(f"utterance {rec['id']} is in both {seen[rec['id']]} and {d}: cannot pool them")
            seen[rec["id"]] = d
            records.append(rec)
    if not records:
        raise LwasrError(f"{', '.join(map(str, dirs))} has no decoded utterances; run `lwasr decode` first")
    return records


def score_dirs(decode_dirs: Sequence[str | Path], normalizer: str = DEFAULT_NORMALIZER) -> dict[str, Any]:
    """Scores of one or several finished decode dirs taken as one system (:func:`read_records`; nothing is
    written)."""
    return score_records(read_records(decode_dirs), normalizer)


def check_distinct(decode_dirs: Sequence[str | Path]) -> None:
    """LwasrError when one decode dir is given twice (under any spelling of its path)."""
    seen: set[Path] = set()
    for d in decode_dirs:
        key = Path(d).resolve()
        if key in seen:
            raise LwasrError(f"decode dir given twice: {d}")
        seen.add(key)


def score_dir(decode_dir: str | Path, normalizer: str = DEFAULT_NORMALIZER) -> dict[str, Any]:
    """Score a finished decode dir's ``hyp.jsonl`` and write ``results.json`` beside it (atomically)."""
    results = score_dirs([decode_dir], normalizer)
    write_json(Path(decode_dir) / RESULTS_FILE, results)
    return results
