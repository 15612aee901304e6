"""`lwasr score`: error counts against hand-computed values, tables, RESULTS.md and the comparison chart."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import table_rows, write_decode
from typer.testing import CliRunner

from lwasr.cli import app
from lwasr.errors import LwasrError
from lwasr.scoring.metrics import count_errors, normalize, score_dirs, score_records, units
from lwasr.scoring.tables import comparison_table, relative_change, system_names

PL_REF, PL_HYP = "Rano zawsze piję kawę z mlekiem.", "rano zawsze pije kawę mlekiem"  # 1 sub, 1 del / 6
ZH_REF, ZH_HYP = "我每天早上七点起床。", "我每天 早上八点起床了"  # 1 sub, 1 ins / 9 characters


def test_normalizer_effects() -> None:
    assert normalize("Hello, World! (laughs) [noise]") == "hello world"
    assert units("Zażółć, gęślą!", "pl") == ["zażółć", "gęślą"]  # diacritics kept, punctuation gone
    assert units(ZH_REF, "zh") == list("我每天早上七点起床")  # CER: spaces and punctuation removed
    assert count_errors("Zażółć, gęślą!", "zażółć gęślą", "pl").errors == 0


@pytest.mark.parametrize(
    ("ref", "hyp", "lang", "expected"),
    [
        (PL_REF, PL_HYP, "pl", (1, 1, 0, 6)),
        (ZH_REF, ZH_HYP, "zh", (1, 0, 1, 9)),
        ("the cat sat", "", "en", (0, 3, 0, 3)),
        ("", "oh no", "en", (0, 0, 2, 0)),
        ("ただいま", "ただいま", "ja", (0, 0, 0, 4)),
    ],
)
def test_counts(ref: str, hyp: str, lang: str, expected: tuple[int, int, int, int]) -> None:
    c = count_errors(ref, hyp, lang)
    assert (c.sub, c.dele, c.ins, c.ref) == expected


def records() -> list[dict]:
    return [
        {"id": "pl_0", "lang": "pl", "ref": PL_REF, "hyp": PL_HYP, "detected_lang": "pl", "lid_prob": 0.9},
        {"id": "zh_0", "lang": "zh", "ref": ZH_REF, "hyp": ZH_HYP, "detected_lang": "ja", "lid_prob": 0.6},
        {"id": "zh_1", "lang": "zh", "ref": "你好", "hyp": "你好", "detected_lang": "zh", "lid_prob": 0.7},
    ]


def test_score_records() -> None:
    r = score_records(records())
    assert r["languages"]["pl"]["rate"] == pytest.approx(33.33)
    assert r["languages"]["pl"]["metric"] == "WER"
    zh = r["languages"]["zh"]
    assert (zh["metric"], zh["sub"], zh["ins"], zh["ref_units"]) == ("CER", 1, 1, 11)
    assert zh["rate"] == pytest.approx(18.18)  # 2 errors / 11 characters, pooled over utterances
    assert r["macro_average"] == pytest.approx((200 / 6 + 200 / 11) / 2, abs=0.01)
    assert r["lid_accuracy"] == pytest.approx(66.67)
    assert score_records([{**x, "detected_lang": None} for x in records()])["lid_accuracy"] is None


def test_tables_and_names() -> None:
    assert relative_change(9.0, 10.0) == "-10.0%"
    assert system_names(["exp/a/decode_test", "exp/b/decode_test"]) == ["a", "b"]
    assert system_names(["exp/a/decode_dev", "exp/a/decode_test"]) == ["a/dev", "a/test"]
    base = score_records(records())
    better = {**base, "macro_average": base["macro_average"] * 0.8, "lid_accuracy": None}
    table = comparison_table({"base": base, "new": better}, baseline="base")
    assert "| System | pl (WER) | zh (CER) | Avg | Avg w/o worst | Rel. vs base | LID acc |" in table
    assert "| 25.76 | 18.18 (pl) |" in table  # the robust summary leaves pl (33.33) out
    assert "(baseline)" in table and "-20.0%" in table


def test_cli_score_and_compare(tmp_path: Path) -> None:
    a = write_decode(tmp_path / "exp" / "zeroshot" / "decode_test", records())
    b = write_decode(tmp_path / "exp" / "experts" / "decode_test", [{**r, "hyp": r["ref"]} for r in records()])
    runner = CliRunner()
    for _ in range(2):  # scoring again replaces the RESULTS.md section instead of appending another
        res = runner.invoke(app, ["score", str(b), "--baseline", str(a)])
        assert res.exit_code == 0, res.output
    results = json.loads((b / "results.json").read_text())
    assert results["macro_average"] == 0.0
    md = (tmp_path / "exp" / "experts" / "RESULTS.md").read_text()
    assert md.count("<!-- lwasr score: decode_test -->") == 1
    assert "| experts |" in md and "-100.0%" in md and "| Sub |" in md
    out = tmp_path / "cmp" / "table.md"
    res = runner.invoke(app, ["score", "compare", str(a), str(b), "--baseline", "zeroshot", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "| zeroshot |" in out.read_text() and "| experts |" in out.read_text()
    # into an experiment's RESULTS.md: the comparison goes first, the per-decode sections stay; a rerun replaces it
    md_path = tmp_path / "exp" / "experts" / "RESULTS.md"
    for _ in range(2):
        res = runner.invoke(app, ["score", "compare", str(a), str(b), "--title", "T", "--out", str(md_path)])
        assert res.exit_code == 0, res.output
    md = md_path.read_text()
    assert md.count("## T") == 1 and md.index("## T") < md.index("<!-- lwasr score: decode_test -->")
    assert "| Sub |" in md
    assert out.with_suffix(".png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    res = runner.invoke(app, ["score", "compare", str(a), "--name", "x", "--name", "y", "--out", str(out)])
    assert res.exit_code != 0


def test_compare_pools_dirs_given_one_name(tmp_path: Path) -> None:
    """One decode per language, named alike, is one system; the pooled scores equal scoring all records at once."""
    recs = records()
    pl = write_decode(tmp_path / "x" / "decode_pl", [r for r in recs if r["lang"] == "pl"])
    zh = write_decode(tmp_path / "x" / "decode_zh", [r for r in recs if r["lang"] == "zh"])
    both = write_decode(tmp_path / "y" / "decode_all", recs)
    out = tmp_path / "table.md"
    names = ["--name", "split", "--name", "split", "--name", "whole"]
    res = CliRunner().invoke(app, ["score", "compare", str(pl), str(zh), str(both), *names, "--out", str(out)])
    assert res.exit_code == 0, res.output
    rows = table_rows(out.read_text(), "System")
    assert rows["split"] == rows["whole"] and set(rows) == {"split", "whole"}
    assert score_dirs([pl, zh])["macro_average"] == score_records(recs)["macro_average"]
    with pytest.raises(LwasrError, match="in both"):
        score_dirs([pl, both])


def test_score_writes_each_utterances_alignment_beside_the_results(tmp_path: Path) -> None:
    """Issue 28.4: an errors file as ESPnet's result.txt and icefall's errs-* (each utterance's alignment)."""
    recs = [
        {"id": "pl_sub", "lang": "pl", "ref": "ala ma kota", "hyp": "ala ma psa"},
        {"id": "pl_del", "lang": "pl", "ref": "ala ma kota", "hyp": "ala ma"},
        {"id": "pl_ins", "lang": "pl", "ref": "ala ma kota", "hyp": "ala ma kota psa"},
        {"id": "zh_0", "lang": "zh", "ref": ZH_REF, "hyp": ZH_HYP},
    ]
    decode = write_decode(tmp_path / "exp" / "decode_test", recs)
    assert CliRunner().invoke(app, ["score", str(decode)]).exit_code == 0
    lines = (decode / "errors.txt").read_text(encoding="utf-8").splitlines()
    rows = {line.split("\t")[0]: line.split("\t")[1:] for line in lines if line and line[0] not in "#0123456789"}
    assert rows["pl_sub"] == ["pl", "S=1 D=0 I=0 N=3", "ala ma (kota->psa)"]
    assert rows["pl_del"] == ["pl", "S=0 D=1 I=0 N=3", "ala ma (kota->*)"]
    assert rows["pl_ins"] == ["pl", "S=0 D=0 I=1 N=3", "ala ma kota (*->psa)"]
    c = count_errors(ZH_REF, ZH_HYP, "zh")
    assert rows["zh_0"][1] == f"S={c.sub} D={c.dele} I={c.ins} N={c.ref}" and "(七->八)" in rows["zh_0"][2]
    most = lines[lines.index("# substitutions (count, most frequent first)") + 1 :]
    assert most[:2] == ["1\tkota -> psa", "1\t七 -> 八"]
    assert "1\tpsa" in lines[lines.index("# insertions (count, most frequent first)") :]
