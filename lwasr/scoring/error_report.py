"""Each utterance's alignment, as ESPnet's ``score_wer/result.txt`` and icefall's ``errs-*`` list it.

``lwasr score`` writes :data:`~lwasr.decoding.io.ERRORS_FILE` beside ``results.json``: one line per utterance,
``<id>  <lang>  S=.. D=.. I=.. N=..  <alignment>``, where the alignment shows the normalized reference with each
error as ``(ref->hyp)`` (``*`` for nothing: a deletion is ``(word->*)``, an insertion ``(*->word)``), the
utterances in the order of ``hyp.jsonl``; then the most frequent substitutions, deletions and insertions.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

from lwasr.scoring.alignment import aligned_pairs, error_kind, shown
from lwasr.scoring.metrics import units
from lwasr.scoring.normalizers import DEFAULT_NORMALIZER

#: How many of the most frequent substitutions, deletions and insertions the report lists.
TOP = 30
KINDS = ("substitutions", "deletions", "insertions")


def error_report(records: Iterable[dict[str, Any]], normalizer: str = DEFAULT_NORMALIZER) -> str:
    """The per-utterance alignments of ``hyp.jsonl`` records and the most frequent errors, as text."""
    lines = ["# per-utterance alignment: id, language, substitutions, deletions, insertions, reference units;"]
    lines.append("# the normalized reference with each error as (ref->hyp), * for nothing")
    errors: dict[str, Counter[str]] = {kind: Counter() for kind in KINDS}
    for rec in records:
        lang = rec.get("lang") or "unknown"
        ref, hyp = units(rec.get("ref", ""), lang, normalizer), units(rec.get("hyp", ""), lang, normalizer)
        pairs = aligned_pairs(ref, hyp)
        found: Counter[str] = Counter()
        for (r, h), kind in ((pair, error_kind(pair)) for pair in pairs):
            if kind is not None:
                found[kind] += 1
                errors[kind][{"substitutions": f"{r} -> {h}", "deletions": r, "insertions": h}[kind]] += 1
        s, d, i = (found[kind] for kind in KINDS)
        lines.append(f"{rec['id']}\t{lang}\tS={s} D={d} I={i} N={len(ref)}\t{' '.join(map(shown, pairs))}")
    for kind, counts in errors.items():
        lines += ["", f"# {kind} (count, most frequent first)"]
        lines += [f"{n}\t{what}" for what, n in counts.most_common(TOP)]
    return "\n".join(lines) + "\n"
