"""What ``lwasr score compare`` computes: systems made of decode dirs, their scores with bootstrap intervals,
and paired comparisons against a baseline (:mod:`lwasr.scoring.bootstrap`).

A system given several decode dirs (the same ``--name``) is made of *parts* and *seeds*: dirs holding the
same utterance ids are seeds (training runs of one system with different seeds); dirs with disjoint ids are
parts (e.g. one decode per new language). Dirs that share some ids but not all are an error. With parts and
seeds together, every part needs the same number of dirs, and seed k is the k-th dir of each part, in the
order given.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lwasr.errors import LwasrError
from lwasr.scoring.bootstrap import SEED, Bootstrap, Estimate, LangCounts, interval, paired
from lwasr.scoring.metrics import UttScore, metric_name, read_records, score_utterances, summarize
from lwasr.scoring.outliers import without_worst


@dataclass
class ScoredSystem:
    """One system of a comparison: per seed, its decode dirs (parts), utterance scores and plain results."""

    name: str
    seeds: list[list[Path]]
    scores: list[list[UttScore]]
    results: list[dict[str, Any]]


def group_seeds(name: str, dir_ids: Mapping[Path, frozenset[str]]) -> list[list[Path]]:
    """The decode dirs of system ``name`` (dir -> its utterance ids) as seeds of parts:
    [[part dirs of seed 1], [... of seed 2], ...]."""
    parts: list[tuple[frozenset[str], list[Path]]] = []
    for d, ids in dir_ids.items():
        for part_ids, part_dirs in parts:
            if ids == part_ids:
                part_dirs.append(d)
                break
            if ids & part_ids:
                raise LwasrError(
                    f"system {name}: {part_dirs[0]} and {d} share {len(ids & part_ids)} utterances but not all:"
                    " the dirs of one system must hold the same utterances (seeds) or disjoint ones (parts)"
                )
        else:
            parts.append((ids, [d]))
    counts = {len(part_dirs) for _, part_dirs in parts}
    if len(counts) > 1:
        detail = ", ".join(f"{part_dirs[0]}: {len(part_dirs)}" for _, part_dirs in parts)
        raise LwasrError(
            f"system {name}: its parts have different numbers of seeds ({detail}); give each part once per seed"
        )
    return [[part_dirs[k] for _, part_dirs in parts] for k in range(counts.pop())]


def score_system(name: str, dirs: Sequence[Path], normalizer: str) -> ScoredSystem:
    """Read the decode dirs of one system (each once), group them into seeds and score each seed."""
    records = {Path(d): read_records([d]) for d in dirs}
    seeds = group_seeds(name, {d: frozenset(rec["id"] for rec in recs) for d, recs in records.items()})
    system = ScoredSystem(name, seeds, [], [])
    for seed_dirs in seeds:
        pooled = [rec for d in seed_dirs for rec in records[d]]
        scores = score_utterances(pooled, normalizer)
        system.scores.append(scores)
        system.results.append(summarize(scores, pooled, normalizer))
    return system


def lang_counts(system: ScoredSystem) -> dict[str, LangCounts]:
    """Per language, the (seeds, utterances) error and reference-unit arrays, utterances sorted by id."""
    out = {}
    for lang in sorted({s.lang for s in system.scores[0]}):
        by_seed = [sorted((s for s in scores if s.lang == lang), key=lambda s: s.id) for scores in system.scores]
        out[lang] = LangCounts(
            ids=tuple(s.id for s in by_seed[0]),
            errors=np.array([[s.counts.errors for s in seed] for seed in by_seed], dtype=float),
            refs=np.array([[s.counts.ref for s in seed] for seed in by_seed], dtype=float),
        )
    return out


def check_paired(name: str, est: Estimate, base_name: str, base: Estimate) -> None:
    """LwasrError unless ``name`` and the baseline were decoded on the same utterances, language by language."""
    if est.ids == base.ids:
        return
    mine, theirs = (set().union(*e.ids.values()) for e in (est, base))
    if mine == theirs:
        raise LwasrError(f"{name} and baseline {base_name} give some utterances different languages: not comparable")
    only_mine, only_theirs = sorted(mine - theirs), sorted(theirs - mine)
    detail = "; ".join(
        f"{len(ids)} only in {who} (e.g. {ids[0]})" for who, ids in ((name, only_mine), (base_name, only_theirs)) if ids
    )
    raise LwasrError(
        f"cannot pair {name} with baseline {base_name}: they were decoded on different utterances ({detail});"
        " decode both on the same test set"
    )


def compare_systems(
    groups: Mapping[str, Sequence[Path]],
    *,
    baseline: str | None = None,
    normalizer: str,
    resamples: int = 1000,
) -> dict[str, Any]:
    """Scores, intervals and comparisons of the systems ``groups`` names (name -> decode dirs): the content of
    ``score compare``'s JSON, from which its tables are made."""
    if baseline is not None and baseline not in groups:
        raise LwasrError(f"baseline {baseline!r} is not one of the systems: {', '.join(groups)}")
    boot = Bootstrap(resamples)
    systems = {name: score_system(name, dirs, normalizer) for name, dirs in groups.items()}
    estimates = {name: boot.estimate(lang_counts(s)) for name, s in systems.items()}
    out = {name: _entry(systems[name], estimates[name]) for name in systems}
    if baseline is not None:
        for name, est in estimates.items():
            if name != baseline:
                check_paired(name, est, baseline, estimates[baseline])
                out[name]["vs_baseline"] = rounded(paired(estimates[baseline], est))
    return {
        "normalizer": normalizer,
        "bootstrap": {
            "resamples": resamples,
            "seed": SEED,
            "confidence": 95,
            "method": "percentile; utterances resampled within each language (paired across systems), then seeds",
        },
        "robust_summary": "macro_without_worst: the macro average without the system's worst language",
        "baseline": baseline,
        "systems": out,
    }


