"""Task-arithmetic weighting of static fusion (``lwasr fuse --method sum|svd --lambdas ... --dev-cuts ...``).

Task arithmetic (Ilharco et al., 2023) adds the experts' whole updates, weight 1 each, scaled by one ``λ``:
``λ · Σ_i ΔW_i``. ``λ`` is chosen on dev data from a small grid: the fused model of each grid point is built
(exactly as ``sum``, or truncated as ``svd``) and scored by the trainer's dev loss
(:func:`lwasr.training.evaluate.cuts_loss`: cross-entropy per token, teacher-forced); the lowest wins.
"""

from __future__ import annotations

import logging
from typing import Any

from peft import LoraConfig, PeftModel
from transformers import PreTrainedTokenizerBase

from lwasr.data.cuts import load_cuts
from lwasr.errors import LwasrError
from lwasr.fusion.methods import FusionMethod, get_method, method_names
from lwasr.fusion.static import FUSED
from lwasr.precision_support import autocast_dtype, resolve_precision
from lwasr.training import data as D
from lwasr.training.ddp import pick_device
from lwasr.training.evaluate import cuts_loss
from lwasr.units.experts import Factors

log = logging.getLogger(__name__)


def check_lambdas(lambdas: list[float], method: FusionMethod, weights: list[float] | None, dev_cuts: list[str]) -> None:
    """Refuse a λ grid that is empty, given with ``--weights``, for a method that is not
    ``scalable`` (sum, svd), or without dev data to choose on."""
    if not method.scalable:
        scalable = [name for name in method_names() if get_method(name).scalable]
        raise LwasrError(f"--lambdas scales the weights of {' or '.join(scalable)}, not of {method.name}")
    if weights is not None:
        raise LwasrError("--lambdas sets the weights (λ for every expert); give --weights or --lambdas, not both")
    if not lambdas:  # finite numbers already: FuseConfig parses them with config_fields.finite_numbers
        raise LwasrError(f"--lambdas must be finite numbers separated by commas, got {lambdas}")
    if not dev_cuts:
        raise LwasrError("--lambdas chooses λ on dev data: give dev manifests with --dev-cuts")


def choose_lambda(
    model: PeftModel,
    factors: dict[str, dict[str, Factors]],
    template: LoraConfig,
    method: FusionMethod,
    lambdas: list[float],
    *,
    tokenizer: PreTrainedTokenizerBase,
    dev_cuts: list[str],
    lang_token: bool,
    trim: bool,
    max_duration: float,
    rank: int | None = None,
) -> tuple[float, dict[str, Any]]:
    """The λ of ``lambdas`` whose fusion (``method`` with weight λ for every expert) has the lowest dev loss on the
    cuts of the experts' languages in ``dev_cuts``, and the record of the choice for lwasr.json.

    ``model`` holds the experts (adapters named by language); each candidate is added as adapter ``fused`` and
    removed again. The dev loss is computed on CUDA when available; ``model`` is on the CPU afterwards.
    """
    cuts = D.select_languages(load_cuts(dev_cuts, split=None), list(factors), what="dev")
    device = pick_device("auto")
    # bfloat16 where CUDA has it, as before; the λ choice stays float32 on a CPU (not measured there)
    autocast = autocast_dtype(resolve_precision("auto", device)) if device.type == "cuda" else None
    losses: dict[float, float] = {}
    for lam in dict.fromkeys(lambdas):
        model.cpu()
        method.fuse(model, factors, template, [lam] * len(factors), rank=rank)
        model.set_adapter(FUSED)
        losses[lam] = cuts_loss(
            model.to(device),
            tokenizer,
            cuts,
            lang_token=lang_token,
            trim=trim,
            max_duration=max_duration,
            autocast=autocast,
        )
        log.info("task arithmetic: λ %g, dev loss %.4f", lam, losses[lam])
        model.set_adapter(next(iter(factors)))
        model.delete_adapter(FUSED)
    model.cpu()
    best = min(losses, key=losses.__getitem__)
    log.info("task arithmetic: chose λ %g (dev loss %.4f)", best, losses[best])
    grid = [{"lambda": lam, "dev_loss": loss} for lam, loss in losses.items()]
    return best, {"lambda": best, "grid": grid, "dev_cuts": list(dev_cuts)}
