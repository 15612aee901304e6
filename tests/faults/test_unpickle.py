"""Checkpoints never run code: a pickle payload in trainer.pt or model.pt is refused; states are plain values."""

from __future__ import annotations

import ast
import os
import pickle
import random
import shlex
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import copy_of, one_line_error, run_main

import lwasr
from lwasr.training import checkpoint
from lwasr.units.meta import ModelMeta


class Payload:
    """Unpickling this runs a shell command that creates ``marker`` (what a tampered checkpoint would do)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return os.system, (f"touch {shlex.quote(str(self.marker))}",)


@pytest.mark.parametrize("name", ["trainer.pt", "model.pt"])
def test_payload_in_a_checkpoint_is_refused_and_never_runs(killed, tmp_path, monkeypatch, capsys, name):
    live = tmp_path / "live"
    pickle.loads(pickle.dumps(Payload(live)))
    assert live.exists()  # the payload does run when unpickled

    cfg = copy_of(killed, tmp_path)
    last = checkpoint.latest(cfg.run_dir / "checkpoints")
    marker = tmp_path / "pwned"
    torch.save({"state": Payload(marker)}, last / name)
    conf = tmp_path / "run.yaml"
    cfg.save(conf)
    status, err = run_main(monkeypatch, capsys, "train", "--config", str(conf))
    line = one_line_error(err)
    assert status == 2 and not marker.exists()
    assert f"refused to load {last / name}" in line and "system" in line and "--overwrite" in line
    # the way out: --overwrite discards the checkpoints without loading them
    status, _ = run_main(monkeypatch, capsys, "train", "--config", str(conf), "--max-steps", "1", "--overwrite")
    assert status == 0 and not marker.exists() and ModelMeta.load(cfg.unit_dir).extra["steps"] == 1


def test_trainer_state_is_tensors_and_plain_values_and_restores_exactly(killed):
    last = checkpoint.latest(killed.run_dir / "checkpoints")
    state = torch.load(last / "trainer.pt", weights_only=True)
    assert state["step"] == 2 and isinstance(state["rng"][0]["numpy"]["keys"], torch.Tensor)

    def draws() -> tuple:
        return random.random(), random.gauss(0, 1), np.random.rand(), np.random.randn(), torch.rand(1).item()

    random.gauss(0, 1), np.random.randn()  # leave cached Gaussians in both states
    saved = checkpoint.rng_state()
    first = draws()
    checkpoint.set_rng_state(saved)
    assert draws() == first


def test_every_torch_load_in_lwasr_is_weights_only():
    unsafe = []
    for path in Path(lwasr.__file__).parent.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            func = getattr(node, "func", None)
            if isinstance(func, ast.Attribute) and func.attr == "load" and getattr(func.value, "id", "") == "torch":
                given = {k.arg: k.value for k in node.keywords}
                if not (isinstance(given.get("weights_only"), ast.Constant) and given["weights_only"].value is True):
                    unsafe.append(f"{path}:{node.lineno}")
    assert not unsafe
