"""Checkpoints that resume a run exactly, written atomically.

Layout under ``<run_dir>/checkpoints/``::

    step-00000500/model.pt     trainable parameters (the LoRA adapter, or every weight for mode=full)
    step-00000500/trainer.pt   optimizer, scheduler, step, epoch, batches consumed in the epoch,
                               sampler state, best dev loss, RNG states (python, numpy, torch, cuda) per rank
    best/model.pt              trainable parameters at the lowest dev loss so far
    best/info.json             its step and dev loss

Only the last ``keep_last`` step directories are kept; ``best/`` is separate and never pruned.
"""

from __future__ import annotations

import random
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from lwasr.atomic import atomic_path, write_json
from lwasr.errors import LwasrError

STEP_DIR = re.compile(r"^step-(\d{8})$")
MODEL_FILE = "model.pt"
TRAINER_FILE = "trainer.pt"


def trainable_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """The parameters that training changes, by name, as CPU copies."""
    return {n: p.detach().cpu().clone() for n, p in model.named_parameters() if p.requires_grad}


def load_trainable(model: nn.Module, state: dict[str, torch.Tensor]) -> None:
    """Load :func:`trainable_state` output back; the names must match the model's trainable parameters exactly."""
    expected = {n for n, p in model.named_parameters() if p.requires_grad}
    if set(state) != expected:
        diff = sorted(set(state) ^ expected)[:5]
        raise LwasrError(
            f"checkpoint does not match the model (differing parameters, e.g. {diff}); was the"
            " configuration changed? Start over with --no-resume"
        )
    params = dict(model.named_parameters())
    with torch.no_grad():
        for name, value in state.items():
            params[name].copy_(value)


def rng_state() -> dict[str, Any]:
    """This process's random states: python, numpy, torch CPU and (if present) the current CUDA device."""
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore :func:`rng_state` output."""
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state(state["cuda"])


def step_dirs(root: Path) -> list[Path]:
    """Complete step checkpoints under ``root``, oldest first."""
    if not root.is_dir():
        return []
    found = [p for p in root.iterdir() if STEP_DIR.match(p.name) and (p / TRAINER_FILE).is_file()]
    return sorted(found, key=lambda p: p.name)


def latest(root: Path) -> Path | None:
    """The newest complete step checkpoint, or None."""
    dirs = step_dirs(root)
    return dirs[-1] if dirs else None


def save(root: Path, step: int, model: nn.Module, trainer: dict[str, Any], keep_last: int) -> Path:
    """Write ``step-<step>/`` atomically, then delete all but the newest ``keep_last`` step checkpoints."""
    target = root / f"step-{step:08d}"
    with atomic_path(target, is_dir=True) as tmp:
        torch.save(trainable_state(model), tmp / MODEL_FILE)
        torch.save(trainer, tmp / TRAINER_FILE)
    for old in step_dirs(root)[:-keep_last]:
        shutil.rmtree(old)
    return target


def load(path: Path, model: nn.Module) -> dict[str, Any]:
    """Load a step checkpoint's weights into ``model``; return its trainer state."""
    load_trainable(model, torch.load(path / MODEL_FILE, map_location="cpu"))
    return torch.load(path / TRAINER_FILE, map_location="cpu", weights_only=False)


def save_best(root: Path, model: nn.Module, step: int, dev_loss: float) -> None:
    """Replace ``best/`` with the current trainable weights."""
    with atomic_path(root / "best", is_dir=True) as tmp:
        torch.save(trainable_state(model), tmp / MODEL_FILE)
        write_json(tmp / "info.json", {"step": step, "dev_loss": dev_loss})


def load_best(root: Path, model: nn.Module) -> bool:
    """Load ``best/`` weights into ``model`` if they exist; return whether they did."""
    path = root / "best" / MODEL_FILE
    if path.is_file():
        load_trainable(model, torch.load(path, map_location="cpu"))
    return path.is_file()
