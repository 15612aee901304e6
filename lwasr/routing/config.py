"""The router's settings (``lwasr router train`` and ``eval``); imports nothing heavy, for the CLI."""

from __future__ import annotations

import math
from dataclasses import dataclass

from lwasr.errors import LwasrError
from lwasr.training.config import setting

HEADS = ("linear", "mlp")


@dataclass
class RouterConfig:
    """How the router is trained: its head, the optimisation, and the input its features are computed on."""

    head: str = setting("linear", "linear (softmax regression on the pooled states) or mlp (one hidden ReLU layer).")
    hidden: int = setting(256, "mlp: width of the hidden layer.")
    steps: int = setting(300, "Full-batch AdamW steps over the training features (computed once); dev-selected.")
    lr: float = setting(1e-2, "AdamW learning rate.")
    weight_decay: float = setting(1e-3, "AdamW weight decay.")
    max_utts: int = setting(
        0, "At most this many training utterances per language, the first in manifest order (0: all)."
    )
    trim_encoder_input: bool | None = setting(
        None,
        "Features on trimmed encoder input (the batch's length) or on 30 s. Default: as the experts were trained,"
        " which is how their decode feeds the encoder; the router's features use the decode's input.",
    )
    batch_size: int = setting(16, "Utterances per encoder batch when computing features.")
    seed: int = setting(0, "Random seed of the head's initialisation.")
    device: str = setting("auto", "auto (cuda if any), cpu, cuda, cuda:1...")

    def __post_init__(self) -> None:
        checks = [
            (self.head in HEADS, f"--head must be one of {', '.join(HEADS)}, not {self.head!r}"),
            (self.hidden >= 1, f"--hidden must be at least 1, got {self.hidden}"),
            (self.steps >= 1, f"--steps must be at least 1, got {self.steps}"),
            (math.isfinite(self.lr) and self.lr > 0, f"--lr must be > 0, got {self.lr}"),
            (self.weight_decay >= 0, f"--weight-decay must be >= 0, got {self.weight_decay}"),
            (self.max_utts >= 0, f"--max-utts must be >= 0, got {self.max_utts}"),
            (self.batch_size >= 1, f"--batch-size must be at least 1, got {self.batch_size}"),
        ]
        for ok, message in checks:
            if not ok:
                raise LwasrError(message)
