"""What a validation measures and which validated weights make the final model.

**Metrics.** ``loss`` (the dev loss per token, always computed) or ``wer``: greedy decoding of the dev cuts
with the language given, scored as ``lwasr score`` scores a test set (WER, CER for zh and ja; the macro average
over languages). Decoding and scoring are siblings of training, so the module that computes a metric
(:mod:`lwasr.validation.wer`, a layer above) registers it with :func:`register_dev_metric`, and :mod:`lwasr.loaders`
imports that module (the training commands import :mod:`lwasr.loaders` before they run), as unit kinds register
their loaders in :mod:`lwasr.units.kinds`.

**Averaging.** With ``average`` N > 1 the trainer keeps the weights of every validation that can still count
(``checkpoints/valid/step-<step>/``) and the final model is their element-wise mean: the N best validations by
the selection metric (``final_model: best``, ESPnet's ``ave_N best``) or the last N (``final_model: last``,
icefall's ``--avg``). Which validations count is a function of the validation records alone
(:func:`kept_steps`), which checkpoints carry, so a resumed run keeps and averages exactly what an uninterrupted
one would.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from lwasr.errors import LwasrError

#: ``valid_metric`` values.
METRICS = ("loss", "wer")
#: ``metric(model, tokenizer, dev_cuts, cfg) -> float`` (lower is better); ``cfg`` is the run's TrainConfig.
DevMetric = Callable[..., float]
_METRICS: dict[str, DevMetric] = {}


def register_dev_metric(name: str) -> Callable[[DevMetric], DevMetric]:
    """Decorator: register ``fn`` as the computation of validation metric ``name`` (one of :data:`METRICS`)."""
    if name not in METRICS:
        raise ValueError(f"validation metric {name!r} is not one of METRICS ({', '.join(METRICS)})")

    def wrap(fn: DevMetric) -> DevMetric:
        _METRICS[name] = fn
        return fn

    return wrap


def dev_metric(name: str) -> DevMetric:
    """The registered computation of metric ``name``."""
    if name not in METRICS:
        raise LwasrError(f"valid_metric {name!r} is not one of {', '.join(METRICS)}")
    if name not in _METRICS:
        raise LwasrError(
            f"valid_metric {name!r}: its computation is not registered; import lwasr.loaders first (the lwasr"
            " commands do), which imports the module that registers it"
        )
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
