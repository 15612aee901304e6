"""The bootstrap maths (lwasr/scoring/bootstrap.py) on hand-made per-utterance counts."""

from __future__ import annotations

import numpy as np
import pytest

from lwasr.errors import LwasrError
from lwasr.scoring import bootstrap
from lwasr.scoring.bootstrap import MAX_RESAMPLES, Bootstrap, LangCounts, paired


def system(errors: dict[str, list[list[int]]], refs: dict[str, list[int]]) -> dict[str, LangCounts]:
    """A system from per-language errors[seed][utt] and reference units[utt] (the same for every seed)."""
    return {
        lang: LangCounts(
            ids=tuple(f"{lang}_{i:03d}" for i in range(len(refs[lang]))),
            errors=np.array(e, dtype=float),
            refs=np.array([refs[lang]] * len(e), dtype=float),
        )
        for lang, e in errors.items()
    }


RNG = np.random.default_rng(7)
REFS = {lang: list(RNG.integers(4, 12, size=40)) for lang in ("pl", "pt", "zh")}
BASE_ERRORS = {lang: [list(RNG.integers(1, 4, size=40))] for lang in REFS}


def test_identical_systems_give_an_interval_around_zero() -> None:
    boot = Bootstrap(1000)
    a, b = boot.estimate(system(BASE_ERRORS, REFS)), boot.estimate(system(BASE_ERRORS, REFS))
    diff = paired(a, b)
    for d in [diff["macro"], *diff["languages"].values()]:
        low, high = d["abs_ci"]
        assert low <= 0.0 <= high and high - low < 1e-9  # paired: the same resamples, so no spread at all
        assert d["rel_ci"][0] <= 0.0 <= d["rel_ci"][1]
        assert d["abs"] == 0.0 and d["p_improvement"] == 0.5  # ties count one half
    assert a.macro_replicates.std() > 0  # while each system alone varies from resample to resample


def test_a_system_better_on_every_utterance_excludes_zero() -> None:
    better = {lang: [[e - 1 for e in seeds[0]]] for lang, seeds in BASE_ERRORS.items()}  # one error fewer each
    boot = Bootstrap(1000)
    diff = paired(boot.estimate(system(BASE_ERRORS, REFS)), boot.estimate(system(better, REFS)))
    for d in [diff["macro"], *diff["languages"].values()]:
        assert d["abs_ci"][1] < 0.0 and d["rel_ci"][1] < 0.0 and d["abs"] < 0.0
        assert d["p_improvement"] == pytest.approx(1.0)


def test_point_estimates_are_corpus_rates_and_their_mean() -> None:
    est = Bootstrap(10).estimate(system(BASE_ERRORS, REFS))
    for lang in REFS:
        assert est.rates[lang] == pytest.approx(100.0 * sum(BASE_ERRORS[lang][0]) / sum(REFS[lang]))
    assert est.macro == pytest.approx(np.mean(list(est.rates.values())))
    assert est.macro_replicates.shape == (10,)


def test_seeds_are_resampled_with_the_utterances() -> None:
    """Seed 1 makes no errors, seed 2 an error on every unit: utterances alone cannot move the rate, seeds do."""
    refs = {"pl": [5] * 20}
    two = system({"pl": [[0] * 20, [5] * 20]}, refs)
    est = Bootstrap(2000).estimate(two)
    assert est.macro == 50.0 and list(est.seed_macros) == [0.0, 100.0]
    assert set(np.unique(est.macro_replicates)) == {0.0, 50.0, 100.0}  # both seeds drawn, or one twice
    one = Bootstrap(2000).estimate(system({"pl": [[5] * 20]}, refs))
    assert set(np.unique(one.macro_replicates)) == {100.0}


def test_fixed_seed_and_resamples() -> None:
    first = Bootstrap(300).estimate(system(BASE_ERRORS, REFS)).macro_replicates
    again = Bootstrap(300).estimate(system(BASE_ERRORS, REFS)).macro_replicates
    assert np.array_equal(first, again)
    with pytest.raises(LwasrError, match="--resamples 0"):
        Bootstrap(0)


