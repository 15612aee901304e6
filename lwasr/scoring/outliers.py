"""Outliers that can decide a macro average, and the robust summary reported beside it.

An utterance is an outlier when its error rate exceeds 100% (more errors than reference units, i.e. many
insertions: a hallucination) or when its hypothesis ends in a repetition loop (:func:`ends_in_loop`).

The robust summary is the macro average with each system's worst language left out
(:func:`without_worst`). It keeps the headline's units and pooling (corpus-level WER/CER per language,
then the plain mean), so it reads as "the average without the one language that dominates it"; a few
hallucinated utterances inflate one language, and this is what they then stop deciding. The median
utterance error was not chosen: on utterances of 5 to 15 words it moves in steps of 7 to 20 points, is often 0
for a good system, and mixes WER and CER utterances in one distribution.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

#: A hypothesis "ends in a loop" when its last units repeat one n-gram at least this many times.
LOOP_REPEATS = 4


def ends_in_loop(units: Sequence[str], repeats: int = LOOP_REPEATS) -> bool:
    """Whether ``units`` (scoring units: words, or characters for CER languages) end with an n-gram, of any
    length n, repeated at least ``repeats`` times in a row; the last copy may be cut short (the decode's
    token budget stops a loop anywhere).

    Equivalently: some suffix of at least ``repeats * n`` units has period n.
    """
    size = len(units)
    for n in range(1, size // repeats + 1):
        periodic = n  # length of the longest suffix with period n
        while periodic < size and units[size - periodic - 1] == units[size - periodic - 1 + n]:
            periodic += 1
        if periodic >= repeats * n:
            return True
    return False


def without_worst(rates: Mapping[str, float]) -> tuple[float | None, str | None]:
    """The mean of per-language ``rates`` with the highest left out, and that language (None, None with fewer
    than two languages)."""
    if len(rates) < 2:
        return None, None
    worst = max(rates, key=lambda lang: (rates[lang], lang))
    rest = [rate for lang, rate in rates.items() if lang != worst]
    return sum(rest) / len(rest), worst
