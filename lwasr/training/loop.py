"""The trainer: one run of ``lwasr train`` (an expert, the shared LoRA or a full fine-tune).

Run directory ``<exp_dir>/train_<mode>[_<lang>]/``: ``config.yaml`` (the resolved config), ``train.log``,
``checkpoints/`` (see :mod:`lwasr.training.checkpoint`), ``tensorboard/``. The final model unit goes to
``<exp_dir>/experts/<lang>/``, ``<exp_dir>/shared/`` or ``<exp_dir>/full/`` with ``lwasr.json``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import logging
import math
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch
from lhotse import CutSet
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.tensorboard import SummaryWriter
from transformers import WhisperFeatureExtractor

from lwasr.atomic import atomic_path, check_output
from lwasr.config_fields import default_of
from lwasr.data.cuts import cuts_fingerprint, load_cuts
from lwasr.errors import LwasrError
from lwasr.features import LogMel
from lwasr.models.trim import set_trimmed_input
from lwasr.output_lock import output_lock
from lwasr.precision_support import autocast_dtype, resolve_precision
from lwasr.progress import tqdm
from lwasr.training import checkpoint, ddp
from lwasr.training import data as D
from lwasr.training.config import AUTO_BF16_FROZEN_ON_CPU, AUTO_BF16_ON_CPU, TrainConfig, load_config
from lwasr.training.evaluate import batch_logits, summed_loss
from lwasr.training.lora import apply_lora, check_target_modules, dir_size_mb, warm_lora
from lwasr.training.qlora import load_quantized
from lwasr.training.scaler import loss_scaler, optimizer_step
from lwasr.training.select import DEV_SET
from lwasr.training.validation import dev_metric, kept_steps, score_of
from lwasr.units.base import load_whisper
from lwasr.units.meta import META_FILE, LoraShape, ModelMeta, base_fingerprint, check_same_base, lora_shape

log = logging.getLogger("lwasr.train")
StepHook = Callable[[int], None]


def plan_train(
    config: str | Path | None,
    overrides: dict[str, Any],
    cls: type[TrainConfig] = TrainConfig,
    trainer: type[Trainer] | None = None,
) -> TrainConfig:
    """The config of one training run, resolved and checked, with nothing loaded or written: the YAML file
    ``config`` (or the shipped defaults) with ``overrides`` (:func:`lwasr.training.config.load_config`), then
    :func:`resolve_run`. :func:`train` runs it."""
    return resolve_run(load_config(config, overrides, cls), trainer)


def resolve_run(cfg: TrainConfig, trainer: type[Trainer] | None = None) -> TrainConfig:
    """``cfg`` with the LoRA shape of its ``init_adapter``, checked as :func:`train` checks it before any work:
    its unit directory may be replaced by ``trainer`` (or left finished), and a resume keeps its settings."""
    if cfg.init_adapter:  # the warm start keeps its adapter's LoRA shape; config.yaml and lwasr.json record it
        shape = {k: v for k, v in lora_shape(cfg.init_adapter).settings().items() if k != "lora_dropout"}
        cfg = dataclasses.replace(cfg, **shape)
    if not _finished(cfg):
        check_output(cfg.unit_dir, (trainer or Trainer).PRODUCER)  # never replace what it did not write
        check_resume(cfg)
    return cfg


def _finished(cfg: TrainConfig) -> bool:
    """A finished unit that is kept: it has ``lwasr.json`` and ``cfg.overwrite`` is off."""
    return (cfg.unit_dir / META_FILE).is_file() and not cfg.overwrite


def train(cfg: TrainConfig, on_step: StepHook | None = None, trainer: type[Trainer] | None = None) -> Path:
    """Train (or resume) the run ``cfg`` describes and write its model unit; return the unit's directory.

    A unit that already exists (it has ``lwasr.json``) is not trained again, unless ``cfg.overwrite``.
    A resume whose settings differ from its checkpoint's is refused before anything is loaded.
    ``on_step(step)`` is called after each optimizer step (and its checkpoint); tests use it to interrupt a
    run. ``trainer``: a :class:`Trainer` subclass to run instead (distillation, learned fusion).
    """
    cfg = resolve_run(cfg, trainer)
    if _finished(cfg):
        log.info("%s already exists; skipping (pass --overwrite to train it again)", cfg.unit_dir)
        return cfg.unit_dir
    default = " (the default --exp-dir: give --exp-dir exp/<tag> to keep runs apart)"
    shown = default if cfg.exp_dir == default_of(TrainConfig, "exp_dir") else ""
    log.info("training %s into %s, working files in %s%s", cfg.run_name, cfg.unit_dir, cfg.run_dir, shown)
    info = ddp.setup(cfg.device)
    try:
        with (
            output_lock(*((cfg.unit_dir, cfg.run_dir) if info.is_main else ())),
            _file_log(cfg.run_dir / "train.log", info.is_main),
        ):
            return (trainer or Trainer)(cfg, info, on_step).run()
    finally:
        ddp.cleanup()


def check_resume(cfg: TrainConfig) -> None:
    """Refuse to resume a checkpoint made with other settings (outside ``RESUME_SAFE``) than ``cfg``'s."""
    last = checkpoint.latest(cfg.run_dir / "checkpoints")
    if last is None or not cfg.resume or cfg.overwrite:
        return
    changes = cfg.resume_changes(checkpoint.load_settings(last))
    if changes:
        raise LwasrError(
            f"{last} was made with other settings ({'; '.join(changes)}): rerun with the old settings to resume"
            f" it, or {checkpoint.START_OVER}"
        )


