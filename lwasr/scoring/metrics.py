"""Error rates: WER, or CER for languages without word boundaries (zh, ja, th, lo, my, yue).

Both sides go through Whisper's language-independent ``BasicTextNormalizer`` (lower case, punctuation
and symbols to spaces, whitespace collapsed). For CER, spaces are then removed and the text split
into characters. jiwer aligns the units and counts substitutions, deletions and insertions.
"""

from __future__ import annotations

import dataclasses
import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import jiwer
from transformers.models.whisper.english_normalizer import BasicTextNormalizer

from lwasr.atomic import write_json
from lwasr.errors import LwasrError
from lwasr.langcodes import uses_cer


@lru_cache(maxsize=1)
def _normalizer() -> BasicTextNormalizer:
    return BasicTextNormalizer()


def normalize(text: str) -> str:
    """Whisper's BasicTextNormalizer."""
    return _normalizer()(text or "").strip()


def units(text: str, lang: str) -> list[str]:
    """Normalised scoring units: characters without spaces (CER languages) or words."""
    norm = normalize(text)
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


def count_errors(ref: str, hyp: str, lang: str) -> ErrorCounts:
    """Substitutions, deletions and insertions of ``hyp`` against ``ref`` in ``lang``'s units."""
    r, h = units(ref, lang), units(hyp, lang)
    if not r or not h:  # jiwer refuses empty references; the alignment is trivial anyway
        return ErrorCounts(0, len(r), len(h), len(r), 1)
    out = jiwer.process_words(" ".join(r), " ".join(h))
    return ErrorCounts(out.substitutions, out.deletions, out.insertions, len(r), 1)


def score_records(records: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Per-language error rates, their macro average, and LID accuracy when records carry ``detected_lang``.

    Records are ``hyp.jsonl`` lines (id, lang, ref, hyp, detected_lang, ...).
    """
    per_lang: dict[str, ErrorCounts] = defaultdict(ErrorCounts)
    lid_hits = lid_total = 0
    for rec in records:
        lang = rec.get("lang") or "unknown"
        per_lang[lang] = per_lang[lang] + count_errors(rec.get("ref", ""), rec.get("hyp", ""), lang)
        if rec.get("detected_lang") is not None:
            lid_total += 1
            lid_hits += rec["detected_lang"] == rec.get("lang")
    langs = {
        lang: {
            "metric": metric_name(lang),
            "rate": round(c.rate, 2),
            "sub": c.sub,
            "del": c.dele,
            "ins": c.ins,
            "ref_units": c.ref,
            "utterances": c.utts,
        }
        for lang, c in sorted(per_lang.items())
    }
    rates = [c.rate for c in per_lang.values()]
    return {
        "languages": langs,
        "macro_average": round(sum(rates) / len(rates), 2) if rates else None,
        "lid_accuracy": round(100.0 * lid_hits / lid_total, 2) if lid_total else None,
        "utterances": sum(c.utts for c in per_lang.values()),
    }


RESULTS_FILE = "results.json"


def score_dirs(decode_dirs: Sequence[str | Path]) -> dict[str, Any]:
    """Scores of the ``hyp.jsonl`` of one or several decode dirs, taken as one system (nothing is written).

    Several dirs are pooled (e.g. one decode per language); an utterance id found in two of them is an error,
    since it would be counted twice. ``incomplete`` is set when a decode is still running or was interrupted.
    """
    from lwasr.decoding.io import HYP_FILE, SUMMARY_FILE, read_hyps

    dirs = [Path(d) for d in decode_dirs]
    records: list[dict[str, Any]] = []
    seen: dict[str, Path] = {}
    for d in dirs:
        for rec in read_hyps(d / HYP_FILE):
            if rec["id"] in seen:
                raise LwasrError(f"utterance {rec['id']} is in both {seen[rec['id']]} and {d}: cannot pool them")
            seen[rec["id"]] = d
            records.append(rec)
    if not records:
        where = ", ".join(map(str, dirs))
        raise LwasrError(f"{where} has no decoded utterances ({HYP_FILE}); run `lwasr decode` first")
    results = score_records(records)
    if not all((d / SUMMARY_FILE).is_file() for d in dirs):
        results["incomplete"] = True
    return results


def score_dir(decode_dir: str | Path) -> dict[str, Any]:
    """Score a decode dir's ``hyp.jsonl`` and write ``results.json`` beside it (atomically)."""
    results = score_dirs([decode_dir])
    write_json(Path(decode_dir) / RESULTS_FILE, results)
    return results


def load_results(decode_dir: str | Path) -> dict[str, Any]:
    """``results.json`` of a decode dir, scoring it first when missing or older than ``hyp.jsonl``."""
    decode_dir = Path(decode_dir)
    path, hyp = decode_dir / RESULTS_FILE, decode_dir / "hyp.jsonl"
    if path.is_file() and (not hyp.is_file() or path.stat().st_mtime >= hyp.stat().st_mtime):
        return json.loads(path.read_text())
    return score_dir(decode_dir)
