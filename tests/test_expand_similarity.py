"""`lwasr lid-similarity` and the expand command line: LID ranking, matrix heatmap, clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import make_cuts
from typer.testing import CliRunner

from lwasr.cli import app
from lwasr.errors import LwasrError
from lwasr.expansion.similarity import collect_lid, read_ranking, similarity_record


@pytest.fixture(scope="module")
def cuts(tmp_path_factory) -> Path:
    return make_cuts(tmp_path_factory.mktemp("sim"), langs=("pl", "pt", "it"), per_lang=2)


def test_ranking_excludes_the_own_code_and_is_a_distribution(cuts, tiny_whisper):
    stats = collect_lid(str(tiny_whisper), [cuts], ["it", "pl"], max_utts=2, trim=True)
    assert stats.probs["it"].shape == (2, len(stats.codes)) and "it" in stats.codes
    record = similarity_record(stats, "it", ["pl", "pt", "it"])
    assert record["excluded"] == "it" and record["candidates"] == ["pl", "pt"] and record["utterances"] == 2
    probs = [r["prob"] for r in record["ranking"]]
    assert {r["lang"] for r in record["ranking"]} == {"pl", "pt"} and probs == sorted(probs, reverse=True)
    assert sum(probs) == pytest.approx(1.0, abs=1e-5)
    assert len(record["whisper_top"]) == 10
    everything = similarity_record(stats, "it")  # no base set: every Whisper language but its own
    assert "it" not in everything["candidates"] and len(everything["candidates"]) == len(stats.codes) - 1
    with pytest.raises(LwasrError, match="no similar language can be found for 'it'.*empty"):
        similarity_record(stats, "it", ["it"])


def test_cli_writes_similarity_json_and_heatmap(cuts, tiny_whisper, tmp_path):
    args = ["lid-similarity", "--lang", "it", "--cuts", str(cuts), "--candidates", "pl,pt", "--model"]
    args += [str(tiny_whisper), "--out", str(tmp_path), "--heatmap", str(tmp_path / "lid.png"), "--max-utts", "2"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    ranking = read_ranking(tmp_path, "it")
    assert [lang for lang, _ in ranking] in (["pl", "pt"], ["pt", "pl"])
    assert (tmp_path / "lid.png").read_bytes()[:4] == b"\x89PNG"
    matrix = json.loads((tmp_path / "lid.json").read_text())
    assert matrix["rows"] == ["it", "pl", "pt"] and matrix["cols"] == ["it", "pl", "pt"]
    assert all(sum(row) == pytest.approx(1.0, abs=1e-5) for row in matrix["matrix"])
    with pytest.raises(LwasrError, match="not of 'pl'"):
        read_ranking(tmp_path, "pl")


def test_expand_cli_help_and_errors(cuts, tmp_path):
    out = CliRunner().invoke(app, ["expand", "--help"], env={"COLUMNS": "200"}).output
    assert all(word in out for word in ("warm", "moe", "continue-full", "--moe-gate", "--lang-token-from"))
    (tmp_path / "experts").mkdir()
    base = ["expand", "--experts", str(tmp_path / "experts"), "--new-lang", "it", "--cuts", str(cuts)]
    result = CliRunner().invoke(app, [*base, "--init", "moe"])
    assert isinstance(result.exception, LwasrError) and "--moe-k 2 is larger" in str(result.exception)
    result = CliRunner().invoke(app, [*base, "--init", "sideways"])
    assert isinstance(result.exception, LwasrError) and "unknown --init" in str(result.exception)
