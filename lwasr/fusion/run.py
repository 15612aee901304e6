"""``lwasr fuse``: :func:`plan` resolves and checks a fusion (metadata only); :func:`run` loads the experts for the
target languages, fuses them and writes the adapter (and merged model)."""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from lwasr.atomic import atomic_path, check_output
from lwasr.errors import LwasrError
from lwasr.fusion import PRODUCER
from lwasr.fusion.config import FuseConfig, FuseOptions
from lwasr.fusion.merge import MERGED_DIR, write_fused
from lwasr.fusion.methods import FusionMethod, get_method
from lwasr.fusion.static import FUSED
from lwasr.fusion.task_arithmetic import check_lambdas, choose_lambda
from lwasr.models.resolve import resolve_model
from lwasr.output_lock import holding_lock
from lwasr.training.config import TrainConfig, default_of
from lwasr.units.base import load_base_of
from lwasr.units.experts import attach_experts, base_spec, expert_factors, load_experts
from lwasr.units.meta import LoraShape, ModelMeta, base_fingerprint

log = logging.getLogger(__name__)


@dataclass(kw_only=True)
class FusePlan(FuseOptions):
    """One ``lwasr fuse``, resolved and checked by :func:`plan` (nothing loaded or written yet); :func:`run` does it.

    ``keep``: ``out`` holds an earlier fusion of the same method and languages, kept (run does nothing).
    ``train``: the learned-fusion run's settings (trained methods only).
    """

    experts_dir: Path
    merge: bool
    dev_cuts: list[str] = field(default_factory=list)
    max_duration: float = 0.0
    keep: bool = False
    train: TrainConfig | None = None  # a trained method's config

    def to_yaml(self) -> str:
        """The learned run's resolved config (what it trains with), else this plan, as YAML."""
        if self.train is not None:
            return self.train.to_yaml()
        plain = {k: str(v) if isinstance(v, Path) else v for k, v in dataclasses.asdict(self).items()}
        return yaml.safe_dump(plain, sort_keys=False, allow_unicode=True)


def plan(
    experts_dir: str | Path,
    *,
    merge: bool = default_of(FuseConfig, "merge"),
    config: str | Path | None = None,
    train_overrides: dict[str, Any] | None = None,
    **options: Any,
) -> FusePlan:
    """Resolve and check one fusion of the experts for ``langs`` under ``experts_dir`` into ``out``; reads only
    metadata (no model is loaded, nothing is written).

    A trained method (``learned``: :func:`lwasr.fusion.learned.plan_learned`) learns its weights: ``config`` and
    ``train_overrides`` (training settings, ``cuts`` among them) are for it only. ``options``: the fields of
    :class:`~lwasr.fusion.config.FuseOptions` by name. ``lambdas`` (sum, svd): task arithmetic, weight λ for every
    expert with λ chosen from ``lambdas`` on ``train_overrides["dev_cuts"]`` (:mod:`lwasr.fusion.task_arithmetic`;
    ``max_duration`` sizes its batches). ``out`` must be new or an earlier ``lwasr fuse`` output, which is kept
    unless ``overwrite`` (then replaced once the new one is complete).
    """
    job = FusePlan(experts_dir=Path(experts_dir), merge=merge, **options)
    langs, method, out, weights, lambdas = job.langs, job.method, job.out, job.weights, job.lambdas
    fusion = get_method(method)
    if check_output(out, PRODUCER) and not job.overwrite:
        _check_same_fusion(out, method, langs)
        job.keep = True
        return job
    if fusion.plan_training is not None:
        if weights is not None or lambdas is not None:
            raise LwasrError(f"--weights and --lambdas are for the static methods; {method} fusion learns its weights")
        over = dict(train_overrides or {}, overwrite=job.overwrite)
        job.train = fusion.plan_training(
            experts_dir, langs, out, merge=merge, model=job.model, config=config, overrides=over
        )
        return job
    job.dev_cuts, job.max_duration = _dev_settings(fusion, lambdas, weights, config, train_overrides)
    load_experts(experts_dir, langs)  # its errors: a missing expert, experts that cannot be combined
    job.weights = check_weights(weights, fusion, len(langs)) if lambdas is None else None
    return job


