"""`lwasr score compare`: paired bootstrap intervals, seeds pooled, the JSON beside the table, the header."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from helpers import base_errors, records, table_rows, write_decode
from typer.testing import CliRunner

from lwasr.cli import app
from lwasr.errors import LwasrError
from lwasr.scoring.metrics import score_dirs
from lwasr.scoring.tables import relative_change

runner = CliRunner()


@pytest.fixture
def exp(tmp_path: Path) -> Path:
    """Decodes: a baseline, a system one error better on every utterance, a copy of the baseline."""
    write_decode(tmp_path / "base" / "decode_test", records(base_errors))
    write_decode(tmp_path / "better" / "decode_test", records(lambda i: base_errors(i) - 1))
    write_decode(tmp_path / "same" / "decode_test", records(base_errors))
    return tmp_path


def compare(*args: str | Path) -> str:
    res = runner.invoke(app, ["score", "compare", *map(str, args)])
    assert res.exit_code == 0, res.output
    return res.output


def compare_error(*args: str | Path) -> str:
    res = runner.invoke(app, ["score", "compare", *map(str, args)])
    assert isinstance(res.exception, LwasrError), res.output
    return str(res.exception)


def dirs(exp: Path, *names: str) -> list[Path]:
    return [exp / name / "decode_test" for name in names]


def test_intervals_in_table_and_json(exp: Path) -> None:
    out = exp / "cmp" / "table.md"
    compare(*dirs(exp, "base", "better", "same"), "--baseline", "base", "--resamples", "500", "--out", out)
    data = json.loads(out.with_suffix(".json").read_text())
    assert data["baseline"] == "base" and data["normalizer"] == "whisper-basic"
    assert data["bootstrap"]["resamples"] == 500
    better, same = data["systems"]["better"]["vs_baseline"], data["systems"]["same"]["vs_baseline"]
    for d in [better["macro"], *better["languages"].values()]:  # better on every utterance: 0 excluded
        assert d["abs_ci"][1] < 0 and d["rel_ci"][1] < 0 and d["p_improvement"] == 1.0
    for d in [same["macro"], *same["languages"].values()]:  # identical: an interval of width 0 at 0
        assert d["abs_ci"] == [0.0, 0.0] and d["rel_ci"] == [0.0, 0.0] and d["p_improvement"] == 0.5
    assert "vs_baseline" not in data["systems"]["base"]
    rows = table_rows(out.read_text(), "System")
    rel = better["macro"]
    assert rows["better"][-1] == f"{rel['rel']:+.1f}% [{rel['rel_ci'][0]:+.1f}, {rel['rel_ci'][1]:+.1f}]"
    assert rows["same"][-1] == "+0.0% [+0.0, +0.0]" and rows["base"][-1] == "(baseline)"
    paired = table_rows(out.read_text(), "Comparison")
    assert set(paired) == {"better vs base", "same vs base"} and paired["better vs base"][1] == "1.000"
    assert out.with_suffix(".png").read_bytes()[:4] == b"\x89PNG"
    lo, hi = data["systems"]["base"]["macro_ci"]  # each system's own interval, for the chart's error bars
    assert lo < data["systems"]["base"]["macro_average"] < hi


def test_point_estimate_equals_the_plain_table(exp: Path) -> None:
    """The bootstrap's point estimates are what `lwasr score` and the plain relative change give."""
    out = exp / "table.md"
    compare(*dirs(exp, "base", "better"), "--baseline", "base", "--out", out)
    data = json.loads(out.with_suffix(".json").read_text())["systems"]
    plain = {name: score_dirs(dirs(exp, name)) for name in ("base", "better")}
    for name in plain:
        assert data[name]["macro_average"] == plain[name]["macro_average"]
        assert {lang: v["rate"] for lang, v in data[name]["languages"].items()} == {
            lang: v["rate"] for lang, v in plain[name]["languages"].items()
        }
    diff = data["better"]["vs_baseline"]["macro"]
    assert diff["abs"] == pytest.approx(plain["better"]["macro_average"] - plain["base"]["macro_average"], abs=0.01)
    plain_rel = relative_change(plain["better"]["macro_average"], plain["base"]["macro_average"])
    assert f"{diff['rel']:+.1f}%" == plain_rel
    assert table_rows(out.read_text(), "System")["better"][-1].startswith(plain_rel + " [")


def test_seeds_are_pooled(exp: Path) -> None:
    """Dirs named alike with the same utterances are seeds: mean, spread, and an interval over both."""
    write_decode(exp / "s1" / "decode_test", records(lambda i: i % 3))
    write_decode(exp / "s2" / "decode_test", records(lambda i: i % 2))
    out = exp / "table.md"
    names = ["--name", "base", "--name", "x", "--name", "x"]
    compare(*dirs(exp, "base", "s1", "s2"), *names, "--baseline", "base", "--out", out)
    data = json.loads(out.with_suffix(".json").read_text())["systems"]["x"]
    one = [score_dirs(dirs(exp, s))["macro_average"] for s in ("s1", "s2")]
    assert data["seeds"] == 2 and data["utterances"] == 60
    assert data["macro_average"] == pytest.approx(sum(one) / 2, abs=0.01)
    assert data["seed_spread"]["min"] == pytest.approx(min(one), abs=0.01)
    assert data["seed_spread"]["max"] == pytest.approx(max(one), abs=0.01)
    assert data["languages"]["pl"]["seed_rates"] == [
        score_dirs(dirs(exp, s))["languages"]["pl"]["rate"] for s in ("s1", "s2")
    ]
    assert data["decode_dirs"] == [[str(d)] for d in dirs(exp, "s1", "s2")]
    row = table_rows(out.read_text(), "System")["x"]
    assert row[0] == f"2 ({min(one):.2f}-{max(one):.2f})"
    # the interval covers the seeds: wider than either seed's own
    alone = exp / "alone.md"
    compare(*dirs(exp, "base", "s1"), "--name", "base", "--name", "x", "--baseline", "base", "--out", alone)
    single = json.loads(alone.with_suffix(".json").read_text())["systems"]["x"]
    width = lambda ci: ci[1] - ci[0]  # noqa: E731
    assert width(data["macro_ci"]) > width(single["macro_ci"])


