"""The distillation run: :class:`DistillTrainer` is the training loop's Trainer with another model and loss.

Same run directory layout, checkpoints, exact resume, dev loss (the student's cross-entropy on the references,
comparable with ``lwasr train``) and unit export as ``lwasr train --mode shared|full``; what differs:

- :meth:`DistillTrainer.build`: the student (fresh LoRA or base weights, or initialised from a unit);
- :meth:`DistillTrainer.prepare`: loads the teachers (or fills / opens the teacher cache);
- :meth:`DistillTrainer.loss`: ``alpha * CE(labels) + (1 - alpha) * tau^2 * KL(teacher || student)``;
- :meth:`DistillTrainer.meta`: the unit records its teachers and distillation settings.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from pathlib import Path
from typing import Any

import torch
from peft import PeftModel
from torch import nn

from lwasr.distill.cache import TeacherCache, cache_info
from lwasr.distill.config import DistillConfig, parse_init
from lwasr.distill.teachers import Targets, Teachers, kd_loss
from lwasr.errors import LwasrError
from lwasr.precision_support import autocast_dtype
from lwasr.training import data as D
from lwasr.training import ddp
from lwasr.training.loop import Trainer, plan_train, train
from lwasr.training.lora import warm_lora
from lwasr.units.base import load_whisper
from lwasr.units.experts import discover_experts, load_experts
from lwasr.units.meta import META_FILE, ModelMeta, check_same_base, lora_shape
from lwasr.units.weights import check_finite_files

log = logging.getLogger("lwasr.train")

#: Utterances per teacher-cache shard (what an interrupted teacher pass can lose).
SHARD_UTTS = 2000


class DistillTrainer(Trainer):
    """Trains one student (a LoRA or the full model) from the language experts; see the module docstring."""

    PRODUCER = "lwasr distill"
    cfg: DistillConfig

    # -- student -----------------------------------------------------------------------------------------

    def build(self, base: nn.Module) -> nn.Module:
        label, path = parse_init(self.cfg.init)
        if path is None:
            return super().build(base)
        meta = ModelMeta.load(path)
        self._check_init(label, path, meta)
        if self.cfg.student == "lora":
            return warm_lora(base, path, self.cfg.lora_dropout)
        if meta.kind == "lora":
            check_finite_files(path)
            base = PeftModel.from_pretrained(base, str(path)).merge_and_unload()
        else:
            base.load_state_dict(load_whisper(str(path))[0].state_dict())
        return base.requires_grad_(True)

    def _check_init(self, label: str, path: Path, meta: ModelMeta) -> None:
        if meta.kind not in ("lora", "full"):
            raise LwasrError(f"--init {path}: a {meta.kind!r} unit cannot initialise a student (lora or full only)")
        if self.cfg.student == "lora" and meta.kind != "lora":
            raise LwasrError(f"--init {path} is a full model; a LoRA student needs a LoRA unit (or --student full)")
        if label == "fused" and "fusion" not in meta.extra:
            raise LwasrError(f"--init fused:{path}: not an `lwasr fuse` output (its lwasr.json records no fusion)")
        if label == "shared" and meta.extra.get("mode") not in ("shared", "full"):
            raise LwasrError(f"--init shared:{path}: not a shared or full baseline of `lwasr train`")
        check_same_base({"student base": self.fingerprint, f"--init {path}": meta.base_fingerprint})
        log.info("student initialised from %s (%s, kind %s)", path, label, meta.kind)

    # -- teachers ----------------------------------------------------------------------------------------

    def prepare(self) -> None:
        cfg = self.cfg
        self.experts = load_experts(cfg.teachers, self.languages)
        check_same_base({**{e.lang: e.meta.base_fingerprint for e in self.experts}, cfg.model: self.fingerprint})
        self.teachers: Teachers | None = None
        self.cache: TeacherCache | None = None
        if cfg.alpha == 1.0:
            log.info("alpha = 1: plain cross-entropy, the teachers are not run")
        elif cfg.teacher_cache:
            self.cache = TeacherCache(cfg.teacher_cache, cache_info(self.experts, self.fingerprint, cfg.cache_topk))
            self._fill_cache()
        else:
            self.teachers = self._load_teachers()

    def _load_teachers(self) -> Teachers:
        return Teachers(self.experts, self.cfg.model, self.info.device, autocast_dtype(self.precision))

    def _fill_cache(self) -> None:
        """Run the teachers once over the training cuts the cache lacks (this rank's share), then reload it."""
        assert self.cache is not None
        missing = self.cache.missing([c.id for c in self.train_cuts])
        if missing:
            start = time.perf_counter()
            teachers, cfg, info = self._load_teachers(), self.cfg, self.info
            cuts = self.train_cuts.subset(cut_ids=missing)
            kw = dict(num_buckets=cfg.num_buckets, seed=cfg.seed, world_size=info.world_size, rank=info.rank)
            sampler = D.make_sampler(cuts, cfg.max_duration, shuffle=False, **kw)
            records: list[tuple[str, torch.Tensor, torch.Tensor]] = []
            for batch in D.make_loader(self.dataset, D.SkipFirst(sampler), cfg.num_workers):
                records += self._topk_records(teachers, batch)
                if len(records) >= SHARD_UTTS:
                    self.cache.write(info.rank, records)
                    records = []
            if records:
                self.cache.write(info.rank, records)
            del teachers
            seconds = time.perf_counter() - start
            log.info("teacher cache: %d cuts in %.1f s (%s)", len(missing), seconds, self.cache.root)
        ddp.barrier(self.info)
        self.cache.reload()

    def _topk_records(self, teachers: Teachers, batch: dict[str, Any]) -> list[tuple[str, torch.Tensor, torch.Tensor]]:
        """``(cut id, top-k values, top-k ids)`` per utterance of ``batch``, each ``[text + end positions, k]``."""
        logits = teachers.logits(batch, self.tokenizer, self.logmel, self.cfg.lang_token)
        values, indices = logits.topk(self.cfg.cache_topk, dim=-1)
        lengths = (batch["labels"] != D.IGNORE).sum(1).tolist()
        return list(zip(batch["ids"], values.cpu().split(lengths), indices.cpu().split(lengths), strict=True))

    def _teacher_targets(self, batch: dict[str, Any]) -> Targets:
        if self.cache is not None:
            lengths = (batch["labels"] != D.IGNORE).sum(1).tolist()
            values, indices = self.cache.targets(batch["ids"], lengths)
            return values.to(self.info.device), indices.to(self.info.device)
        assert self.teachers is not None
        return self.teachers.logits(batch, self.tokenizer, self.logmel, self.cfg.lang_token)

    # -- loss and export ---------------------------------------------------------------------------------

    def loss(self, batch: dict[str, Any], train: bool) -> tuple[torch.Tensor, int]:
        """Training: ``alpha * CE + (1 - alpha) * tau^2 * KL``, summed over text + end positions; dev: CE."""
        cfg = self.cfg
        logits, labels = self.forward(batch, train)
        ce = nn.functional.cross_entropy(logits.transpose(1, 2), labels, ignore_index=D.IGNORE, reduction="sum")
        mask = labels != D.IGNORE
        if not train or cfg.alpha == 1.0:
            return ce, int(mask.sum())
        kd = kd_loss(logits[mask], self._teacher_targets(batch), cfg.temperature)
        return cfg.alpha * ce + (1 - cfg.alpha) * cfg.temperature**2 * kd, int(mask.sum())

    def meta(self) -> ModelMeta:
        meta = super().meta()
        cfg = self.cfg
        _, init = parse_init(cfg.init)
        if init is not None and cfg.student == "lora":  # the student keeps the shape of the LoRA it starts from
            meta.extra["lora"] = dataclasses.replace(lora_shape(init), dropout=cfg.lora_dropout).record()
        meta.extra["distill"] = {
            "teachers": {e.lang: str(e.path) for e in self.experts},
            "student": cfg.student,
            "init": cfg.init,
            "alpha": cfg.alpha,
            "temperature": cfg.temperature,
            **({"teacher_cache": cfg.teacher_cache, "cache_topk": cfg.cache_topk} if cfg.teacher_cache else {}),
        }
        return meta


def plan_distill(config: str | Path | None, overrides: dict[str, Any]) -> DistillConfig:
    """The resolved and checked settings of the student ``overrides`` describe (reads only metadata).

    Settings: ``config`` (YAML) or the shipped ``train_shared.yaml``/``train_full.yaml`` defaults for the
    student, then ``overrides`` (DistillConfig fields). The base model defaults to the experts' recorded base.
    """
    over = {"mode": "shared", **overrides}
    teachers = over.get("teachers")
    available = discover_experts(teachers) if teachers else {}
    if teachers and not available:
        raise LwasrError(f"no experts in {teachers} (<lang>/ adapter directories)")
    if available and not over.get("model"):
        over["model"] = ModelMeta.load(next(iter(available.values()))).base_model
    return plan_train(config, over, cls=DistillConfig, trainer=DistillTrainer)


def run_distill(cfg: DistillConfig) -> Path:
    """Train (or resume) the student ``cfg`` describes; return its unit directory."""
    unit = train(cfg, trainer=DistillTrainer)
    if not (unit / META_FILE).is_file():
        raise LwasrError(f"distillation did not write {unit}")
    return unit


def distill(config: str | Path | None, overrides: dict[str, Any]) -> Path:
    """Train (or resume) the student ``overrides`` describe (see :func:`plan_distill`); return its unit directory."""
    return run_distill(plan_distill(config, overrides))
