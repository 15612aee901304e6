"""A fusion method is one registration: a toy method registered here is a choice of `lwasr fuse --method`, listed
by `lwasr fuse --list-methods`, and accepted by the recipes' --fusion-methods validation (issue 25)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lwasr.cli import app
from lwasr.fusion.methods import unregister_method
from lwasr.units.meta import ModelMeta

ROOT = Path(__file__).resolve().parents[1]
#: The registration, as a plugin module would write it.
TOY = """
from lwasr.fusion.methods import FusionMethod, register_method
from lwasr.fusion.static import add_factors, sum_factors

def first_only(model, factors, template, weights, **_):
    first = next(iter(factors.values()))
    add_factors(model, sum_factors([first], [weights[0]]), template, True)

register_method(FusionMethod("toy", "the first expert alone, scaled by its weight.", first_only))
"""


@pytest.fixture
def toy():
    exec(TOY, {})  # the plugin's registration, nothing else
    yield
    unregister_method("toy")


def test_a_registered_method_is_a_choice_of_lwasr_fuse(toy, pl_pt_experts, tmp_path):
    out = tmp_path / "fused_toy"
    args = ["fuse", "--experts", str(pl_pt_experts), "--langs", "pl,pt", "--method", "toy", "--out", str(out)]
    result = CliRunner().invoke(app, [*args, "--weights", "0.5,0.5"])
    assert result.exit_code == 0, (result.output, result.exception)
    meta = ModelMeta.load(out)
    assert meta.extra["fusion"] == "toy" and meta.extra["weights"] == {"pl": 0.5, "pt": 0.5}
    assert meta.extra["rank"] == 4  # the first expert alone (pl_pt_experts: rank 4), not the sum of both (rank 8)
    listed = CliRunner().invoke(app, ["fuse", "--list-methods"]).output.splitlines()
    assert "toy\t--method toy" in listed


def test_an_unregistered_method_is_refused(pl_pt_experts, tmp_path):
    args = [
        "fuse",
        "--experts",
        str(pl_pt_experts),
        "--langs",
        "pl,pt",
        "--method",
        "toy",
        "--out",
        str(tmp_path / "x"),
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2 and "'toy' is not one of" in result.output
    assert not (tmp_path / "x").exists()


def fake_venv(tmp_path: Path, plugin: str | None) -> Path:
    """An environment for the recipe (LWASR_VENV) whose `lwasr` is this lwasr, with ``plugin`` imported first."""
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / ".lwasr-stamp").touch()
    real = Path(sys.executable).parent
    (venv / "bin" / "activate").write_text(f'. "{real}/activate"\nPATH="{venv}/bin:$PATH"\n')
    (tmp_path / "toy_plugin.py").write_text(plugin or "")
    lwasr = venv / "bin" / "lwasr"
    lwasr.write_text(
        f"#!{sys.executable}\nimport sys\nsys.path[:0] = [{str(ROOT)!r}, {str(tmp_path)!r}]\n"
        "import toy_plugin  # noqa\nfrom lwasr.cli import main\nmain()\n"
    )
    lwasr.chmod(0o755)
    return venv


@pytest.mark.parametrize("registered", [True, False])
def test_the_recipe_validates_fusion_methods_against_the_registry(tmp_path, registered):
    venv = fake_venv(tmp_path, TOY if registered else None)
    dirs = ["--data", str(tmp_path / "data"), "--expdir", str(tmp_path / "exp"), "--tag", "t"]
    result = subprocess.run(
        ["bash", str(ROOT / "egs" / "espeak8" / "run.sh"), "--fusion-methods", "toy learned_layer bogus", *dirs],
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
        env={**os.environ, "LWASR_VENV": str(venv)},
    )
    assert result.returncode == 2, result.stdout + result.stderr
    refused = "bogus" if registered else "toy"  # the first name the registry does not know
    assert f"--fusion-methods: {refused} is not learned_<gate>_<fn>" in result.stderr
    assert not (tmp_path / "exp").exists()
