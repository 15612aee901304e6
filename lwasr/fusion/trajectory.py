"""The learned-fusion gate over training: one JSON line per logged step, and a PNG of it, to see whether it moved.

A record is ``{"step", "mean", "min", "max", "max_change"}``: per language, the weight's mean, smallest and largest
value over the gate groups, and the largest distance of any weight from its start (0 at step 0).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from lwasr.atomic import write_text
from lwasr.scoring.plot import pyplot, save_chart

TRAJECTORY = "gate_trajectory.jsonl"
TRAJECTORY_PNG = "gate_trajectory.png"

Record = dict[str, Any]


def gate_record(step: int, weights: torch.Tensor, start: torch.Tensor, langs: list[str]) -> Record:
    """The record of gate ``weights`` ``[groups, experts]`` (experts in ``langs`` order) at ``step``."""
    w = weights.detach().double().cpu()
    per_lang = {key: dict(zip(langs, fn(w).tolist(), strict=True)) for key, fn in _STATS.items()}
    return {"step": step, **per_lang, "max_change": float((w - start.double().cpu()).abs().max())}


_STATS = {"mean": lambda w: w.mean(0), "min": lambda w: w.amin(0), "max": lambda w: w.amax(0)}


def read_trajectory(path: Path) -> list[Record]:
    """The records of a trajectory file (none when it does not exist)."""
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def write_trajectory(path: Path, records: list[Record]) -> None:
    """Write ``records`` as JSON lines, atomically."""
    write_text(path, "".join(json.dumps(r) + "\n" for r in records))


def plot_trajectory(records: list[Record], out: Path, title: str) -> Path:
    """A PNG of the gate over steps: per language its mean weight over the groups, with the min-max band."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7.0, 4.0))
    steps = [r["step"] for r in records]
    for lang in records[0]["mean"]:
        line = ax.plot(steps, [r["mean"][lang] for r in records], label=lang, marker="." if len(steps) < 30 else None)
        low, high = [r["min"][lang] for r in records], [r["max"][lang] for r in records]
        ax.fill_between(steps, low, high, color=line[0].get_color(), alpha=0.15, linewidth=0)
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("fusion weight")
    moved = max(r["max_change"] for r in records)
    ax.set_title(
        f"{title}: mean over the gate groups (band: min to max)\nlargest change of a weight {moved:.3g}",
        fontsize="medium",
    )
    return save_chart(fig, ax, out)
