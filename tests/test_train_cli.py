"""`lwasr train` from the command line: help, experts in two parallel jobs, clear errors."""

from __future__ import annotations

import pytest
from helpers import make_cuts
from typer.testing import CliRunner

from lwasr.cli import app
from lwasr.errors import LwasrError
from lwasr.units.meta import ModelMeta

SMALL = [
    "--max-duration",
    "2.5",
    "--max-steps",
    "2",
    "--lora-rank",
    "4",
    "--set",
    "warmup_steps=1",
    "--set",
    "num_buckets=2",
]


def test_help_teaches_both_forms():
    out = CliRunner().invoke(app, ["train", "--help"], env={"COLUMNS": "200"}).output
    assert "--mode" in out and "experts" in out and "train_<mode>" in out


def test_experts_in_two_jobs(tmp_path, tiny_whisper):
    cuts = make_cuts(tmp_path / "data", langs=("pl", "pt"), per_lang=3)
    args = [
        "train",
        "experts",
        "--langs",
        "pl,pt",
        "--cuts",
        str(cuts),
        "--model",
        str(tiny_whisper),
        "--exp-dir",
        str(tmp_path / "exp"),
        "--jobs",
        "2",
        *SMALL,
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    for lang in ("pl", "pt"):
        unit = tmp_path / "exp" / "experts" / lang
        assert ModelMeta.load(unit).languages == [lang] and (unit / "adapter_model.safetensors").is_file()
        assert (tmp_path / "exp" / f"train_expert_{lang}" / "config.yaml").is_file()


def test_a_named_shared_baseline_without_the_language_token(tmp_path, tiny_whisper):
    """The recipe's shared_nolang: <exp>/shared_nolang (lang_token false) and train_shared_nolang, not shared."""
    cuts = make_cuts(tmp_path / "data", langs=("pl", "pt"), per_lang=2)
    exp = tmp_path / "exp"
    args = ["train", "--mode", "shared", "--cuts", str(cuts), "--model", str(tiny_whisper), "--exp-dir", str(exp)]
    result = CliRunner().invoke(app, [*args, *SMALL, "--set", "name=shared_nolang", "--set", "lang_token=false"])
    assert result.exit_code == 0, result.output
    meta = ModelMeta.load(exp / "shared_nolang")
    assert meta.kind == "lora" and meta.lang_token is False and sorted(meta.languages) == ["pl", "pt"]
    assert (exp / "train_shared_nolang" / "config.yaml").is_file()
    assert "name: shared_nolang" in (exp / "train_shared_nolang" / "config.yaml").read_text()
    assert not (exp / "shared").exists() and not (exp / "train_shared").exists()


def test_expert_for_a_missing_language_names_the_present_ones(tmp_path, tiny_whisper):
    cuts = make_cuts(tmp_path / "data", langs=("pl",), per_lang=1)
    args = [
        "train",
        "--mode",
        "expert",
        "--lang",
        "it",
        "--cuts",
        str(cuts),
        "--model",
        str(tiny_whisper),
        "--exp-dir",
        str(tmp_path / "exp"),
        *SMALL,
    ]
    result = CliRunner().invoke(app, args)
    assert isinstance(result.exception, LwasrError)
    assert "language(s) it" in str(result.exception) and "have: pl" in str(result.exception)


@pytest.mark.parametrize(
    "argv", [["train", "--lang", "xx", "--cuts", "a.jsonl.gz"], ["train", "experts", "--langs", ""]]
)
def test_bad_arguments(argv):
    result = CliRunner().invoke(app, argv)
    assert isinstance(result.exception, LwasrError)
