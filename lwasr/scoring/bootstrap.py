"""Bootstrap confidence intervals for error rates and their differences (Bisani & Ney, 2004).

Input, per system and language: each utterance's errors and reference units, one row per training seed
(arrays of shape (seeds, utterances), utterances in the same order, sorted by id, for every system).

One bootstrap replicate draws, per language, as many utterances as it has, with replacement (a
multinomial count per utterance, shared by every system decoded on those utterances: the comparison is
paired), and, per system, as many of its seeds as it has, with replacement. A system's replicate rate in a
language is the mean over the drawn seeds of ``100 * sum(count * errors) / sum(count * ref units)``, the
corpus-level rate of the resampled set; its replicate macro average is the plain mean over languages, which
stays defined because every language keeps its size. Intervals are the 2.5th and 97.5th percentiles of the
replicates; the probability of improvement is the share of replicates in which the system's error is
below the baseline's (ties count one half). The generators are seeded (:data:`SEED`; the utterance draws also
by the utterance ids), so the same inputs give the same intervals, and a pair of single-seed systems gets the
same intervals whichever other systems are compared with them.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import numpy as np

from lwasr.errors import LwasrError

SEED = 0
CONFIDENCE = 95.0
#: The most replicates: each is kept per system and language (8 bytes each) for its percentiles.
MAX_RESAMPLES = 1_000_000
#: Utterance counts drawn at once (a chunk of replicates): bounds the memory whatever the resamples.
CHUNK_COUNTS = 1 << 22


@dataclass(frozen=True)
class LangCounts:
    """One system's counts in one language: ``errors`` and ``refs`` of shape (seeds, utterances), columns in
    the order of ``ids``."""

    ids: tuple[str, ...]
    errors: np.ndarray
    refs: np.ndarray


@dataclass(frozen=True)
class Estimate:
    """One system's point estimates (mean over seeds) and bootstrap replicates, per language and macro."""

    rates: dict[str, float]
    replicates: dict[str, np.ndarray]
    macro: float
    macro_replicates: np.ndarray
    seed_macros: np.ndarray
    ids: dict[str, tuple[str, ...]]


def corpus_rate(errors: np.ndarray, refs: np.ndarray) -> np.ndarray:
    """Error rate in percent of summed counts (last axis); an empty reference counts its errors fully."""
    return 100.0 * errors.sum(axis=-1) / np.maximum(refs.sum(axis=-1), 1)


def interval(values: np.ndarray) -> tuple[float, float] | None:
    """The central :data:`CONFIDENCE` percent interval of ``values`` (NaNs ignored; None if all are NaN)."""
    values = values[~np.isnan(values)]
    if values.size == 0:
        return None
    tail = (100.0 - CONFIDENCE) / 2
    low, high = np.percentile(values, [tail, 100.0 - tail])
    return float(low), float(high)