def test_parts_of_seeds(exp: Path, tmp_path: Path) -> None:
    """Two parts (one decode per language) times two seeds: seed k is the k-th dir of each part."""
    parts = {}
    for seed, errs in (("1", lambda i: i % 3), ("2", lambda i: i % 2)):
        recs = records(errs)
        for lang in ("pl", "zh"):
            parts[seed, lang] = write_decode(
                exp / f"seed{seed}" / f"decode_{lang}", [r for r in recs if r["lang"] == lang]
            )
    out = exp / "table.md"
    given = [parts["1", "pl"], parts["1", "zh"], parts["2", "pl"], parts["2", "zh"]]
    compare(*given, *["--name", "x"] * 4, "--out", out)
    data = json.loads(out.with_suffix(".json").read_text())["systems"]["x"]
    assert data["seeds"] == 2 and data["utterances"] == 60
    assert data["decode_dirs"] == [
        [str(parts["1", "pl"]), str(parts["1", "zh"])],
        [str(parts["2", "pl"]), str(parts["2", "zh"])],
    ]
    msg = compare_error(*given[:3], *["--name", "x"] * 3, "--out", out)
    assert "different numbers of seeds" in msg and "give each part once per seed" in msg


def test_dirs_that_overlap_partly_are_an_error(exp: Path) -> None:
    recs = records(base_errors)
    half = write_decode(exp / "half" / "decode_test", recs[: len(recs) // 2])
    msg = compare_error(exp / "base" / "decode_test", half, "--name", "x", "--name", "x", "--out", exp / "t.md")
    assert "share 30 utterances but not all" in msg and str(half) in msg


def test_different_utterances_cannot_be_paired(exp: Path) -> None:
    fewer = write_decode(exp / "fewer" / "decode_test", records(base_errors, n=20))
    args = [exp / "base" / "decode_test", fewer, "--baseline", "base", "--out", exp / "t.md"]
    msg = compare_error(*args)
    assert "cannot pair fewer with baseline base" in msg and "20 only in base (e.g. pl_20)" in msg
    compare(*args[:2], "--out", exp / "t.md")  # without a baseline nothing is paired: a plain table
    assert "fewer" in (exp / "t.md").read_text()


def test_outliers_and_robust_summary(exp: Path) -> None:
    recs = records(base_errors)
    recs[0]["hyp"] = recs[0]["ref"] + " i dom i dom i dom i dom"  # pl_00: ends in a loop, 8 insertions on 6 words
    recs[2]["hyp"] = "dom stoi"  # pl_01 only lost words: no outlier
    write_decode(exp / "loops" / "decode_test", recs)
    out = exp / "table.md"
    compare(*dirs(exp, "base", "loops"), "--baseline", "base", "--out", out)
    data = json.loads(out.with_suffix(".json").read_text())["systems"]["loops"]
    assert (data["languages"]["pl"]["over_100"], data["languages"]["pl"]["loops"]) == (1, 1)
    assert data["worst_language"] == "pl" and data["macro_without_worst"] == data["languages"]["zh"]["rate"]
    outliers = table_rows(out.read_text(), "Lang")
    assert outliers["pl"] == ["0 / 0", "1 / 1"] and outliers["all"] == ["0 / 0", "1 / 1"]
    assert table_rows(out.read_text(), "System")["loops"][3] == f"{data['languages']['zh']['rate']:.2f} (pl)"


def test_header_names_what_produced_it(exp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = exp / "table.md"
    argv = ["/venv/bin/lwasr", "score", "compare", *map(str, dirs(exp, "base", "better")), "--out", str(out)]
    monkeypatch.setattr(sys, "argv", argv)
    monkeypatch.setenv("LWASR_RECIPE_CMD", "./run.sh --stage 9")
    (exp / "base" / "decode_test" / "summary.json").write_text(json.dumps({"device": "cuda"}))
    compare(*argv[3:])
    md = out.read_text()
    head = md[md.index("<!-- lwasr score: comparison -->") : md.index("| System |")]
    assert "- lwasr 0.1.0, git " in head and "torch " in head and "transformers " in head and "peft " in head
    assert "device: cuda, unknown; date: " in head and "normalizer: whisper-basic" in head
    assert f"- command: `lwasr score compare {dirs(exp, 'base')[0]}" in head
    assert "- recipe: `./run.sh --stage 9`" in head
    prov = json.loads(out.with_suffix(".json").read_text())["provenance"]
    assert prov["recipe"] == "./run.sh --stage 9" and prov["command"].startswith("lwasr score compare ")


def test_bad_options(exp: Path) -> None:
    two = dirs(exp, "base", "better")
    assert "--resamples 0" in compare_error(*two, "--resamples", "0", "--out", exp / "t.md")
    assert "name the Markdown file" in compare_error(*two, "--out", exp / "t.json")
    assert "unknown normalizer 'nfc'" in compare_error(*two, "--normalizer", "nfc", "--out", exp / "t.md")
    assert not (exp / "t.md").exists()