@holding_lock(lambda job: [job.out])
def run(job: FusePlan) -> Path:
    """Do the fusion :func:`plan` resolved: write the fused adapter (and merged model) to ``job.out`` atomically.

    ``out`` gets a PEFT adapter dir plus lwasr.json (kind lora, languages = ``langs``); with ``merge`` also
    ``out/merged``, a standalone Hugging Face model (kind full).
    """
    out, fusion = job.out, get_method(job.method)
    if job.keep:
        log.info("%s is an earlier fusion; kept (pass --overwrite to fuse again)", out)
        return out
    if fusion.run_training is not None:
        return fusion.run_training(job.train)
    experts = load_experts(job.experts_dir, job.langs)
    spec = base_spec(experts, job.model)
    base, tokenizer = load_base_of({e.lang: e.meta for e in experts}, job.model)
    fingerprint = base_fingerprint(base)
    peft_model = attach_experts(base, experts)
    factors = {e.lang: expert_factors(peft_model, e.lang) for e in experts}
    weights, scaled = job.weights, {}
    if job.lambdas is not None:
        lam, record = choose_lambda(
            peft_model,
            factors,
            experts[0].config,
            fusion,
            job.lambdas,
            tokenizer=tokenizer,
            dev_cuts=job.dev_cuts,
            lang_token=experts[0].meta.lang_token,
            trim=experts[0].meta.trim_encoder_input,
            max_duration=job.max_duration,
            rank=job.rank,
        )
        weights, scaled = [lam] * len(experts), {"task_arithmetic": record}
    assert weights is not None
    log.info("fusing %s with %s (weights %s)", ", ".join(job.langs), job.method, weights)
    assert fusion.fuse is not None
    fusion.fuse(peft_model, factors, experts[0].config, weights, rank=job.rank, density=job.density, seed=job.seed)
    fused_rank = peft_model.peft_config[FUSED].r
    meta = ModelMeta(
        kind="lora",
        base_model=spec,
        base_fingerprint=fingerprint,
        languages=list(job.langs),
        lang_token=experts[0].meta.lang_token,
        trim_encoder_input=experts[0].meta.trim_encoder_input,
        extra={
            "fusion": job.method,
            "weights": dict(zip(job.langs, weights, strict=True)),
            "rank": fused_rank,
            "lora": LoraShape.of_config(peft_model.peft_config[FUSED]).record(),
            **{name: getattr(job, name) for name in fusion.settings},
            "experts": {e.lang: {"path": str(e.path), "rank": e.config.r} for e in experts},
            **scaled,
        },
    )
    with atomic_path(out, is_dir=True, producer=PRODUCER) as tmp:
        write_fused(peft_model, tmp, meta, resolve_model(spec), job.merge)
    log.info("wrote %s (rank %d)%s", out, fused_rank, f" and {out / MERGED_DIR}" if job.merge else "")
    return out


def fuse(experts_dir: str | Path, langs: list[str], method: str, out: str | Path, **options: Any) -> Path:
    """Fuse the experts for ``langs`` under ``experts_dir`` into one LoRA adapter at ``out``: :func:`run` of
    :func:`plan` (see there for ``options``)."""
    return run(plan(experts_dir, langs=langs, method=method, out=out, **options))


def check_weights(weights: list[float] | None, method: FusionMethod, n: int) -> list[float]:
    """``weights`` (one per expert) or the method's default."""
    if weights is None:
        return method.default_weights(n)
    if len(weights) != n:
        raise LwasrError(f"got {len(weights)} weights for {n} languages; give one weight per language")
    return [float(w) for w in weights]


def _dev_settings(
    method: FusionMethod,
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
            f"training settings ({given}) are for --method learned; {method.name} fusion uses no data"
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
