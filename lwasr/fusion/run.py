"""``lwasr fuse``: load the experts for the target languages, fuse them, write the adapter (and merged model)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from lwasr.atomic import atomic_path, check_output
from lwasr.errors import LwasrError
from lwasr.fusion import METHODS, PRODUCER, STATIC_METHODS
from lwasr.fusion.config import FuseConfig
from lwasr.fusion.learned import fuse_learned
from lwasr.fusion.merge import MERGED_DIR, write_fused
from lwasr.fusion.static import FUSED, check_weights, fuse_static
from lwasr.fusion.task_arithmetic import check_lambdas, choose_lambda
from lwasr.models.resolve import resolve_model
from lwasr.training.config import default_of
from lwasr.units.base import load_base_of
from lwasr.units.experts import attach_experts, base_spec, expert_factors, load_experts
from lwasr.units.meta import LoraShape, ModelMeta, base_fingerprint

log = logging.getLogger(__name__)


def fuse(
    experts_dir: str | Path,
    langs: list[str],
    method: str,
    out: str | Path,
    *,
    weights: list[float] | None = None,
    lambdas: list[float] | None = None,
    rank: int | None = None,
    density: float = 0.5,
    seed: int = 0,
    merge: bool = False,
    model: str | None = None,
    config: str | Path | None = None,
    train_overrides: dict[str, Any] | None = None,
    overwrite: bool = False,
) -> Path:
    """Fuse the experts for ``langs`` under ``experts_dir`` into one LoRA adapter at ``out`` (atomically).

    ``out`` gets a PEFT adapter dir plus lwasr.json (kind lora, languages = ``langs``); with ``merge`` also
    ``out/merged``, a standalone Hugging Face model (kind full). ``model`` overrides the experts' base model spec.
    ``learned`` trains its weights (see :func:`lwasr.fusion.learned.fuse_learned`): ``config`` and
    ``train_overrides`` (training settings, ``cuts`` among them) are for it only. ``lambdas`` (sum, svd): task
    arithmetic, weight λ for every expert with λ chosen from ``lambdas`` on ``train_overrides["dev_cuts"]``
    (:mod:`lwasr.fusion.task_arithmetic`; ``max_duration`` sizes its batches). ``out`` must be new or an
    earlier ``lwasr fuse`` output, which is kept unless ``overwrite`` (then replaced once the new one is complete).
    """
    out = Path(out)
    if check_output(out, PRODUCER) and not overwrite:
        _check_same_fusion(out, method, langs)
        log.info("%s is an earlier fusion; kept (pass --overwrite to fuse again)", out)
        return out
    if method == "learned":
        if weights is not None or lambdas is not None:
            raise LwasrError("--weights and --lambdas are for the static methods; learned fusion starts uniform")
        over = dict(train_overrides or {}, overwrite=overwrite)
        return fuse_learned(experts_dir, langs, out, merge=merge, model=model, config=config, overrides=over)
    if method not in STATIC_METHODS:
        raise LwasrError(f"unknown fusion method {method!r}; known: {', '.join(METHODS)}")
    dev_cuts, max_duration = _dev_settings(method, lambdas, weights, config, train_overrides)
    experts = load_experts(experts_dir, langs)
    spec = base_spec(experts, model)
    base, tokenizer = load_base_of({e.lang: e.meta for e in experts}, model)
    fingerprint = base_fingerprint(base)
    peft_model = attach_experts(base, experts)
    factors = {e.lang: expert_factors(peft_model, e.lang) for e in experts}
    scaled: dict[str, Any] = {}
    if lambdas is not None:
        lam, record = choose_lambda(
            peft_model,
            factors,
            experts[0].config,
            method,
            lambdas,
            tokenizer=tokenizer,
            dev_cuts=dev_cuts,
            lang_token=experts[0].meta.lang_token,
            trim=experts[0].meta.trim_encoder_input,
            max_duration=max_duration,
            rank=rank,
        )
        weights, scaled = [lam] * len(experts), {"task_arithmetic": record}
    weights = check_weights(weights, method, len(experts))
    log.info("fusing %s with %s (weights %s)", ", ".join(langs), method, weights)
    fuse_static(peft_model, factors, experts[0].config, method, weights, rank=rank, density=density, seed=seed)
    fused_rank = peft_model.peft_config[FUSED].r
    meta = ModelMeta(
        kind="lora",
        base_model=spec,
        base_fingerprint=fingerprint,
        languages=list(langs),
        lang_token=experts[0].meta.lang_token,
        trim_encoder_input=experts[0].meta.trim_encoder_input,
        extra={
            "fusion": method,
            "weights": dict(zip(langs, weights, strict=True)),
            "rank": fused_rank,
            "lora": LoraShape.of_config(peft_model.peft_config[FUSED]).record(),
            **({"density": density, "seed": seed} if method in ("ties", "dare", "dare_ties") else {}),
            "experts": {e.lang: {"path": str(e.path), "rank": e.config.r} for e in experts},
            **scaled,
        },
    )
    with atomic_path(out, is_dir=True, producer=PRODUCER) as tmp:
        write_fused(peft_model, tmp, meta, resolve_model(spec), merge)
    log.info("wrote %s (rank %d)%s", out, fused_rank, f" and {out / MERGED_DIR}" if merge else "")
    return out


def _dev_settings(
    method: str,
    lambdas: list[float] | None,
    weights: list[float] | None,
    config: str | Path | None,
    overrides: dict[str, Any] | None,
) -> tuple[list[str], float]:
    """A static method's dev manifests and batch seconds: only ``--lambdas`` uses data (``dev_cuts``,
    ``max_duration``); any other training setting is refused."""
    data = dict(overrides or {})
    dev_cuts = data.pop("dev_cuts", None) or []
    max_duration = data.pop("max_duration", default_of(FuseConfig, "max_duration"))
    if data or config is not None or (lambdas is None and dev_cuts):
        given = ", ".join(sorted(data)) or ("dev_cuts" if dev_cuts else "config")
        raise LwasrError(
            f"training settings ({given}) are for --method learned; {method} fusion uses no data"
            " (only --lambdas uses --dev-cuts and --max-duration)"
        )
    if lambdas is not None:
        check_lambdas(lambdas, method, weights, dev_cuts)
    return dev_cuts, max_duration


def _check_same_fusion(out: Path, method: str, langs: list[str]) -> None:
    """Refuse to keep an earlier fusion at ``out`` made with another method or other languages."""
    meta = ModelMeta.load(out)
    made, wanted = (meta.extra.get("fusion"), list(meta.languages)), (method, list(langs))
    if made != wanted:
        raise LwasrError(
            f"{out} holds an earlier fusion made with --method {made[0]} --langs {','.join(made[1])}, not"
            f" --method {method} --langs {','.join(langs)}: pass --overwrite to replace it, or choose another --out"
        )
