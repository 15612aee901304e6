"""Choosing among runs of one system on dev: the candidate unit with the lowest best dev loss (e.g. one per lr).

The chosen unit is not copied: ``out`` becomes a relative symbolic link to it, and ``<out>.selection.json``
records every candidate's dev loss, so the choice can be checked and redone. ``out`` must be new or an
earlier selection's link; anything else there is refused.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

from lwasr.atomic import write_json
from lwasr.errors import LwasrError
from lwasr.units.meta import META_FILE, ModelMeta

log = logging.getLogger(__name__)
SELECTION_SUFFIX = ".selection.json"


def _dev_loss(unit: Path) -> float:
    if not (unit / META_FILE).is_file():
        raise LwasrError(f"{unit} is not a trained unit (no {META_FILE}); train it first")
    loss = ModelMeta.load(unit).extra.get("best_dev_loss")
    if loss is None:
        raise LwasrError(f"{unit} has no dev loss in its {META_FILE}: train it with --dev-cuts to choose on dev")
    return float(loss)


def pick_lowest_dev_loss(candidates: Sequence[Path], out: Path) -> Path:
    """Link ``out`` to the candidate unit with the lowest best dev loss; return the chosen unit."""
    if len(candidates) < 1:
        raise LwasrError("give at least one candidate unit")
    losses = {Path(c): _dev_loss(Path(c)) for c in candidates}
    chosen = min(losses, key=losses.__getitem__)
    out = Path(out)
    record = out.with_name(out.name + SELECTION_SUFFIX)
    if out.is_symlink():
        if not record.is_file():
            raise LwasrError(f"{out} is a link that lwasr did not make (no {record.name}); move it away")
    elif os.path.lexists(out):
        raise LwasrError(f"{out} already exists and is not an earlier selection; move it away or choose another")
    out.parent.mkdir(parents=True, exist_ok=True)
    write_json(record, {"chosen": str(chosen), "dev_loss": {str(c): v for c, v in losses.items()}})
    tmp = out.with_name(f".{out.name}.tmp-link")
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(os.path.relpath(chosen.resolve(), out.parent.resolve()), target_is_directory=True)
    os.replace(tmp, out)  # an earlier selection's link is replaced in one step
    log.info("%s -> %s (dev loss %.4f of %s)", out, chosen, losses[chosen], [round(v, 4) for v in losses.values()])
    return chosen
