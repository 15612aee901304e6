"""Learning curves of recipe runs trained by epoch: the dev loss, and the dev WER where the run validated by WER, at
every validation. (issues 14 and 27)

Reads the train.log of every training run under an experiment dir (exp/<tag>/lr<lr>/train_<unit>/, and
exp/<tag>/train_<unit>/), or the gzipped logs a study kept under results/ (train_<unit>.log.gz), and prints one
Markdown row per run: the dev loss and dev WER (CER for zh and ja) after each epoch, the best validation (by WER
where logged, else by loss), the last training loss logged, and which learning rate `lwasr train pick` chose (from
<unit>.selection.json). A resumed run validates its resume step again: a step logged twice counts once (the later).
The step budget is epochs x the first epoch's batch count, and the bucketing sampler's batch count varies by an
epoch or two, so a run can end with a short extra epoch and one more validation:

    python local/curves.py exp/espeak8_paper
    python local/curves.py results/base/adapted results/base/adapted_n800   # the base study's kept logs
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
from pathlib import Path

DEV = re.compile(r"step (\d+) dev loss ([0-9.]+)(?: dev wer ([0-9.]+))?")
TRAIN = re.compile(r"step \d+ epoch \d+ loss ([0-9.]+)")


def read_log(path: Path) -> tuple[list[tuple[float, float | None]], float | None]:
    """The (dev loss, dev WER or None) of each validation, in step order, and the last training loss of a log."""
    text = gzip.decompress(path.read_bytes()).decode() if path.suffix == ".gz" else path.read_text(encoding="utf-8")
    dev: dict[int, tuple[float, float | None]] = {}
    last = None
    for line in text.splitlines():
        if m := DEV.search(line):
            dev[int(m.group(1))] = (float(m.group(2)), float(m.group(3)) if m.group(3) else None)
        elif m := TRAIN.search(line):
            last = float(m.group(1))
    return [dev[step] for step in sorted(dev)], last


def chosen_runs(exp: Path) -> set[str]:
    """The unit dirs `lwasr train pick` linked (resolved), from every selection record under ``exp``."""
    chosen = set()
    for record in exp.rglob("*.selection.json"):
        chosen.add(str(Path(json.loads(record.read_text())["chosen"]).resolve()))
    return chosen


def logs(exp: Path) -> list[Path]:
    """Every training log under ``exp``: a run's train.log, or a kept train_<unit>.log.gz."""
    found = sorted(exp.glob("lr*/train_*/train.log")) + sorted(exp.glob("train_*/train.log"))
    return found + sorted(exp.glob("train_*.log.gz"))


def row(exp: Path, log: Path, chosen: set[str]) -> list[str]:
    """One table row: the run's name, learning rate, whether it was chosen, and its curves."""
    kept = log.name.endswith(".log.gz")
    run = log.name.removesuffix(".log.gz") if kept else log.parent.name
    parent = exp if kept else log.parent.parent
    unit = run.removeprefix("train_")
    unit_dir = parent / ("experts/" + unit.removeprefix("expert_") if unit.startswith("expert_") else unit)
    lr = parent.name.removeprefix("lr") if parent.name.startswith("lr") else "conf"
    dev, last = read_log(log)
    losses = [loss for loss, _ in dev]
    wers = [wer for _, wer in dev if wer is not None]
    score = wers if wers and len(wers) == len(dev) else losses
    best = score.index(min(score)) + 1 if score else None
    return [
        f"{exp.name}/{unit}",
        lr,
        "yes" if str(unit_dir.resolve()) in chosen else "",
        " / ".join(f"{d:.3f}" for d in losses) or "-",
        " / ".join(f"{w:.1f}" for w in wers) or "-",
        f"{best} of {len(dev)}" if best else "-",
        f"{last:.3f}" if last is not None else "-",
    ]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("exp", type=Path, nargs="+", help="experiment dir (exp/espeak8_paper) or kept results dir")
    args = ap.parse_args()
    print("| run | lr | chosen | dev loss at each validation | dev WER at each validation | best | last train loss |")
    print("|---|---|---|---|---|---:|---:|")
    for exp in args.exp:
        chosen = chosen_runs(exp)
        for log in logs(exp):
            print("| " + " | ".join(row(exp, log, chosen)) + " |")


if __name__ == "__main__":
    main()
