"""LoRA adapters on Whisper with PEFT: configuration, application, size report."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from peft import LoraConfig, PeftModel, get_peft_model
from torch import nn

from lwasr.errors import LwasrError
from lwasr.training.config import TrainConfig
from lwasr.units.weights import check_finite_files

#: Module types of a Whisper that peft can put a LoRA on.
LORA_TYPES = (nn.Linear, nn.Conv1d, nn.Embedding)


def lora_config(cfg: TrainConfig) -> LoraConfig:
    """The LoRA configuration of a run: ``lora_target_modules`` in every encoder and decoder layer.

    Whisper's module names make the default (q_proj, k_proj, v_proj, out_proj, fc1, fc2) match encoder
    self-attention, decoder self- and cross-attention and both feed-forward layers.
    """
    return LoraConfig(
        r=cfg.lora_rank,
        lora_alpha=cfg.lora_alpha,
        lora_dropout=cfg.lora_dropout,
        target_modules=list(cfg.lora_target_modules),
        bias="none",
    )


def check_target_modules(model: nn.Module, targets: list[str]) -> None:
    """Refuse a target name that matches no module, or a module LoRA cannot adapt (peft's suffix matching)."""
    modules = dict(model.named_modules())
    adaptable = sorted({name.rsplit(".", 1)[-1] for name, m in modules.items() if isinstance(m, LORA_TYPES)})
    for target in targets:
        matched = [m for name, m in modules.items() if name == target or name.endswith(f".{target}")]
        if not matched or not all(isinstance(m, LORA_TYPES) for m in matched):
            raise LwasrError(
                f"lora_target_modules: {target!r} names no linear, conv or embedding layer of the model;"
                f" it has: {', '.join(adaptable)}"
            )


def apply_lora(model: nn.Module, cfg: TrainConfig) -> PeftModel:
    """Freeze ``model`` and add one trainable LoRA adapter (named ``default``)."""
    return get_peft_model(model, lora_config(cfg))


def warm_lora(model: nn.Module, unit: str | Path, dropout: float) -> PeftModel:
    """Freeze ``model`` and add the LoRA adapter saved in ``unit`` as its trainable adapter: a warm start with the
    adapter's weights, rank, scaling and target modules, and LoRA dropout ``dropout``."""
    check_finite_files(unit)
    config = dataclasses.replace(LoraConfig.from_pretrained(str(unit)), lora_dropout=dropout, inference_mode=False)
    return PeftModel.from_pretrained(model, str(unit), is_trainable=True, config=config)


def dir_size_mb(path: str | Path) -> float:
    """Total size of the files under ``path`` in MB."""
    return sum(f.stat().st_size for f in Path(path).rglob("*") if f.is_file()) / 1e6
