"""`lwasr fuse` from the command line: options reach the library, errors stay clean."""

from __future__ import annotations

from helpers import fuse_args
from typer.testing import CliRunner

from lwasr.cli import app
from lwasr.errors import LwasrError
from lwasr.fusion.methods import method_names
from lwasr.units.meta import ModelMeta

runner = CliRunner()


def test_help_documents_every_method():
    result = runner.invoke(app, ["fuse", "--help"])
    assert result.exit_code == 0
    for method in method_names():
        assert method in result.output


def test_fuse_svd_with_weights(pl_pt_experts, tmp_path):
    out = tmp_path / "fused_svd"
    extra = ("--langs", "pl,pt", "--method", "svd", "--weights", "0.25,0.75", "--rank", "6")
    result = runner.invoke(app, fuse_args(pl_pt_experts, out, *extra))
    assert result.exit_code == 0, result.output
    meta = ModelMeta.load(out)
    assert meta.extra["weights"] == {"pl": 0.25, "pt": 0.75}
    assert meta.extra["rank"] == 6


def test_learned_without_training_data_says_what_it_needs(pl_pt_experts, tmp_path):
    result = runner.invoke(app, fuse_args(pl_pt_experts, tmp_path / "x", "--langs", "pl,pt", "--method", "learned"))
    assert isinstance(result.exception, LwasrError)
    assert "--cuts" in str(result.exception)
    assert not (tmp_path / "x").exists()


def test_static_methods_refuse_training_settings(pl_pt_experts, tmp_path):
    result = runner.invoke(
        app, fuse_args(pl_pt_experts, tmp_path / "x", "--langs", "pl,pt", "--method", "sum", "--lr", "0.1")
    )
    assert isinstance(result.exception, LwasrError)
    assert "learned" in str(result.exception)


def test_unknown_method_is_rejected_by_the_parser(pl_pt_experts, tmp_path):
    result = runner.invoke(app, fuse_args(pl_pt_experts, tmp_path / "x", "--langs", "pl", "--method", "avg"))
    assert result.exit_code == 2
