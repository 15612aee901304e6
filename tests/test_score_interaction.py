"""`lwasr score interaction`: the change of a gap from one condition to another, with paired intervals."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from lwasr.cli import app
from lwasr.errors import LwasrError
from lwasr.scoring.bootstrap import Bootstrap, LangCounts, interaction
from lwasr.scoring.interaction import score_interaction

WORDS = "ala ma kota a pies je kość i dom stoi nad rzeką".split()


def decode(path: Path, errors: list[int]) -> Path:
    """A decode dir of len(errors) Polish utterances of 8 words, utterance i with errors[i] substitutions."""
    path.mkdir(parents=True)
    recs = []
    for i, e in enumerate(errors):
        ref = [WORDS[(i + k) % len(WORDS)] for k in range(8)]
        recs.append({"id": f"pl_{i:03d}", "lang": "pl", "ref": " ".join(ref), "hyp": " ".join(["x"] * e + ref[e:])})
    (path / "hyp.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in recs))
    (path / "summary.json").write_text("{}")
    return path


def estimate(boot: Bootstrap, errors: np.ndarray) -> object:
    ids = tuple(f"u{i}" for i in range(errors.size))
    return boot.estimate({"pl": LangCounts(ids, errors[None, :].astype(float), np.full((1, errors.size), 10.0))})


def test_interaction_of_equal_gaps_is_zero_and_of_a_closed_gap_is_its_size() -> None:
    rng = np.random.default_rng(0)
    base = rng.integers(1, 6, size=80)
    boot = Bootstrap(200)
    b1, s1 = estimate(boot, base), estimate(boot, base + 2)  # the system 2 errors worse per utterance
    same = interaction(b1, s1, b1, s1)["macro"]
    assert same["abs"] == 0 and same["rel"] == 0 and same["abs_ci"] == (0.0, 0.0)
    b2, s2 = estimate(boot, base), estimate(boot, base)  # second condition: no gap left
    closed = interaction(b1, s1, b2, s2)["macro"]
    gap = 100 * 2 * 80 / (10 * 80)  # 20 points of error rate
    assert closed["abs"] == pytest.approx(-gap)
    assert closed["rel"] == pytest.approx(-100 * 2 / base.mean())
    low, high = closed["rel_ci"]
    assert low < closed["rel"] < high < 0  # the interval excludes 0
    assert closed["p_second_smaller"] == 1.0


def test_cli_writes_table_and_json(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    base = [int(x) for x in rng.integers(0, 4, size=60)]
    dirs = [
        decode(tmp_path / "experts_orig", [e + 2 for e in base]),
        decode(tmp_path / "shared_orig", base),
        decode(tmp_path / "experts_adapt", base),
        decode(tmp_path / "shared_adapt", [e + 1 for e in base]),
    ]
    names = [x for n in ("eo", "so", "ea", "sa") for x in ("--name", n)]
    out = tmp_path / "study" / "TWO.md"
    res = CliRunner().invoke(app, ["score", "interaction", *map(str, dirs), *names, "--out", str(out), "--title", "t"])
    assert res.exit_code == 0, res.output
    data = json.loads(out.with_suffix(".json").read_text())
    assert data["first_gap"]["macro"]["rel"] > 0 > data["second_gap"]["macro"]["rel"]
    assert data["interaction"]["macro"]["rel"] == pytest.approx(
        data["second_gap"]["macro"]["rel"] - data["first_gap"]["macro"]["rel"], abs=1e-3
    )
    assert data["interaction"]["macro"]["rel_ci"][1] < 0
    text = out.read_text()
    assert "## t" in text and "interaction: second gap minus first" in text and "| eo | first |" in text


def test_refuses_other_utterances_or_counts(tmp_path: Path) -> None:
    dirs = [decode(tmp_path / f"d{i}", [1] * (20 if i < 3 else 19)) for i in range(4)]
    with pytest.raises(LwasrError, match="different utterances"):
        score_interaction(dirs, ["a", "b", "c", "d"], normalizer="whisper-basic")
    with pytest.raises(LwasrError, match="4 decode dirs"):
        score_interaction(dirs[:3], None, normalizer="whisper-basic")
