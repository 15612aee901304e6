"""Learned fusion (``lwasr fuse --method learned``): frozen experts, small fusion weights trained on pooled data.

The gate is one scalar weight per expert and *group* of LoRA modules. A group is a module (``gate=module``, the
default), a layer (``gate=layer``: all adapted modules of one encoder or decoder layer) or the whole model
(``gate=global``). Weights are a softmax over the experts of each group (``gate_fn=softmax``, the default) or
unconstrained (``gate_fn=linear``); both start uniform at 1/n, which is exactly static ``sum`` fusion.

In module ``m`` of group ``g`` the gated model adds ``sum_i w[g, i] * s_i * B_i @ A_i`` to the frozen weight.
That is the exact weighted sum of :func:`lwasr.fusion.static.sum_factors` with per-module weights, so after
training it is folded, without approximation, into one concatenated LoRA adapter: a plain PEFT adapter that
decodes at the cost of one LoRA. An input-dependent router (weights computed from pooled encoder states) does
not fold into a static adapter, so it is not offered here (see docs/fusion.md).

Training reuses :class:`lwasr.training.loop.Trainer` (same checkpoints, exact resume, dev loss, best model):
only its hooks :meth:`FusionTrainer.build` (the gated experts), ``export`` (the folded adapter) and ``meta`` differ.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

import torch
from peft import PeftModel
from torch import nn

from lwasr.errors import LwasrError
from lwasr.fusion import PRODUCER as FUSE
from lwasr.fusion.config import FuseConfig
from lwasr.fusion.merge import write_fused
from lwasr.fusion.static import FUSED, add_factors, sum_factors
from lwasr.fusion.trajectory import (
    TRAJECTORY,
    TRAJECTORY_PNG,
    Record,
    gate_record,
    plot_trajectory,
    read_trajectory,
    write_trajectory,
)
from lwasr.training.loop import Trainer, checkpoint_activations, plan_train, train
from lwasr.training.select import DEV_SET
from lwasr.units.experts import Factors, attach_experts, expert_factors, load_experts, lora_layers
from lwasr.units.meta import META_FILE, LoraShape, ModelMeta, check_same_base
from lwasr.units.mixture import WeightedAdapters, freeze_adapters

log = logging.getLogger("lwasr.train")


def group_of(module: str, gate: str) -> str:
    """The gate group of a LoRA module name (``model.decoder.layers.3.fc1``) under ``gate``."""
    if gate == "global":
        return "all"
    if gate == "layer":
        m = re.match(r"(.*\.layers\.\d+)\.", module)
        return m.group(1) if m else module
    return module


class FusionGate(nn.Module):
    """Fusion weights ``[groups, experts]``: a softmax of free logits over experts, or free weights; 1/n at start."""

    def __init__(self, groups: list[str], n_experts: int, fn: str) -> None:
        super().__init__()
        self.groups, self.fn = list(groups), fn
        start = 0.0 if fn == "softmax" else 1.0 / n_experts
        self.logits = nn.Parameter(torch.full((len(groups), n_experts), start))

    def weights(self) -> torch.Tensor:
        return self.logits.softmax(-1) if self.fn == "softmax" else self.logits


class GatedExperts(nn.Module):
    """Base + experts (frozen) where every LoRA module adds its experts' updates weighted by :class:`FusionGate`
    (a :class:`~lwasr.units.mixture.WeightedAdapters` mixture). Only ``gate.logits`` is trainable.
    """

    def __init__(self, model: PeftModel, langs: list[str], gate: str, gate_fn: str) -> None:
        super().__init__()
        self.peft, self.langs, self.granularity = model, list(langs), gate
        self.layers = lora_layers(model)
        groups = list(dict.fromkeys(group_of(name, gate) for name in self.layers))
        model.requires_grad_(False)
        freeze_adapters(model, self.langs)
        self.gate = FusionGate(groups, len(langs), gate_fn)
        self.start = self.gate.weights().detach().clone()
        # this step's gate weights, in a dict: as an attribute, the linear gate's weights (its logits, a Parameter)
        # would be registered as a parameter of this module and land in its checkpoints
        self._step: dict[str, torch.Tensor] = {}
        self._group = {name: groups.index(group_of(name, gate)) for name in self.layers}
        self.mixture = WeightedAdapters(model, self._layer_weights)

    @property
    def config(self) -> Any:
        return self.peft.config

    def gradient_checkpointing_enable(self, **kwargs: Any) -> None:
        checkpoint_activations(self.peft)

    def forward(self, **kwargs: Any) -> Any:
        # kept until the next forward, not cleared after this one: with gradient checkpointing the checkpointed
        # layers run their forward again during backward, gate hooks included, and need this step's weights
        self._step["weights"] = self.gate.weights()
        return self.peft(**kwargs)

    def _layer_weights(self, module: str, x: torch.Tensor) -> list[tuple[str, torch.Tensor]]:
        """The experts' weights in LoRA module ``module``: its group's row of the gate (set by :meth:`forward`)."""
        w = self._step["weights"][self._group[module]]
        return [(lang, w[i]) for i, lang in enumerate(self.langs)]

    def module_weights(self) -> dict[str, list[float]]:
        """Module name -> its weight per expert (in ``langs`` order)."""
        w = self.gate.weights().detach().double().cpu()
        index = {g: i for i, g in enumerate(self.gate.groups)}
        return {name: w[index[group_of(name, self.granularity)]].tolist() for name in self.layers}

    def group_weights(self) -> dict[str, dict[str, float]]:
        """Gate group -> language -> weight (what lwasr.json records)."""
        rows = self.gate.weights().detach().double().cpu().tolist()
        return {g: dict(zip(self.langs, row, strict=True)) for g, row in zip(self.gate.groups, rows, strict=True)}

    def record(self, step: int) -> Record:
        """The trajectory record of the gate now (at ``step``); see :mod:`lwasr.fusion.trajectory`."""
        return gate_record(step, self.gate.weights(), self.start, self.langs)

    def fold(self) -> None:
        """Add adapter ``fused`` to the PeftModel holding the learned weighted sum exactly (see :func:`fold`)."""
        factors = {lang: expert_factors(self.peft, lang) for lang in self.langs}
        same_modules = all(set(f) == set(self.layers) for f in factors.values())
        add_factors(self.peft, fold(factors, self.module_weights()), self.peft.peft_config[self.langs[0]], same_modules)


def fold(factors: dict[str, dict[str, Factors]], weights: dict[str, list[float]]) -> dict[str, Factors]:
    """Per module ``m``: the exact sum ``sum_i weights[m][i] * s_i * B_i @ A_i`` as concatenated factors.

    ``factors``: language -> module -> Factors, in the order of each ``weights[m]``; static ``sum`` per module.
    """
    experts = list(factors.values())
    out: dict[str, Factors] = {}
    for name, w in weights.items():
        out |= sum_factors([{name: f[name]} if name in f else {} for f in experts], w)
    return out


class FusionTrainer(Trainer):
    """Trains :class:`GatedExperts` with the plain cross-entropy; exports the folded static adapter.

    The gate is logged every ``log_every`` steps to ``<run dir>/gate_trajectory.jsonl``, which the unit gets a copy
    of, with its plot (``gate_trajectory.png``).
    """

    PRODUCER = FUSE
    cfg: FuseConfig
    model: GatedExperts
    trajectory: list[Record] | None = None  # this process's records, once it logged one

    def build(self, base: nn.Module) -> nn.Module:
        cfg = self.cfg
        self.experts = load_experts(cfg.experts, list(cfg.langs or []))
        check_same_base({**{e.lang: e.meta.base_fingerprint for e in self.experts}, cfg.model: self.fingerprint})
        return GatedExperts(attach_experts(base, self.experts), [e.lang for e in self.experts], cfg.gate, cfg.gate_fn)

    def after_step(self) -> None:
        """Log the gate (main rank): a resumed run keeps the records of the steps before its checkpoint."""
        if not self.info.is_main or (self.step % self.cfg.log_every and self.step != self.total_steps):
            return
        path = self.cfg.run_dir / TRAJECTORY
        if self.trajectory is None:
            self.trajectory = [r for r in read_trajectory(path) if r["step"] < self.step]
            if not self.trajectory:
                self.trajectory = [gate_record(0, self.model.start, self.model.start, self.model.langs)]
        self.trajectory.append(self.model.record(self.step))
        write_trajectory(path, self.trajectory)

    def export(self, out: Path) -> str:
        self.model.fold()
        write_fused(self.model.peft, out, self.meta(), self.base_path, self.cfg.merge)
        records = read_trajectory(self.cfg.run_dir / TRAJECTORY)
        if records:
            write_trajectory(out / TRAJECTORY, records)
            plot_trajectory(records, out / TRAJECTORY_PNG, f"{self.cfg.gate} gate, {self.cfg.gate_fn}")
        moved = self.model.record(self.step)["max_change"]
        return f"learned fusion of {', '.join(self.model.langs)} (largest gate change {moved:.3g})"

    def meta(self) -> ModelMeta:
        meta = super().meta()
        model, cfg = self.model, self.cfg
        fused = model.peft.peft_config.get(FUSED)
        meta.extra = {
            "fusion": "learned",
            "gate": cfg.gate,
            "gate_fn": cfg.gate_fn,
            "weights": dict(zip(model.langs, model.gate.weights().detach().double().mean(0).tolist(), strict=True)),
            "gate_weights": model.group_weights(),
            "gate_max_change": model.record(self.step)["max_change"],
            **({"rank": fused.r, "lora": LoraShape.of_config(fused).record()} if fused is not None else {}),
            "experts": {e.lang: {"path": str(e.path), "rank": e.config.r} for e in self.experts},
            **{k: v for k, v in meta.extra.items() if k in ("steps", "best_dev_loss", "validations", DEV_SET)},
        }
        return meta


def plan_learned(
    experts_dir: str | Path,
    langs: list[str],
    out: str | Path,
    *,
    merge: bool = False,
    model: str | None = None,
    config: str | Path | None = None,
    overrides: dict[str, Any] | None = None,
) -> FuseConfig:
    """The resolved settings of the learned fusion of the experts for ``langs`` on ``overrides["cuts"]``.

    ``out`` becomes the unit (``<out>/`` adapter + lwasr.json, ``<out>/merged`` with ``merge``); the run's working
    files go to ``<out.parent>/train_<out.name>/``. Settings: :class:`FuseConfig`'s defaults, then
    ``config`` (YAML), then ``overrides`` (TrainConfig/FuseConfig fields). Reads only metadata.
    """
    over = dict(overrides or {})
    if not over.get("cuts"):
        raise LwasrError("--method learned trains the fusion weights on data: give training manifests with --cuts")
    out = Path(out)
    experts = load_experts(experts_dir, langs)
    values = over | dict(mode="shared", experts=str(experts_dir), langs=langs, exp_dir=str(out.parent), name=out.name)
    values |= dict(merge=merge, model=model or experts[0].meta.base_model)
    values.setdefault("trim_encoder_input", experts[0].meta.trim_encoder_input)
    return plan_train(config, values, cls=FuseConfig, trainer=FusionTrainer)


def run_learned(cfg: FuseConfig) -> Path:
    """Train the fusion weights ``cfg`` describes and write the folded adapter; a finished unit is not trained
    again."""
    unit = train(cfg, trainer=FusionTrainer)
    if not (unit / META_FILE).is_file():
        raise LwasrError(f"learned fusion did not write {unit}")
    return unit
