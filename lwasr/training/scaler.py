"""float16 training with a dynamic loss scaler, for GPUs without bfloat16 (V100, T4).

float16 has bfloat16's 16 bits but a far narrower exponent: small gradients underflow to zero. The documented
cure is ``torch.amp.GradScaler``: the loss is multiplied by a large scale before ``backward``, the gradients are
divided by it again before clipping and the optimizer step, and a step whose gradients overflowed (inf or NaN) is
skipped while the scale halves; after ``growth_interval`` good steps the scale doubles. The weights and the
optimizer stay float32 (autocast computes the forward pass in float16).

The :class:`~lwasr.training.loop.Trainer` uses :func:`loss_scaler` for every run: for any other precision it is a
disabled ``GradScaler``, whose calls are the plain ``backward`` and ``optimizer.step``. Its state is part of a
checkpoint, so that a resumed run continues with the scale the uninterrupted run had.
"""

from __future__ import annotations

import torch


def loss_scaler(autocast: torch.dtype | None, device: torch.device) -> torch.amp.GradScaler:
    """A ``GradScaler`` for ``device``'s type, enabled only when the forward pass autocasts to float16."""
    return torch.amp.GradScaler(device.type, enabled=autocast == torch.float16)


def optimizer_step(
    scaler: torch.amp.GradScaler, optimizer: torch.optim.Optimizer, params: list[torch.Tensor], max_grad_norm: float
) -> None:
    """Clip the true (unscaled) gradients of ``params`` to ``max_grad_norm`` (0: no clipping), then step
    ``optimizer`` through ``scaler``: a step whose gradients are not finite is skipped and the scale lowered."""
    scaler.unscale_(optimizer)
    if max_grad_norm > 0:
        torch.nn.utils.clip_grad_norm_(params, max_grad_norm)
    scaler.step(optimizer)
    scaler.update()