class Bootstrap:
    """Seeded replicates; systems estimated by one instance share their utterance draws (paired)."""

    def __init__(self, resamples: int = 1000, seed: int = SEED) -> None:
        if not 1 <= resamples <= MAX_RESAMPLES:
            raise LwasrError(
                f"--resamples {resamples}: need 1 to {MAX_RESAMPLES} (1000 is the usual choice; every replicate is"
                " kept per system and language)"
            )
        self.resamples = resamples
        self.seed = seed
        self.rng = np.random.default_rng(seed)  # the seed draws

    def weights(self, ids: tuple[str, ...]) -> Iterator[np.ndarray]:
        """How often each utterance of ``ids`` is drawn in each replicate, in chunks of replicates (shape (rows,
        utterances), at most :data:`CHUNK_COUNTS` counts each); the same draws, whatever the chunks, every call."""
        n = len(ids)
        rng = np.random.default_rng([self.seed, zlib.crc32("\n".join(ids).encode())])
        rows = max(1, CHUNK_COUNTS // n)
        for start in range(0, self.resamples, rows):
            yield rng.multinomial(n, np.full(n, 1.0 / n), size=min(rows, self.resamples - start)).astype(float)

    def estimate(self, system: Mapping[str, LangCounts]) -> Estimate:
        """Point estimates and replicates of one system (``system``: language -> its counts)."""
        langs = sorted(system)
        seeds = system[langs[0]].errors.shape[0]
        draws = self.rng.integers(seeds, size=(self.resamples, seeds))  # the seeds each replicate uses
        rates, replicates, per_seed = {}, {}, []
        for lang in langs:
            c = system[lang]
            seed_rates = corpus_rate(c.errors, c.refs)
            per_seed.append(seed_rates)
            rates[lang] = float(seed_rates.mean())
            replicates[lang] = np.empty(self.resamples)
            start = 0
            for w in self.weights(c.ids):
                rows = slice(start, start + len(w))
                by_seed = 100.0 * (w @ c.errors.T) / np.maximum(w @ c.refs.T, 1)  # (rows, seeds)
                replicates[lang][rows] = np.take_along_axis(by_seed, draws[rows], axis=1).mean(axis=1)
                start += len(w)
        return Estimate(
            rates=rates,
            replicates=replicates,
            macro=float(np.mean(list(rates.values()))),
            macro_replicates=np.mean([replicates[lang] for lang in langs], axis=0),
            seed_macros=np.mean(per_seed, axis=0),
            ids={lang: system[lang].ids for lang in langs},
        )


def difference(base: float, base_reps: np.ndarray, other: float, other_reps: np.ndarray) -> dict[str, object]:
    """``other`` against ``base`` (lower is better): absolute and relative (%) change with intervals, and the
    probability of improvement."""
    diff = other_reps - base_reps
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.where(base_reps > 0, 100.0 * diff / base_reps, np.nan)
    return {
        "abs": other - base,
        "abs_ci": interval(diff),
        "rel": 100.0 * (other - base) / base if base > 0 else None,
        "rel_ci": interval(rel),
        "p_improvement": float(np.mean(diff < 0) + 0.5 * np.mean(diff == 0)),
    }


def paired(base: Estimate, other: Estimate) -> dict[str, object]:
    """Macro-average and per-language :func:`difference` of ``other`` against ``base``, which must have been
    estimated on the same utterances by the same :class:`Bootstrap`."""
    if base.ids != other.ids:
        raise ValueError("a paired comparison needs the same utterances in every language")
    return {
        "macro": difference(base.macro, base.macro_replicates, other.macro, other.macro_replicates),
        "languages": {
            lang: difference(base.rates[lang], base.replicates[lang], other.rates[lang], other.replicates[lang])
            for lang in base.rates
        },
    }


def _relative(base: np.ndarray, other: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(base > 0, 100.0 * (other - base) / base, np.nan)


def _gap_change(values: list[tuple[float, np.ndarray]]) -> dict[str, object]:
    """:func:`interaction` of one figure: ``values`` = (point, replicates) of first_base, first, second_base, second."""
    (b1, b1r), (s1, s1r), (b2, b2r), (s2, s2r) = values
    rel = _relative(b2r, s2r) - _relative(b1r, s1r)
    known = rel[~np.isnan(rel)]
    return {
        "abs": (s2 - b2) - (s1 - b1),
        "abs_ci": interval((s2r - b2r) - (s1r - b1r)),
        "rel": 100.0 * (s2 - b2) / b2 - 100.0 * (s1 - b1) / b1 if b1 > 0 and b2 > 0 else None,
        "rel_ci": interval(rel),
        "p_second_smaller": float(np.mean(known < 0)) if known.size else None,
    }


def interaction(first_base: Estimate, first: Estimate, second_base: Estimate, second: Estimate) -> dict[str, object]:
    """The change of a gap between two conditions: (``second`` against ``second_base``) minus (``first`` against
    ``first_base``), in absolute points and in points of relative change (%), with intervals from the same
    replicates (all four estimated on the same utterances by one :class:`Bootstrap`), and the share of
    replicates in which the second gap is the smaller (lower error is better). Macro and per language."""
    four = (first_base, first, second_base, second)
    if any(e.ids != first_base.ids for e in four):
        raise ValueError("an interaction needs the same utterances in every language for all four systems")
    return {
        "macro": _gap_change([(e.macro, e.macro_replicates) for e in four]),
        "languages": {
            lang: _gap_change([(e.rates[lang], e.replicates[lang]) for e in four]) for lang in first_base.rates
        },
    }
