"""Checkpoints that resume a run exactly, written atomically.

Layout under ``<run_dir>/checkpoints/``::

    step-00000500/model.pt     trainable parameters (the LoRA adapter, or every weight for mode=full)
    step-00000500/trainer.pt   optimizer, scheduler, step, epoch, batches consumed in the epoch,
                               sampler state, best dev loss, RNG states (python, numpy, torch, cuda) per rank
    step-00000500/config.yaml  the resolved settings the run was made with (a resume must match them)
    best/model.pt              trainable parameters at the best validation so far (dev loss, or valid_metric)
    best/info.json             its step and dev scores
    valid/step-00000500/       with ``average`` > 1: the weights and dev scores of each validation that may
                               still be averaged (:mod:`lwasr.training.validation`)

Only the last ``keep_last`` step directories are kept; ``best/`` is separate and never pruned.
Everything is stored as tensors and plain Python values and loaded with ``torch.load(weights_only=True)``,
so a checkpoint cannot run code when it is loaded.
"""

from __future__ import annotations

import random
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml
from torch import nn

from lwasr.atomic import atomic_path, write_json
from lwasr.errors import LwasrError

STEP_DIR = re.compile(r"^step-(\d{8})$")
MODEL_FILE = "model.pt"
TRAINER_FILE = "trainer.pt"
PRODUCER = "lwasr train (checkpoint)"  # marks checkpoint dirs (lwasr.atomic.check_output)
CONFIG_FILE = "config.yaml"
START_OVER = "pass --overwrite to discard the checkpoints and start over"
VALID_DIR = "valid"


def load_file(path: Path) -> Any:
    """``torch.load`` of tensors and plain values only: anything else (code a pickle would run) is refused."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except OSError:  # unreadable path: the CLI reports it as such
        raise
    except Exception as e:  # refused or damaged: UnpicklingError, RuntimeError, KeyError, EOFError... by torch version
        found = re.search(r"GLOBAL ([\w.]+)", str(e))
        what = f" (it would call {found.group(1)})" if found else ""
        raise LwasrError(
            f"refused to load {path}{what}: a checkpoint may hold only tensors and plain values, and this one was"
            f" not written by this lwasr, or was altered or damaged; {START_OVER}"
        ) from None


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
            f" configuration changed? {START_OVER}"
        )
    params = dict(model.named_parameters())
    with torch.no_grad():
        for name, value in state.items():
            params[name].copy_(value)


def rng_state() -> dict[str, Any]:
    """This process's random states (python, numpy, torch CPU, the current CUDA device) as tensors and numbers."""
    version, words, gauss = random.getstate()
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state = {
        "python": {"version": version, "state": torch.tensor(words, dtype=torch.int64), "gauss": gauss},
        "numpy": {
            "kind": kind,
            "keys": torch.from_numpy(keys.astype(np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached),
        },
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore :func:`rng_state` output."""
    py, npy = state["python"], state["numpy"]
    random.setstate((py["version"], tuple(py["state"].tolist()), py["gauss"]))
    keys = npy["keys"].numpy().astype(np.uint32)
    np.random.set_state((npy["kind"], keys, npy["pos"], npy["has_gauss"], npy["cached_gaussian"]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state(state["cuda"])


def step_dirs(root: Path, complete: str = TRAINER_FILE) -> list[Path]:
    """Complete step checkpoints under ``root`` (those holding ``complete``), oldest first."""
    if not root.is_dir():
        return []
    found = [p for p in root.iterdir() if STEP_DIR.match(p.name) and (p / complete).is_file()]
    return sorted(found, key=lambda p: p.name)


def latest(root: Path) -> Path | None:
    """The newest complete step checkpoint, or None."""
    dirs = step_dirs(root)
    return dirs[-1] if dirs else None


def save(root: Path, step: int, model: nn.Module, trainer: dict[str, Any], keep_last: int, settings: str) -> Path:
    """Write ``step-<step>/`` atomically, then delete all but the newest ``keep_last`` step checkpoints.

    ``settings``: the run's resolved config as YAML (:meth:`TrainConfig.to_yaml`).
    """
    target = root / f"step-{step:08d}"
    with atomic_path(target, is_dir=True, producer=PRODUCER) as tmp:
        torch.save(trainable_state(model), tmp / MODEL_FILE)
        torch.save(trainer, tmp / TRAINER_FILE)
        (tmp / CONFIG_FILE).write_text(settings, encoding="utf-8")
    for old in step_dirs(root)[:-keep_last]:
        shutil.rmtree(old)
    return target


def load(path: Path, model: nn.Module) -> dict[str, Any]:
    """Load a step checkpoint's weights into ``model``; return its trainer state."""
    load_trainable(model, load_file(path / MODEL_FILE))
    return load_file(path / TRAINER_FILE)


def load_settings(path: Path) -> dict[str, Any]:
    """The resolved settings a step checkpoint was made with."""
    file = path / CONFIG_FILE
    if not file.is_file():
        raise LwasrError(f"{path} records no settings ({CONFIG_FILE}; written by an older lwasr): {START_OVER}")
    return yaml.safe_load(file.read_text(encoding="utf-8"))


def save_best(root: Path, model: nn.Module, record: dict[str, Any]) -> None:
    """Replace ``best/`` with the current trainable weights; ``record``: the validation's step and dev scores."""
    _save_weights(root / "best", model, record)


def _save_weights(path: Path, model: nn.Module, record: dict[str, Any]) -> None:
    with atomic_path(path, is_dir=True, producer=PRODUCER) as tmp:
        torch.save(trainable_state(model), tmp / MODEL_FILE)
        write_json(tmp / "info.json", record)


def validated_dirs(root: Path) -> dict[int, Path]:
    """step -> the complete ``valid/step-<step>/`` directories under ``root``."""
    found = step_dirs(root / VALID_DIR, complete=MODEL_FILE)
    return {int(STEP_DIR.match(p.name).group(1)): p for p in found}


def save_validated(root: Path, model: nn.Module, record: dict[str, Any]) -> None:
    """Keep the current trainable weights as those of the validation ``record`` (its step and dev scores)."""
    _save_weights(root / VALID_DIR / f"step-{record['step']:08d}", model, record)


def prune_validated(root: Path, keep: set[int]) -> None:
    """Delete the ``valid/`` weights of every step not in ``keep``."""
    for step, path in validated_dirs(root).items():
        if step not in keep:
            shutil.rmtree(path)


def average_validated(root: Path, steps: list[int]) -> dict[str, torch.Tensor]:
    """The element-wise mean of the ``valid/`` weights of ``steps``, summed in float64 (so the mean of identical
    weights is those weights exactly) and cast back to each tensor's type."""
    have = validated_dirs(root)
    missing = [s for s in steps if s not in have]
    if missing:
        where = root / VALID_DIR
        raise LwasrError(f"the weights of validation step(s) {missing} are missing under {where}: {START_OVER}")
    total: dict[str, torch.Tensor] = {}
    for step in steps:
        for name, value in load_file(have[step] / MODEL_FILE).items():
            total[name] = total.get(name, torch.zeros(value.shape, dtype=torch.float64)) + value.double()
    first = load_file(have[steps[0]] / MODEL_FILE)
    return {name: (value / len(steps)).to(first[name].dtype) for name, value in total.items()}


def load_best(root: Path, model: nn.Module) -> bool:
    """Load ``best/`` weights into ``model`` if they exist; return whether they did."""
    path = root / "best" / MODEL_FILE
    if path.is_file():
        load_trainable(model, load_file(path))
    return path.is_file()
