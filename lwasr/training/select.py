"""Choosing among runs of one system on dev: the candidate unit with the lowest best dev loss (e.g. one per lr).

The chosen unit is not copied: ``out`` becomes a relative symbolic link to it, and ``<out>.selection.json``
records every candidate's dev loss, so the choice can be checked and redone. ``out`` must be new or an
earlier selection's link; anything else there is refused.

Losses compare only when measured on one dev set by units of one kind: the candidates must share their kind and
languages and the fingerprint of their dev set (``extra.dev_set`` of lwasr.json, written by training), and a
loss that is not finite is refused. Units trained before the fingerprint was recorded are accepted with a warning.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Sequence
from pathlib import Path

from lwasr.atomic import write_json
from lwasr.errors import LwasrError
from lwasr.output_lock import holding_lock
from lwasr.units.meta import META_FILE, ModelMeta

log = logging.getLogger(__name__)
SELECTION_SUFFIX = ".selection.json"
#: The key of ``extra`` in lwasr.json holding the fingerprint of the dev set ``best_dev_loss`` was measured on.
DEV_SET = "dev_set"


def _dev_loss(unit: Path, meta: ModelMeta) -> float:
    loss = meta.extra.get("best_dev_loss")
    if loss is None:
        raise LwasrError(f"{unit} has no dev loss in its {META_FILE}: train it with --dev-cuts to choose on dev")
    if not math.isfinite(float(loss)):
        raise LwasrError(f"{unit} has a dev loss of {loss} in its {META_FILE}; train it again (a diverged run?)")
    return float(loss)


def _check_comparable(metas: dict[Path, ModelMeta]) -> None:
    """The candidates' dev losses compare: one kind, one set of languages, one dev set (fingerprint)."""
    fields = {
        "kind": lambda m: m.kind,
        "languages": lambda m: ",".join(m.languages),
        "dev set": lambda m: m.extra.get(DEV_SET),
    }
    for what, value in fields.items():
        values = {unit: value(meta) for unit, meta in metas.items()}
        if len({v for v in values.values() if v is not None}) > 1:
            shown = "; ".join(f"{unit}: {v}" for unit, v in values.items())
            raise LwasrError(f"the candidates differ in their {what} ({shown}); their dev losses do not compare")
    older = [str(unit) for unit, meta in metas.items() if DEV_SET not in meta.extra]
    if older and len(metas) > 1:
        log.warning(
            "%s: no dev-set fingerprint in %s (trained by an older lwasr); the dev losses are compared as if they"
            " were measured on one dev set",
            ", ".join(older),
            META_FILE,
        )


@holding_lock("out")
def pick_lowest_dev_loss(candidates: Sequence[Path], out: Path) -> Path:
    """Link ``out`` to the candidate unit with the lowest best dev loss; return the chosen unit. Two picks of one
    ``out`` at once: the second is refused (:mod:`lwasr.output_lock`)."""
    if len(candidates) < 1:
        raise LwasrError("give at least one candidate unit")
    for c in candidates:
        if not (Path(c) / META_FILE).is_file():
            raise LwasrError(f"{c} is not a trained unit (no {META_FILE}); train it first")
    metas = {Path(c): ModelMeta.load(c) for c in candidates}
    _check_comparable(metas)
    losses = {unit: _dev_loss(unit, meta) for unit, meta in metas.items()}
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