def _entry(system: ScoredSystem, est: Estimate) -> dict[str, Any]:
    """One system's JSON entry: mean over seeds per language and macro, intervals, spread, outliers, LID."""
    first = system.results[0]["languages"]
    languages = {}
    for lang, rate in est.rates.items():
        per_seed = [r["languages"][lang] for r in system.results]
        languages[lang] = {
            "metric": metric_name(lang),
            "rate": round(rate, 2),
            "rate_ci": rounded(interval(est.replicates[lang])),
            "seed_rates": [v["rate"] for v in per_seed],
            "utterances": first[lang]["utterances"],
            "ref_units": first[lang]["ref_units"],
            "over_100": sum(v["over_100"] for v in per_seed),
            "loops": sum(v["loops"] for v in per_seed),
        }
    robust, worst = without_worst(est.rates)
    lids = [r["lid_accuracy"] for r in system.results if r["lid_accuracy"] is not None]
    seeds = len(system.seeds)
    return {
        "decode_dirs": [[str(d) for d in seed] for seed in system.seeds],
        "seeds": seeds,
        "utterances": system.results[0]["utterances"],
        "languages": languages,
        "macro_average": round(est.macro, 2),
        "macro_ci": rounded(interval(est.macro_replicates)),
        "seed_spread": _spread(est.seed_macros) if seeds > 1 else None,
        "macro_without_worst": None if robust is None else round(robust, 2),
        "worst_language": worst,
        "lid_accuracy": round(sum(lids) / len(lids), 2) if lids else None,
    }


def _spread(values: np.ndarray) -> dict[str, float]:
    """Standard deviation (n - 1), min and max of the seeds' macro averages."""
    return rounded({"std": float(np.std(values, ddof=1)), "min": float(values.min()), "max": float(values.max())})


def rounded(value: Any) -> Any:
    """``value`` with every float rounded to 4 decimals, tuples as lists."""
    if isinstance(value, dict):
        return {k: rounded(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [rounded(v) for v in value]
    if isinstance(value, float):
        return round(value, 4)
    return value