def test_a_pair_does_not_depend_on_the_other_systems() -> None:
    better = {lang: [[e - 1 for e in seeds[0]]] for lang, seeds in BASE_ERRORS.items()}
    alone = Bootstrap(300)
    diff = paired(alone.estimate(system(BASE_ERRORS, REFS)), alone.estimate(system(better, REFS)))
    crowded = Bootstrap(300)
    crowded.estimate(system({lang: [e[0], e[0]] for lang, e in BASE_ERRORS.items()}, REFS))  # a seeded system first
    assert paired(crowded.estimate(system(BASE_ERRORS, REFS)), crowded.estimate(system(better, REFS))) == diff


def test_relative_change_is_undefined_against_a_perfect_baseline() -> None:
    boot = Bootstrap(100)
    perfect = boot.estimate(system({"pl": [[0] * 40]}, {"pl": REFS["pl"]}))
    worse = boot.estimate(system({"pl": [[1] * 40]}, {"pl": REFS["pl"]}))
    d = paired(perfect, worse)["macro"]
    assert d["rel"] is None and d["rel_ci"] is None and d["abs"] > 0 and d["p_improvement"] == 0.0


def pinned_pair() -> tuple[dict[str, LangCounts], dict[str, LangCounts]]:
    """Two 2-seed systems on 30 pl and 17 zh utterances."""
    rng = np.random.default_rng(11)
    refs = {"pl": rng.integers(4, 12, size=30), "zh": rng.integers(4, 12, size=17)}
    a = {lang: rng.integers(0, 5, size=(2, len(r))) for lang, r in refs.items()}
    b = {lang: np.maximum(a[lang] - rng.integers(0, 2, size=a[lang].shape), 0) for lang in refs}
    return tuple(  # type: ignore[return-value]
        {
            lang: LangCounts(
                tuple(f"{lang}_{i:03d}" for i in range(len(r))), e[lang].astype(float), np.array([r, r], float)
            )
            for lang, r in refs.items()
        }
        for e in (a, b)
    )


@pytest.mark.parametrize("chunk", [None, 7, 100])
def test_intervals_are_pinned_and_do_not_depend_on_the_chunks(monkeypatch, chunk) -> None:
    """The replicates are drawn in chunks of at most CHUNK_COUNTS counts (bounded memory): the same seed gives the
    intervals it gave when all were drawn at once (the pinned values), whatever the chunk size."""
    if chunk is not None:
        monkeypatch.setattr(bootstrap, "CHUNK_COUNTS", chunk)
    boot = Bootstrap(1000)
    assert [len(w) for w in boot.weights(("a",) * 30)][:2] == ([1000] if chunk is None else [max(1, chunk // 30)] * 2)
    a, b = pinned_pair()
    d = paired(boot.estimate(a), boot.estimate(b))
    assert d["macro"]["abs_ci"] == pytest.approx((-10.425658254036955, 0.7011660891505959), rel=1e-12)
    assert d["macro"]["rel_ci"] == pytest.approx((-39.60337941560206, 2.6591306244144297), rel=1e-12)
    assert d["macro"]["p_improvement"] == 0.967
    assert d["languages"]["pl"]["abs_ci"] == pytest.approx((-11.11111111111111, 1.7406959419407535), rel=1e-12)
    assert d["languages"]["zh"]["abs_ci"] == pytest.approx((-16.107382550335572, 6.1001607109094325), rel=1e-12)


def test_resamples_are_capped() -> None:
    with pytest.raises(LwasrError, match=r"^--resamples 1000001: need 1 to 1000000 "):
        Bootstrap(MAX_RESAMPLES + 1)
    assert Bootstrap(MAX_RESAMPLES).resamples == MAX_RESAMPLES
