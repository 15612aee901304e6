"""--print-config of decode, transcribe and export only plans: nothing on disk changes and no model is loaded,
even on a finished output with --overwrite."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import yaml
from lhotse import CutSet, MonoCut, Recording, SupervisionSegment
from typer.testing import CliRunner

from lwasr.cli import app

runner = CliRunner()


def tree_hash(root: Path) -> str:
    """Every path under ``root`` with its bytes and modification time."""
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        h.update(str(p.relative_to(root)).encode())
        if p.is_file():
            h.update(p.read_bytes())
            h.update(str(p.stat().st_mtime_ns).encode())
    return h.hexdigest()


@pytest.fixture(scope="module")
def work(tiny_whisper: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A manifest of two clips, and a finished decode, transcription and export of them with the tiny model."""
    root = tmp_path_factory.mktemp("print_config")
    rng = np.random.default_rng(0)
    cuts = []
    for uid in ("pl_0", "pl_1"):
        wav = root / f"{uid}.wav"
        sf.write(wav, (0.1 * rng.standard_normal(8000)).astype(np.float32), 16000)
        rec = Recording.from_file(wav, recording_id=uid)
        sup = SupervisionSegment(uid, uid, 0.0, rec.duration, text="ref", language="pl")
        cuts.append(MonoCut(uid, 0.0, rec.duration, 0, recording=rec, supervisions=[sup]))
    CutSet.from_cuts(cuts).to_file(root / "cuts.jsonl.gz")
    paths = {"cuts": root / "cuts.jsonl.gz", "wav": root / "pl_0.wav", "model": tiny_whisper}
    for name, args in finished_runs(paths, root).items():
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
        paths[name] = root / name
    return paths


def finished_runs(paths: dict[str, Path], root: Path) -> dict[str, list[str]]:
    """The command of each finished output under ``root``."""
    model, cuts = str(paths["model"]), str(paths["cuts"])
    return {
        "decode": ["decode", "--system", model, "--cuts", cuts, "--out", str(root / "decode")],
        "transcribe": ["transcribe", str(paths["wav"]), "--system", model, "--out", str(root / "transcribe")],
        "export": ["export", model, "--out", str(root / "export"), "--parity-cuts", "0"],
    }


@pytest.mark.parametrize("name", ["decode", "transcribe", "export"])
def test_print_config_changes_nothing_and_loads_no_model(work: dict[str, Path], name: str, no_model: None) -> None:
    root = work["cuts"].parent
    before = tree_hash(root)
    args = finished_runs(work, root)[name]
    result = runner.invoke(app, [*args, "--overwrite", "--print-config"])
    assert result.exit_code == 0, result.output
    config = yaml.safe_load(result.output)
    assert Path(config["out"]) == work[name] and config["overwrite"] is True
    assert tree_hash(root) == before
    new = root / f"{name}_new"
    result = runner.invoke(
        app,
        [*args[:-2], "--out", str(new), "--print-config"]
        if name != "export"
        else [*args[:2], "--out", str(new), "--print-config"],
    )
    assert result.exit_code == 0, result.output
    assert not new.exists() and tree_hash(root) == before


def test_print_config_resolves_and_checks_before_anything_runs(work: dict[str, Path], no_model: None) -> None:
    """The plan holds the resolved options and the named outputs; a bad option is an error from the plan."""
    root = work["cuts"].parent
    args = ["decode", "--system", str(work["model"]), "--cuts", str(work["cuts"]), "--out", str(root / "a")]
    result = runner.invoke(app, [*args, "--scenario", "both", "--agnostic-out", str(root / "b"), "--print-config"])
    assert result.exit_code == 0, result.output
    config = yaml.safe_load(result.output)
    assert config["outputs"] == {"aware": str(root / "a"), "agnostic": str(root / "b")}
    assert config["options"]["scenario"] == "both" and config["device"] in ("cpu", "cuda")
    result = runner.invoke(app, [*args, "--scenario", "both", "--print-config"])
    assert result.exit_code != 0 and "--agnostic-out" in str(result.exception)
    result = runner.invoke(
        app, ["export", str(work["model"]), "--out", str(root / "e"), "--format", "ct2", "--print-config"]
    )
    assert result.exit_code == 0 and yaml.safe_load(result.output)["quantization"] == "float16"
    assert not (root / "e").exists()
