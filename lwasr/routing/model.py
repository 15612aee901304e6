"""The router's classifier, the pooled encoder states it reads, and the ``router`` unit on disk.

Unit layout (``lwasr.json`` kind ``router``)::

    <unit>/lwasr.json            base model and fingerprint, languages (the experts'), lang_token, and in
                                 trim_encoder_input the input its features were computed on; extra.router: the
                                 head, the experts dir it routes (path, relpath), training and dev LID accuracy
    <unit>/router.safetensors    the head's weights and its feature normalisation
    <unit>/training.jsonl        per step: train loss, dev loss and accuracy
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from lwasr.errors import LwasrError
from lwasr.features import HOP_LENGTH, SAMPLE_RATE
from lwasr.units.meta import ModelMeta
from lwasr.units.weights import check_finite_files

WEIGHTS_FILE = "router.safetensors"
#: Encoder frames per second of audio (10-ms mel frames, halved by the encoder's strided convolution).
FRAMES_PER_SECOND = SAMPLE_RATE / HOP_LENGTH / 2


def pool(hidden: torch.Tensor, seconds: Sequence[float]) -> torch.Tensor:
    """``[batch, d_model]`` float32 mean of each row's encoder states over its own clip's frames (not the padding)."""
    frames = hidden.shape[1]
    lengths = torch.tensor(
        [max(1, min(frames, math.ceil(s * FRAMES_PER_SECOND))) for s in seconds], device=hidden.device
    )
    mask = torch.arange(frames, device=hidden.device)[None, :] < lengths[:, None]
    return (hidden.float() * mask[..., None]).sum(1) / lengths[:, None]


class RouterHead(nn.Module):
    """Language logits from pooled states: standardised, then linear (``hidden`` 0) or a one-hidden-layer MLP."""

    def __init__(self, d_model: int, n_langs: int, hidden: int = 0) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(d_model))
        self.register_buffer("scale", torch.ones(d_model))
        if hidden:
            self.net: nn.Module = nn.Sequential(nn.Linear(d_model, hidden), nn.ReLU(), nn.Linear(hidden, n_langs))
        else:
            self.net = nn.Linear(d_model, n_langs)

    def standardise_on(self, pooled: torch.Tensor) -> None:
        """Set the normalisation to the mean and standard deviation of ``pooled`` (the training features)."""
        self.mean.copy_(pooled.mean(0))
        self.scale.copy_(pooled.std(0, unbiased=False).clamp_min(1e-6))

    def forward(self, pooled: torch.Tensor) -> torch.Tensor:
        return self.net((pooled.float() - self.mean) / self.scale)


def head_of(info: dict[str, Any], n_langs: int) -> RouterHead:
    """An untrained head of the shape ``extra.router`` records."""
    return RouterHead(int(info["d_model"]), n_langs, int(info["hidden"]))


def save_router(unit_dir: Path, head: RouterHead, meta: ModelMeta) -> None:
    """Write the head's weights (safetensors) and ``lwasr.json`` into ``unit_dir``."""
    save_file({k: v.detach().cpu().contiguous() for k, v in head.state_dict().items()}, str(unit_dir / WEIGHTS_FILE))
    meta.save(unit_dir)


def load_router(unit_dir: str | Path) -> tuple[ModelMeta, RouterHead]:
    """A saved router unit's ``lwasr.json`` and its head (eval mode); LwasrError when it is not one or is damaged."""
    unit_dir = Path(unit_dir)
    meta = ModelMeta.load(unit_dir)
    if meta.kind != "router":
        raise LwasrError(f"{unit_dir} is a {meta.kind!r} unit, not a router (`lwasr router train` writes one)")
    head = head_of(meta.extra["router"], len(meta.languages))
    check_finite_files(unit_dir)
    try:
        head.load_state_dict(load_file(str(unit_dir / WEIGHTS_FILE)))
    except (OSError, SafetensorError, RuntimeError) as e:
        raise LwasrError(f"{unit_dir / WEIGHTS_FILE} cannot be loaded ({e}); train the router again") from e
    return meta, head.eval()


def experts_ref(experts_dir: Path, unit_dir: Path) -> dict[str, str]:
    """How a router records the experts dir it routes: absolute, and relative to the unit (tried first)."""
    return {"path": str(experts_dir.resolve()), "relpath": os.path.relpath(experts_dir.resolve(), unit_dir.resolve())}


def experts_dir_of(unit_dir: str | Path, meta: ModelMeta) -> Path:
    """The experts dir a router unit routes (its relative path first, then the absolute one)."""
    ref = meta.extra["router"]["experts"]
    for path in ((Path(unit_dir) / ref["relpath"]).resolve(), Path(ref["path"])):
        if path.is_dir():
            return path
    raise LwasrError(f"the experts of the router {unit_dir} are not found at {ref['path']} (nor {ref['relpath']})")