@contextlib.contextmanager
def _file_log(path: Path, enabled: bool) -> Iterator[None]:
    """Copy the ``lwasr.train`` log into ``path`` (appending, so a resumed run continues the same file)."""
    if not enabled:
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%Y-%m-%d %H:%M:%S"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    try:
        yield
    finally:
        log.removeHandler(handler)
        handler.close()


def seed_everything(seed: int) -> None:
    import random

    import numpy as np

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def checkpoint_activations(model: nn.Module) -> None:
    """Gradient (activation) checkpointing, non-reentrant: it needs no requires-grad input hook on the frozen conv
    front-end. By transformers' name for it since 5.x, where the older one warns; the older one before."""
    kwargs = {"use_reentrant": False}
    if hasattr(model, "activation_checkpointing_enable"):
        model.activation_checkpointing_enable(activation_checkpointing_kwargs=kwargs)
    else:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=kwargs)


class Trainer:
    """Holds the model, data, optimizer and progress of one run; :meth:`run` trains it to the end.

    The Trainer owns checkpoints, exact resume, validation, the best-model choice, export and logging. A method
    (distillation, learned fusion, expansion) subclasses it and implements only these public hooks; none
    overrides a private method:

    ==========================  =========================================================================
    :meth:`build` (base)        the model to train from the loaded base model (default: a fresh LoRA, the
                                adapter ``init_adapter``, or the base itself for mode full)
    :meth:`read_cuts` (paths)   the training or dev cuts of manifests (default: :func:`lwasr.data.cuts.load_cuts`)
    :meth:`prepare` ()          anything else the method needs, once model and data exist (default: nothing)
    :meth:`loss` (batch, train) the summed loss of a batch and its token count (default: cross-entropy)
    :meth:`after_step` ()       anything to do after each optimizer step (default: nothing)
    :meth:`meta` ()             the unit's ``lwasr.json``
    :meth:`export` (out)        write the unit's files into ``out``, with the final weights loaded
    ==========================  =========================================================================

    ``PRODUCER`` names the command whose earlier outputs the unit directory may replace.
    """

    #: The command whose outputs the unit directory may replace (see :func:`lwasr.atomic.check_output`).
    PRODUCER = "lwasr train"

    def __init__(self, cfg: TrainConfig, info: ddp.DistInfo, on_step: StepHook | None = None) -> None:
        self.cfg, self.info, self.on_step = cfg, info, on_step
        self.ckpt_dir = cfg.run_dir / "checkpoints"
        self.step = self.epoch = self.batches_done = self.bad_validations = 0
        self.best_loss = self.best_score = math.inf  # lowest dev loss; best valid_metric score (the same for loss)
        self.validations: list[dict[str, Any]] = []  # step and dev scores of every validation so far
        self.averaged: list[int] = []  # the validation steps averaged into the final model
        self.last_saved = self.last_validated = -1
        seed_everything(cfg.seed)
        self._build_model()
        self._build_data()
        self.prepare()
        params = [p for p in self.model.parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
        self.total_steps = cfg.max_steps or cfg.num_epochs * math.ceil(self.batches_per_epoch / cfg.accum_grad)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, self._lr_factor)
        self.pending_rng = self._resume()
        seed_everything(cfg.seed + info.rank)
        if self.info.is_main:
            cfg.save(cfg.run_dir / "config.yaml")
        self.writer = SummaryWriter(str(cfg.run_dir / "tensorboard"), purge_step=self.step) if info.is_main else None

    # -- set-up ------------------------------------------------------------------------------------------

    def _build_model(self) -> None:
        cfg = self.cfg
        # float32 master weights (and optimizer) whatever the checkpoint stores; `precision` autocasts the forward pass
        model, self.tokenizer = load_whisper(cfg.model)
        model.config.use_cache = False
        self.base_path = model.name_or_path
        self.fingerprint = base_fingerprint(model)
        #: The precision the run computes in (``cfg.precision`` resolved on the device); lwasr.json records it.
        self.precision = resolve_precision(cfg.precision, self.info.device, on_cpu=AUTO_BF16_ON_CPU)
        self.autocast = autocast_dtype(self.precision)
        # float16 with a loss scaler (lwasr.training.scaler); a disabled scaler in any other precision
        self.scaler = loss_scaler(self.autocast, self.info.device)
        if cfg.quantize_base != "none":  # QLoRA; the fingerprint stays the float base's, which decodes the adapter
            model = load_quantized(cfg.model, cfg.quantize_base, self.info.device, self.autocast or torch.float32)
        #: The dtype the frozen base is held in (``cfg.frozen_dtype`` resolved; float32 in mode full, which freezes
        #: nothing); lwasr.json records it.
        self.frozen_dtype = "float32"
        if cfg.mode != "full":
            check_target_modules(model, cfg.lora_target_modules)
            self.frozen_dtype = resolve_precision(cfg.frozen_dtype, self.info.device, on_cpu=AUTO_BF16_FROZEN_ON_CPU)
        if self.frozen_dtype == "bfloat16":  # cast once; peft then adds the LoRA in float32 (autocast_adapter_dtype)
            model.to(torch.bfloat16)
        if cfg.trim_encoder_input:
            set_trimmed_input(model)
        model = self.build(model)
        if cfg.grad_checkpointing:
            checkpoint_activations(model)
        self.model = model.to(self.info.device)  # the unwrapped model: saving, loading, exporting
        self.net: nn.Module = self.model
        if self.info.distributed:
            ids = [self.info.device.index] if self.info.device.type == "cuda" else None
            self.net = DistributedDataParallel(self.model, device_ids=ids)
        self.logmel = LogMel(model.config.num_mel_bins).to(self.info.device)
        n_train = sum(p.numel() for p in model.parameters() if p.requires_grad)
        log.info(
            "model %s (%s), mode %s: %.2fM trainable parameters, precision %s (%s), frozen base in %s",
            cfg.model,
            self.base_path,
            cfg.mode,
            n_train / 1e6,
            self.precision,
            cfg.precision,
            self.frozen_dtype,
        )

    def build(self, base: nn.Module) -> nn.Module:
        """Hook: the model to train, from the loaded base: a fresh LoRA (modes expert, shared), the LoRA adapter
        ``init_adapter`` (a warm start, e.g. from a fusion) or the base (full)."""
        cfg = self.cfg
        if cfg.mode == "full":
            return base
        if not cfg.init_adapter:
            return apply_lora(base, cfg)
        recorded = ModelMeta.load(cfg.init_adapter).base_fingerprint
        check_same_base({cfg.model: self.fingerprint, f"init_adapter {cfg.init_adapter}": recorded})
        log.info("initialising the LoRA from %s", cfg.init_adapter)
        return warm_lora(base, cfg.init_adapter, cfg.lora_dropout)

    def read_cuts(self, paths: list[str]) -> CutSet:
        """Hook: the cuts of the manifests ``paths`` (``cfg.cuts`` or ``cfg.dev_cuts``), every split."""
        return load_cuts(paths, split=None)

    def prepare(self) -> None:
        """Hook: called once the model and the data are built, before the optimizer (distillation loads its
        teachers here)."""

    def _build_data(self) -> None:
        cfg, info = self.cfg, self.info
        langs = [cfg.lang] if cfg.mode == "expert" else cfg.langs
        train_cuts = D.first_per_language(D.select_languages(self.read_cuts(cfg.cuts), langs), cfg.max_utts)
        self.train_hours = D.language_hours(train_cuts)
        self.languages = sorted(self.train_hours)
        for lang, hours in self.train_hours.items():
            log.info("training data: %s %.2f h", lang, hours)
        train_cuts = D.speed_perturbed(train_cuts, cfg.speed_perturb)
        kw = dict(num_buckets=cfg.num_buckets, seed=cfg.seed, world_size=info.world_size, rank=info.rank)
        self.train_cuts = train_cuts
        self.batches_per_epoch = sum(1 for _ in self._epoch_sampler(0))
        max_len = self.model.config.max_target_positions
        self.dataset = D.AsrDataset(self.tokenizer, lang_token=cfg.lang_token, max_target_len=max_len)
        self.dev_sampler = self.dev_cuts = None
        if cfg.dev_cuts:
            dev = self.dev_cuts = D.select_languages(self.read_cuts(cfg.dev_cuts), langs, what="dev")
            self.dev_sampler = D.make_sampler(dev, cfg.max_duration, shuffle=False, **kw)

    def _epoch_sampler(self, epoch: int) -> D.CutSampler:
        """A fresh sampler for ``epoch``: a lhotse sampler iterated twice does not repeat its order, a new one does."""
        c = self.cfg
        info = self.info
        sampler = D.make_sampler(
            self.train_cuts,
            c.max_duration,
            num_buckets=c.num_buckets,
            shuffle=True,
            seed=c.seed,
            world_size=info.world_size,
            rank=info.rank,
        )
        sampler.set_epoch(epoch)
        return sampler

    def _lr_factor(self, step: int) -> float:
        warmup = self.cfg.warmup_steps
        if step < warmup:
            return (step + 1) / warmup
        if self.cfg.lr_schedule == "constant":
            return 1.0
        return max(0.0, (self.total_steps - step) / max(1, self.total_steps - warmup))

    def _resume(self) -> dict[str, Any] | None:
        """Load the newest checkpoint (resume, no overwrite) or clear old ones; return the RNG state to restore."""
        last = checkpoint.latest(self.ckpt_dir)
        if last is None:
            return None
        if not self.cfg.resume or self.cfg.overwrite:
            if self.info.is_main:
                log.info("starting over: removing old checkpoints in %s", self.ckpt_dir)
                shutil.rmtree(self.ckpt_dir)
            ddp.barrier(self.info)
            return None
        state = checkpoint.load(last, self.model)
        self.optimizer.load_state_dict(state["optimizer"])
        if state.get("scaler"):  # float16 runs: the loss scale and its growth tracker
            self.scaler.load_state_dict(state["scaler"])
        self.scheduler.load_state_dict(state["scheduler"])
        for key in ("step", "epoch", "batches_done", "best_loss", "bad_validations"):
            setattr(self, key, state[key])
        # checkpoints of an lwasr without valid_metric and average: dev loss was the score, nothing averaged
        self.best_score = state.get("best_score", self.best_loss)
        self.validations = state.get("validations", [])
        self._prune_validated()  # weights of validations after this checkpoint are made again
        self.last_saved = self.step
        self.last_validated = state["last_validated"]
        log.info("resumed from %s (step %d, epoch %d)", last, self.step, self.epoch)
        rngs = state["rng"]
        if len(rngs) != self.info.world_size:
            log.warning("checkpoint has %d ranks, now %d: random streams will differ", len(rngs), self.info.world_size)
        return rngs[self.info.rank % len(rngs)]

    # -- training ----------------------------------------------------------------------------------------

    def run(self) -> Path:
        """Train until ``total_steps`` (or early stop), then export the model unit."""
        log.info(
            "training %d steps (%d batches per epoch, accum_grad %d)",
            self.total_steps,
            self.batches_per_epoch,
            self.cfg.accum_grad,
        )
        bar = tqdm(
            total=self.total_steps,
            initial=self.step,
            disable=None if self.info.is_main else True,
            desc=self.cfg.run_name,
            dynamic_ncols=True,
        )
        self.meter = _Meter()
        while not self._done():
            self._train_epoch(bar)
        bar.close()
        self._finish()
        return self.cfg.unit_dir

    def _done(self) -> bool:
        return self.step >= self.total_steps or self._early_stopped()

    def _early_stopped(self) -> bool:
        return self.cfg.patience > 0 and self.bad_validations >= self.cfg.patience

    def _train_epoch(self, bar: tqdm) -> None:
        sampler = D.SkipFirst(self._epoch_sampler(self.epoch), self.batches_done)
        batches = iter(D.make_loader(self.dataset, sampler, self.cfg.num_workers))
        if self.pending_rng is not None:  # after the loader drew its seed, as in the uninterrupted run
            checkpoint.set_rng_state(self.pending_rng)
            self.pending_rng = None
        self.net.train()
        micro = 0
        for batch in batches:
            self.batches_done += 1
            micro += 1
            self._backward(batch, micro)
            if micro == self.cfg.accum_grad:
                micro = 0
                self._optimizer_step(bar)
                if self._done():
                    return
        if micro:
            self._optimizer_step(bar)
        if self.dev_sampler is not None and self.cfg.valid_every == 0 and self.last_validated != self.step:
            self._validate()  # per-epoch validation; after a resume at the epoch's end it runs here too
        self.epoch += 1
        self.batches_done = 0

    def _backward(self, batch: dict[str, Any], micro: int) -> None:
        sync = micro == self.cfg.accum_grad or not self.info.distributed
        with contextlib.nullcontext() if sync else self.net.no_sync():
            loss_sum, tokens = self.loss(batch, train=True)
            if not torch.isfinite(loss_sum):
                self._nan_stop()
            self.scaler.scale(loss_sum / tokens / self.cfg.accum_grad).backward()
        self.meter.add(loss_sum.item(), tokens, batch["seconds"], len(batch["ids"]))

    def loss(self, batch: dict[str, Any], train: bool) -> tuple[torch.Tensor, int]:
        """Hook: the loss of a batch summed over its text + end tokens, and the number of those tokens (default:
        cross-entropy). ``train`` is False on dev batches, whose loss chooses the best checkpoint."""
        logits, labels = self.forward(batch, train)
        return D.token_loss(logits, labels)

    def forward(self, batch: dict[str, Any], train: bool) -> tuple[torch.Tensor, torch.Tensor]:
        """For :meth:`loss`: the model's float32 logits ``[B, L, V]`` on a batch (SpecAugment when training) and
        its labels ``[B, L]``."""
        c = self.cfg
        augment = None
        if train and c.spec_augment:
            augment = functools.partial(
                D.spec_augment,
                freq_masks=c.freq_masks,
                freq_width=c.freq_mask_width,
                time_masks=c.time_masks,
                time_width=c.time_mask_width,
            )
        return batch_logits(
            self.net, self.logmel, batch, trim=c.trim_encoder_input, autocast=self.autocast, augment=augment
        )

    def _nan_stop(self) -> None:
        last = checkpoint.latest(self.ckpt_dir)
        where = f"the last good checkpoint is {last}" if last else "no checkpoint was written yet"
        raise LwasrError(
            f"loss is not finite at step {self.step + 1} (epoch {self.epoch}); stopping: {where}. Try a lower"
            " --lr, more warm-up, or check the data; a rerun resumes from that checkpoint"
        )

    def _optimizer_step(self, bar: tqdm) -> None:
        params = [p for p in self.model.parameters() if p.requires_grad]
        optimizer_step(self.scaler, self.optimizer, params, self.cfg.max_grad_norm)
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.step += 1
        bar.update(1)
        self._report(bar)
        if self.dev_sampler is not None and self.cfg.valid_every and self.step % self.cfg.valid_every == 0:
            self._validate()
        if self.step % self.cfg.save_every == 0:
            self._save()
        self.after_step()
        if self.on_step is not None:
            self.on_step(self.step)

    def after_step(self) -> None:
        """Hook: called after each optimizer step (with its validation and checkpoint), on every rank (learned
        fusion logs its gate weights here)."""

    def _report(self, bar: tqdm) -> None:
        m = self.meter
        lr = self.scheduler.get_last_lr()[0]
        bar.set_postfix(loss=f"{m.loss:.3f}", lr=f"{lr:.2e}", audio_s_per_s=f"{m.audio_rate:.1f}")
        if self.step % self.cfg.log_every and self.step != self.total_steps:
            return
        log.info(
            "step %d epoch %d loss %.4f lr %.3e | %.1f audio-s/s %.2f utt/s",
            self.step,
            self.epoch,
            m.loss,
            lr,
            m.audio_rate,
            m.utt_rate,
        )
        if self.writer is not None:
            for key, value in (("loss", m.loss), ("lr", lr), ("audio_s_per_s", m.audio_rate)):
                self.writer.add_scalar(f"train/{key}", value, self.step)
        self.meter = _Meter()

    # -- validation, checkpoints, export -----------------------------------------------------------------

    def _validate(self) -> None:
        """Dev loss per token over all ranks; keep ``best/``; count validations without improvement."""
        rng = checkpoint.rng_state()  # validation must not shift the training random streams
        cfg = self.cfg
        self.net.eval()
        batches = D.make_loader(self.dataset, D.SkipFirst(self.dev_sampler), cfg.num_workers)
        total, tokens = summed_loss(batches, lambda batch: self.loss(batch, train=False))
        total, tokens = ddp.all_sum([total, tokens], self.info)
        record: dict[str, Any] = {"step": self.step, "dev_loss": total / max(tokens, 1)}
        if cfg.valid_metric != "loss":  # every rank decodes the whole dev set: the same score everywhere
            record[f"dev_{cfg.valid_metric}"] = dev_metric(cfg.valid_metric)(
                self.model, self.tokenizer, self.dev_cuts, cfg
            )
        self.net.train()
        checkpoint.set_rng_state(rng)
        self.validations.append(record)
        self.last_validated = self.step
        score = score_of(record, cfg.valid_metric)
        improved = score < self.best_score
        self.best_score = min(self.best_score, score)
        self.best_loss = min(self.best_loss, record["dev_loss"])
        self.bad_validations = 0 if improved else self.bad_validations + 1
        shown = "".join(f" {k.replace('_', ' ')} {v:.4f}" for k, v in record.items() if k not in ("step", "dev_loss"))
        log.info("step %d dev loss %.4f%s%s", self.step, record["dev_loss"], shown, " (best)" if improved else "")
        if self.writer is not None:
            for key, value in record.items():
                if key != "step":
                    self.writer.add_scalar(key.replace("_", "/", 1), value, self.step)
        if improved and self.info.is_main:
            checkpoint.save_best(self.ckpt_dir, self.model, record)
        if cfg.average > 1 and self.info.is_main:
            checkpoint.save_validated(self.ckpt_dir, self.model, record)
        ddp.barrier(self.info)

    def _prune_validated(self) -> None:
        """Delete the kept validation weights that no average of this run can use any more (main rank)."""
        if self.cfg.average > 1 and self.info.is_main:
            checkpoint.prune_validated(self.ckpt_dir, set(self._kept_steps()))

    def _kept_steps(self) -> list[int]:
        c = self.cfg
        return kept_steps(self.validations, c.average, c.final_model, c.valid_metric)

    def _save(self) -> None:
        state = {
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
            "rng": ddp.gather(checkpoint.rng_state(), self.info),
            "last_validated": self.last_validated,
            **{k: getattr(self, k) for k in ("step", "epoch", "batches_done", "best_loss", "bad_validations")},
            "best_score": self.best_score,
            "validations": self.validations,
        }
        if self.info.is_main:
            path = checkpoint.save(self.ckpt_dir, self.step, self.model, state, self.cfg.keep_last, self.cfg.to_yaml())
            log.info("saved checkpoint %s", path)
        self._prune_validated()  # only once a checkpoint no longer needs them: a resume finds what it keeps
        self.last_saved = self.step
        ddp.barrier(self.info)

    def _finish(self) -> None:
        if self._early_stopped():
            log.info("early stop: %d validations without improvement", self.bad_validations)
        if self.dev_sampler is not None and self.last_validated != self.step:
            self._validate()
        if self.last_saved != self.step:
            self._save()
        if self.info.is_main:
            self._export()
        ddp.barrier(self.info)

    def _load_final_weights(self) -> None:
        """Put the weights to export into the model: the average of the kept validations' (``average`` > 1), the
        best checkpoint's (``final_model: best``, when a validation kept one), else the last step's."""
        cfg = self.cfg
        if cfg.average > 1 and self.validations:
            self.averaged = self._kept_steps()
            checkpoint.load_trainable(self.model, checkpoint.average_validated(self.ckpt_dir, self.averaged))
            log.info("exporting the average of the validations at steps %s", self.averaged)
        elif cfg.final_model == "best" and checkpoint.load_best(self.ckpt_dir, self.model):
            log.info("exporting the best checkpoint (dev %s %.4f)", cfg.valid_metric, self.best_score)

    def _export(self) -> None:
        """Write the model unit atomically: the final weights loaded, :meth:`export` into a temporary directory
        that replaces ``cfg.unit_dir`` only when complete."""
        self._load_final_weights()
        with atomic_path(self.cfg.unit_dir, is_dir=True, producer=self.PRODUCER) as tmp:
            what = self.export(tmp)
        log.info("%s saved to %s (%.1f MB)", what, self.cfg.unit_dir, dir_size_mb(self.cfg.unit_dir))

    def export(self, out: Path) -> str:
        """Hook: write the unit (PEFT adapter or full HF model, plus :meth:`meta` as ``lwasr.json``) into ``out``;
        return what it is, for the log."""
        cfg = self.cfg
        self.model.save_pretrained(out)
        if cfg.mode == "full":
            self.tokenizer.save_pretrained(out)
            WhisperFeatureExtractor.from_pretrained(self.base_path).save_pretrained(out)
        self.meta().save(out)
        return f"expert {cfg.lang}" if cfg.mode == "expert" else f"{cfg.mode} model"

    def meta(self) -> ModelMeta:
        """Hook: the unit's ``lwasr.json``: base model, languages, prompt, and the run's facts in ``extra``."""
        cfg = self.cfg
        extra: dict[str, Any] = {
            "mode": cfg.mode,
            "steps": self.step,
            "precision": self.precision,
            "frozen_dtype": self.frozen_dtype,
        }
        # what the unit was trained on (an adapted base made from it by lwasr export keeps this)
        extra["data"] = {"cuts": list(cfg.cuts), "hours": {k: round(v, 4) for k, v in sorted(self.train_hours.items())}}
        if math.isfinite(self.best_loss):
            extra["best_dev_loss"] = self.best_loss
        if self.dev_cuts is not None:  # what best_dev_loss was measured on (`lwasr train pick` compares it)
            extra[DEV_SET] = cuts_fingerprint(self.dev_cuts)
        if cfg.valid_metric != "loss" and math.isfinite(self.best_score):
            extra[f"best_dev_{cfg.valid_metric}"] = self.best_score
        if self.validations:  # the dev curve that chose the exported weights: step and dev scores of each validation
            extra["validations"] = self.validations
        if self.averaged:
            extra["averaged_steps"] = self.averaged
        if cfg.mode != "full":
            extra["lora"] = LoraShape.of_settings(cfg).record()
        if cfg.init_adapter:
            extra["init_adapter"] = cfg.init_adapter
        return ModelMeta(
            kind="full" if cfg.mode == "full" else "lora",
            base_model=cfg.model,
            base_fingerprint=self.fingerprint,
            languages=self.languages,
            lang_token=cfg.lang_token,
            trim_encoder_input=cfg.trim_encoder_input,
            extra=extra,
        )


class _Meter:
    """Running loss per token and throughput since the last report."""

    def __init__(self) -> None:
        self.start = time.perf_counter()
        self.loss_sum = self.tokens = self.seconds = self.utts = 0.0

    def add(self, loss_sum: float, tokens: int, seconds: float, utts: int) -> None:
        self.loss_sum += loss_sum
        self.tokens += tokens
        self.seconds += seconds
        self.utts += utts

    @property
    def loss(self) -> float:
        return self.loss_sum / max(self.tokens, 1)

    @property
    def audio_rate(self) -> float:
        return self.seconds / max(time.perf_counter() - self.start, 1e-9)

    @property
    def utt_rate(self) -> float:
        return self.utts / max(time.perf_counter() - self.start, 1e-9)
