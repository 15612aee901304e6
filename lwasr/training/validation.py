"""What a validation measures and which validated weights make the final model.

**Metrics.** ``loss`` (the dev loss per token, always computed) or ``wer``: greedy decoding of the dev cuts
with the language given, scored as ``lwasr score`` scores a test set (WER, CER for zh and ja; the macro average
over languages). Decoding and scoring are siblings of training, so the module that computes a metric registers
it with :func:`register_dev_metric` and :data:`PROVIDERS` names that module: it is imported on first use, as
:mod:`lwasr.units.kinds` finds its loaders.

**Averaging.** With ``average`` N > 1 the trainer keeps the weights of every validation that can still count
(``checkpoints/valid/step-<step>/``) and the final model is their element-wise mean: the N best validations by
the selection metric (``final_model: best``, ESPnet's ``ave_N best``) or the last N (``final_model: last``,
icefall's ``--avg``). Which validations count is a function of the validation records alone
(:func:`kept_steps`), which checkpoints carry, so a resumed run keeps and averages exactly what an uninterrupted
one would.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from typing import Any

from lwasr.errors import LwasrError

#: ``valid_metric`` values.
METRICS = ("loss", "wer")
#: metric -> the module that registers how to compute it (``loss`` is the trainer's own).
PROVIDERS: dict[str, str] = {"wer": "lwasr.validation.wer"}
#: ``metric(model, tokenizer, dev_cuts, cfg) -> float`` (lower is better); ``cfg`` is the run's TrainConfig.
DevMetric = Callable[..., float]
_METRICS: dict[str, DevMetric] = {}


def register_dev_metric(name: str) -> Callable[[DevMetric], DevMetric]:
    """Decorator: register ``fn`` as the computation of validation metric ``name``."""
    if name not in PROVIDERS:
        raise ValueError(f"validation metric {name!r} has no row in lwasr.training.validation.PROVIDERS")

    def wrap(fn: DevMetric) -> DevMetric:
        _METRICS[name] = fn
        return fn

    return wrap


def dev_metric(name: str) -> DevMetric:
    """The registered computation of metric ``name`` (importing its provider first if needed)."""
    if name not in _METRICS and name in PROVIDERS:
        importlib.import_module(PROVIDERS[name])
    if name not in _METRICS:
        raise LwasrError(f"valid_metric {name!r} is not one of {', '.join(METRICS)}")
    return _METRICS[name]


def score_of(record: dict[str, Any], metric: str) -> float:
    """A validation record's selection score (lower is better): ``dev_<metric>``."""
    return float(record[f"dev_{metric}"])


def kept_steps(validations: Sequence[dict[str, Any]], n: int, final_model: str, metric: str) -> list[int]:
    """The steps of the validations whose weights make an average of ``n``: the ``n`` best by ``metric`` (ties:
    the earlier) for ``final_model`` best, else the last ``n``; in step order."""
    if final_model == "best":
        ranked = sorted(validations, key=lambda v: (score_of(v, metric), v["step"]))[:n]
    else:
        ranked = list(validations)[-n:]
    return sorted(v["step"] for v in ranked)
