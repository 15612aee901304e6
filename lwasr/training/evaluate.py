"""The trainer's teacher-forced loss, outside a training run: a model's dev loss per token on a set of cuts.

:class:`lwasr.training.loop.Trainer` computes its logits with :func:`batch_logits` and sums its dev loss with
:func:`summed_loss`; :func:`cuts_loss` is the same dev loss for a model that is not trained (static fusion
chooses its task-arithmetic scale with it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch
from lhotse import CutSet
from torch import nn
from transformers import PreTrainedTokenizerBase

from lwasr.features import LogMel
from lwasr.models.trim import input_dtype, set_trimmed_input
from lwasr.training import data as D

Batch = dict[str, Any]


def batch_logits(
    net: nn.Module,
    logmel: LogMel,
    batch: Batch,
    *,
    trim: bool,
    autocast: torch.dtype | None,
    augment: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The float32 logits ``[B, L, V]`` of ``net`` on a batch (log-mel on ``logmel``'s device, ``augment``ed when
    given, in the encoder's input dtype; the forward pass autocast to ``autocast`` unless None) and the batch's
    labels ``[B, L]``."""
    dev = logmel.window.device
    feats = logmel(batch["audio"].to(dev), trim=trim)
    if augment is not None:
        feats = augment(feats)
    feats = feats.to(input_dtype(net))
    with torch.autocast(dev.type, dtype=autocast, enabled=autocast is not None):
        logits = net(input_features=feats, decoder_input_ids=batch["decoder_input_ids"].to(dev)).logits
    return logits.float(), batch["labels"].to(dev)


def summed_loss(batches: Iterable[Batch], loss: Callable[[Batch], tuple[torch.Tensor, int]]) -> tuple[float, float]:
    """``loss`` (summed loss, tokens) added up over ``batches`` without gradients: (total loss, total tokens)."""
    total = tokens = 0.0
    with torch.no_grad():
        for batch in batches:
            loss_sum, n = loss(batch)
            total, tokens = total + loss_sum.item(), tokens + n
    return total, tokens


def cuts_loss(
    model: nn.Module,
    tokenizer: PreTrainedTokenizerBase,
    cuts: CutSet,
    *,
    lang_token: bool,
    trim: bool,
    max_duration: float,
    num_buckets: int = 10,
    autocast: torch.dtype | None = None,
) -> float:
    """The trainer's dev loss of ``model`` (in eval mode, on its own device) on ``cuts``: cross-entropy per token of
    text + end token, with or without the language token in the prompt, on trimmed or 30-s encoder input, with the
    forward pass autocast to ``autocast`` unless None."""
    device = next(model.parameters()).device
    logmel = LogMel(model.config.num_mel_bins).to(device)
    set_trimmed_input(model, trim)
    dataset = D.AsrDataset(tokenizer, lang_token=lang_token, max_target_len=model.config.max_target_positions)
    sampler = D.make_sampler(cuts, max_duration, num_buckets=num_buckets, shuffle=False, seed=0, world_size=1, rank=0)
    model.eval()
    total, tokens = summed_loss(
        D.make_loader(dataset, D.SkipFirst(sampler), 0),
        lambda batch: D.token_loss(*batch_logits(model, logmel, batch, trim=trim, autocast=autocast)),
    )
    return total / max(tokens, 1)
