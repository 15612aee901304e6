"""The alignment of a hypothesis to its reference, unit by unit (jiwer's), from which the error counts of
:mod:`lwasr.scoring.metrics` and the per-utterance report of :mod:`lwasr.scoring.error_report` both come."""

from __future__ import annotations

import jiwer

#: What stands for nothing in a pair: a deletion is ``(unit, NONE)``, an insertion ``(NONE, unit)``.
NONE = "*"


def aligned_pairs(ref: list[str], hyp: list[str]) -> list[tuple[str, str]]:
    """The alignment of ``hyp`` to ``ref`` as (ref unit, hyp unit) pairs, ``*`` standing for nothing."""
    if not ref or not hyp:
        return [(r, NONE) for r in ref] + [(NONE, h) for h in hyp]
    pairs: list[tuple[str, str]] = []
    for chunk in jiwer.process_words(" ".join(ref), " ".join(hyp)).alignments[0]:
        r, h = ref[chunk.ref_start_idx : chunk.ref_end_idx], hyp[chunk.hyp_start_idx : chunk.hyp_end_idx]
        if chunk.type == "delete":
            pairs += [(u, NONE) for u in r]
        elif chunk.type == "insert":
            pairs += [(NONE, u) for u in h]
        else:  # equal, substitute: as many units on each side
            pairs += list(zip(r, h, strict=True))
    return pairs


def error_kind(pair: tuple[str, str]) -> str | None:
    """``substitutions``, ``deletions`` or ``insertions`` for an error pair of :func:`aligned_pairs`, else None."""
    r, h = pair
    if r == h:
        return None
    return "deletions" if h == NONE else "insertions" if r == NONE else "substitutions"


def shown(pair: tuple[str, str]) -> str:
    """A pair as the report shows it: the unit, or ``(ref->hyp)`` for an error."""
    r, h = pair
    return r if r == h else f"({r}->{h})"
