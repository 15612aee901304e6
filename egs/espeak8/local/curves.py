"""Learning curves of a recipe run trained by epoch (the paper profile): dev loss at the end of every epoch. (issue 14)

Reads the train.log of every training run under an experiment dir (exp/<tag>/lr<lr>/train_<unit>/, and
exp/<tag>/train_<unit>/), and prints one Markdown row per run: the dev loss after each epoch, the last training
loss logged, and which learning rate `lwasr train pick` chose (from <unit>.selection.json). The step budget is
epochs x the first epoch's batch count, and the bucketing sampler's batch count varies by an epoch or two, so
a run can end with a short extra epoch and one more validation:

    python local/curves.py exp/espeak8_paper
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

DEV = re.compile(r"step (\d+) dev loss ([0-9.]+)")
TRAIN = re.compile(r"step \d+ epoch \d+ loss ([0-9.]+)")


def read_log(path: Path) -> tuple[list[float], float | None]:
    """The dev losses, in order, and the last training loss of a train.log."""
    dev, last = [], None
    for line in path.read_text(encoding="utf-8").splitlines():
        if m := DEV.search(line):
            dev.append(float(m.group(2)))
        elif m := TRAIN.search(line):
            last = float(m.group(1))
    return dev, last


def chosen_runs(exp: Path) -> set[str]:
    """The unit dirs `lwasr train pick` linked (resolved), from every selection record under ``exp``."""
    chosen = set()
    for record in exp.rglob("*.selection.json"):
        chosen.add(str(Path(json.loads(record.read_text())["chosen"]).resolve()))
    return chosen


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("exp", type=Path, help="experiment dir, e.g. exp/espeak8_paper")
    args = ap.parse_args()
    chosen = chosen_runs(args.exp)
    rows = []
    for log in sorted(args.exp.glob("lr*/train_*/train.log")) + sorted(args.exp.glob("train_*/train.log")):
        run = log.parent
        unit = run.name.removeprefix("train_")
        unit_dir = run.parent / ("experts/" + unit.removeprefix("expert_") if unit.startswith("expert_") else unit)
        lr = run.parent.name.removeprefix("lr") if run.parent.name.startswith("lr") else "conf"
        dev, last = read_log(log)
        best = min(dev) if dev else None
        picked = "yes" if str(unit_dir.resolve()) in chosen else ""
        rows.append(
            [
                unit,
                lr,
                picked,
                " / ".join(f"{d:.3f}" for d in dev),
                f"{best:.3f}" if best else "-",
                f"{dev.index(best) + 1}" if best else "-",
                f"{last:.3f}" if last is not None else "-",
            ]
        )
    print("| run | lr | chosen | dev loss at each validation | best | best validation | last train loss |")
    print("|---|---|---|---|---:|---:|---:|")
    for r in rows:
        print("| " + " | ".join(r) + " |")


if __name__ == "__main__":
    main()
