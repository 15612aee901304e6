"""Trimmed encoder input: feed Whisper's encoder only the real length of a batch.

The transformers Whisper encoder insists on exactly 3000 mel frames (30 s). Like icefall's Whisper
recipe, we instead slice the sinusoidal positional embedding to the input length, so a batch of
4-second clips costs the encoder 400 frames, not 3000 (DESIGN.md measured 8x on CPU for training).
Fine-tuning on trimmed input is what makes decoding trimmed input reliable; zero-shot decoding on
trimmed input works but hallucinates more often.
"""

from __future__ import annotations

import types

import torch
from torch import nn
from transformers.modeling_outputs import BaseModelOutput
from transformers.models.whisper.modeling_whisper import WhisperEncoder


def _trimmed_forward(self: WhisperEncoder, input_features: torch.Tensor, attention_mask=None, **kwargs):
    """WhisperEncoder.forward without the 3000-frame check, with positions sliced to the input length."""
    max_frames = self.config.max_source_positions * self.conv1.stride[0] * self.conv2.stride[0]
    if input_features.shape[-1] > max_frames:
        raise ValueError(f"encoder input has {input_features.shape[-1]} frames; at most {max_frames} fit")
    hidden = nn.functional.gelu(self.conv1(input_features))
    hidden = nn.functional.gelu(self.conv2(hidden)).permute(0, 2, 1)
    hidden = hidden + self.embed_positions.weight[: hidden.shape[1]]
    hidden = nn.functional.dropout(hidden, p=self.dropout, training=self.training)
    for layer in self.layers:
        if self.training and self.layerdrop > 0.0 and torch.rand([]) < self.layerdrop:
            continue
        hidden = layer(hidden, None)
    return BaseModelOutput(last_hidden_state=self.layer_norm(hidden))


def find_encoder(model: nn.Module) -> WhisperEncoder:
    """The WhisperEncoder inside a Whisper model, a PEFT wrapper of one, or a DDP wrapper."""
    for module in model.modules():
        if isinstance(module, WhisperEncoder):
            return module
    raise TypeError(f"no WhisperEncoder inside {type(model).__name__}")


def input_dtype(model: nn.Module) -> torch.dtype:
    """The dtype the model's encoder takes its input features in (its first convolution's): float32, or bfloat16
    for a model cast to it or training on a bfloat16 frozen base."""
    return find_encoder(model).conv1.weight.dtype


def set_trimmed_input(model: nn.Module, enabled: bool = True) -> None:
    """Let the model's encoder accept any even number of frames up to 3000 (or restore the original)."""
    encoder = find_encoder(model)
    if enabled:
        encoder.forward = types.MethodType(_trimmed_forward, encoder)
    elif "forward" in encoder.__dict__:
        del encoder.forward


def is_trimmed(model: nn.Module) -> bool:
    """Whether :func:`set_trimmed_input` is active on this model."""
    return "forward" in find_encoder(model).__dict__
