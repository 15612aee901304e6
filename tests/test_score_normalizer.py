"""`--normalizer`: Whisper's BasicTextNormalizer splits abugida words into letters; basic-keep-marks does not."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import write_decode
from typer.testing import CliRunner

from lwasr.cli import app
from lwasr.errors import LwasrError
from lwasr.scoring.metrics import RESULTS_FILE, count_errors, units
from lwasr.scoring.normalizers import get_normalizer

HI = "प्राचीन संस्कृतियों"  # "ancient cultures"


def test_whisper_basic_splits_devanagari_words_into_letters() -> None:
    assert units(HI, "hi") == ["प", "र", "च", "न", "स", "स", "क", "त", "य"]
    assert units(HI, "hi", "whisper-basic") == units(HI, "hi")  # the default


def test_keep_marks_keeps_the_words() -> None:
    assert units(HI, "hi", "basic-keep-marks") == ["प्राचीन", "संस्कृतियों"]
    assert units("प्राचीन, संस्कृतियों! (हँसी)", "hi", "basic-keep-marks") == ["प्राचीन", "संस्कृतियों"]
    assert units("Zażółć, GĘŚLĄ!", "pl", "basic-keep-marks") == units("Zażółć, GĘŚLĄ!", "pl")  # otherwise the same


def test_none_keeps_the_text_as_written() -> None:
    assert units("Hello,  World!", "en", "none") == ["Hello,", "World!"]
    assert count_errors("Hello world", "hello world", "en", "none").errors == 1


def test_unknown_normalizer() -> None:
    with pytest.raises(LwasrError, match="unknown normalizer 'nfc': use one of whisper-basic, basic-keep-marks, none"):
        get_normalizer("nfc")


def test_cli_records_the_normalizer(tmp_path: Path) -> None:
    """One word of two lost: 50% WER with the marks kept; 1 of 9 "letters" (11.1%) with Whisper's normalizer."""
    rec = {"id": "hi_0", "lang": "hi", "ref": HI, "hyp": "प्राचीन संस्कृति"}
    decode = write_decode(tmp_path / "exp" / "x" / "decode_test", [rec])
    runner = CliRunner()
    expected = {"whisper-basic": 11.11, "basic-keep-marks": 50.0}
    for name, rate in expected.items():
        res = runner.invoke(app, ["score", str(decode), "--normalizer", name])
        assert res.exit_code == 0, res.output
        results = json.loads((decode / RESULTS_FILE).read_text())
        assert results["normalizer"] == name and results["languages"]["hi"]["rate"] == rate
        md = (tmp_path / "exp" / "x" / "RESULTS.md").read_text()
        assert f"normalizer: {name}" in md and md.index("- lwasr ") < md.index("| System |")
    out = tmp_path / "table.md"
    res = runner.invoke(app, ["score", "compare", str(decode), "--normalizer", "basic-keep-marks", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert json.loads(out.with_suffix(".json").read_text())["normalizer"] == "basic-keep-marks"
    assert "normalizer: basic-keep-marks" in out.read_text()
    res = runner.invoke(app, ["score", str(decode), "--normalizer", "nfc"])
    assert isinstance(res.exception, LwasrError)
