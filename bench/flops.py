"""FLOPs of a Whisper model, counted analytically from its shape: LoRA training steps and greedy decoding.

The one count of the benchmarks (bench/gpu_train.py, bench/machine_fraction.py); tests/test_bench_flops.py checks
it against ``torch.utils.flop_counter.FlopCounterMode`` on the tiny Whisper. Counted: every matmul (2 FLOPs per
multiply-add) of the linear layers, the attention scores and their weighted sums, the two front-end convolutions
and the output projection; not counted: layer norms, softmax, GELU, the loss (a few % of the total, as usual for
model FLOPs and MFU).

Training (a LoRA on every adapted linear layer, the base frozen): the forward pass, then the backward pass, which
needs the gradients of the activations everywhere above the first LoRA (a frozen layer still passes them down:
one more matmul the size of its forward) and the weight gradients of the LoRA factors only (a second one, for
them). So a frozen matmul costs 2x its forward, a LoRA matmul 3x, attention 3x (both its operands are activations
that need their gradients), and what lies below every LoRA (the convolution front-end, and the frozen q, k, v
projections of the first encoder and decoder layer, whose inputs need no gradient) 1x. With 30 s of audio the
encoder sees 1500 positions; trimmed input (lwasr's default) 50 per second of audio.

Decoding (lwasr's greedy search with a KV cache, :mod:`lwasr.decoding.greedy`): the encoder once, the decoder
on the prompt (prefill, full attention over it), then one position per new token, attending to all earlier
ones; the cross-attention keys and values are projected once; the output projection only for the last position
of each call.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

#: Mel frames per second of audio (10 ms hop); the encoder halves them (stride-2 convolution).
FRAMES_PER_SECOND = 100
#: Frames of one 30-s window, all that stock Whisper's encoder accepts.
FULL_FRAMES = 3000


@dataclass(frozen=True)
class Shape:
    """What the FLOPs of a Whisper model depend on."""

    d_model: int
    encoder_layers: int
    decoder_layers: int
    heads: int
    ffn: int
    mels: int
    vocab: int

    @classmethod
    def of_config(cls, config: Any) -> Shape:
        """The shape of a ``transformers.WhisperConfig``."""
        return cls(**{field: getattr(config, name) for field, name in _CONFIG_NAMES.items()})

    def config_kwargs(self) -> dict[str, int]:
        """The ``transformers.WhisperConfig`` arguments of a model of this shape (the inverse of :meth:`of_config`)."""
        kwargs = {name: getattr(self, field) for field, name in _CONFIG_NAMES.items()}
        return {**kwargs, "decoder_attention_heads": self.heads, "decoder_ffn_dim": self.ffn}


#: Shape field -> WhisperConfig attribute (the decoder's heads and ffn width are the encoder's in every Whisper).
_CONFIG_NAMES = {
    "d_model": "d_model",
    "encoder_layers": "encoder_layers",
    "decoder_layers": "decoder_layers",
    "heads": "encoder_attention_heads",
    "ffn": "encoder_ffn_dim",
    "mels": "num_mel_bins",
    "vocab": "vocab_size",
}

SHAPES: dict[str, Shape] = {
    "large-v3": Shape(1280, 32, 32, 20, 5120, 128, 51866),
    "medium": Shape(1024, 24, 24, 16, 4096, 80, 51865),
    "small": Shape(768, 12, 12, 12, 3072, 80, 51865),
    "base": Shape(512, 6, 6, 8, 2048, 80, 51865),
    "tiny": Shape(384, 4, 4, 6, 1536, 80, 51865),
}


class _Count:
    """FLOPs summed by how often a training step repeats them: ``once`` (forward only), ``twice`` (a frozen matmul
    whose input needs its gradient, or a LoRA factor whose input does not: forward and one gradient), ``thrice``
    (a LoRA factor whose input needs its gradient, and attention, both of whose operands do: forward and two
    gradients)."""

    def __init__(self, rank: int) -> None:
        self.rank = rank
        self.once = self.twice = self.thrice = 0.0

    def linear(self, n_in: int, n_out: int, positions: int, *, first: bool = False) -> None:
        """A linear layer with a LoRA (when ``rank``) over ``positions``; ``first``: its input needs no gradient."""
        base = 2.0 * n_in * n_out * positions
        lora_a, lora_b = 2.0 * self.rank * n_in * positions, 2.0 * self.rank * n_out * positions
        if first:
            self.once += base
            self.twice += lora_a
        else:
            self.twice += base
            self.thrice += lora_a
        self.thrice += lora_b

    def training(self) -> float:
        return self.once + 2 * self.twice + 3 * self.thrice

    def forward(self) -> float:
        return self.once + self.twice + self.thrice


def _encoder(count: _Count, s: Shape, frames: int) -> int:
    """Add the encoder's FLOPs on ``frames`` mel frames to ``count``; return its positions."""
    positions = frames // 2
    count.once += 2.0 * frames * s.mels * 3 * s.d_model + 2.0 * positions * s.d_model * 3 * s.d_model
    for layer in range(s.encoder_layers):
        for _ in ("q", "k", "v"):
            count.linear(s.d_model, s.d_model, positions, first=layer == 0)
        count.linear(s.d_model, s.d_model, positions)  # out
        count.thrice += 4.0 * positions * positions * s.d_model  # scores and weighted sum
        count.linear(s.d_model, s.ffn, positions)
        count.linear(s.ffn, s.d_model, positions)
    return positions


def _decoder_layers(count: _Count, s: Shape, positions: int, enc_positions: int, cross_kv: bool) -> None:
    """The decoder layers on ``positions`` new positions, attention left out; ``cross_kv``: project the encoder
    states to cross-attention keys and values (once per utterance)."""
    for layer in range(s.decoder_layers):
        for _ in ("q", "k", "v"):
            count.linear(s.d_model, s.d_model, positions, first=layer == 0)
        count.linear(s.d_model, s.d_model, positions)  # self out
        count.linear(s.d_model, s.d_model, positions)  # cross q
        if cross_kv:
            count.linear(s.d_model, s.d_model, enc_positions)
            count.linear(s.d_model, s.d_model, enc_positions)
        count.linear(s.d_model, s.d_model, positions)  # cross out
        count.linear(s.d_model, s.ffn, positions)
        count.linear(s.ffn, s.d_model, positions)


def train_flops(shape: Shape, frames: int, dec_len: int, rank: int) -> float:
    """FLOPs of one LoRA training step on one utterance: ``frames`` mel frames in (trimmed: 100 per second of audio;
    stock: 3000), ``dec_len`` decoder positions (prompt + text, teacher-forced), a rank-``rank`` LoRA (at least 1)
    on q, k, v, out, fc1, fc2 of every layer."""
    count = _Count(rank)
    enc = _encoder(count, shape, frames)
    _decoder_layers(count, shape, dec_len, enc, cross_kv=True)
    attention = 4.0 * dec_len * dec_len * shape.d_model + 4.0 * dec_len * enc * shape.d_model
    count.thrice += shape.decoder_layers * attention
    count.twice += 2.0 * dec_len * shape.d_model * shape.vocab  # output projection, every position
    return count.training()


def decode_flops(shape: Shape, frames: int, prompt_len: int, new_tokens: int, rank: int = 0) -> float:
    """FLOPs of greedy decoding of one utterance with a KV cache: the encoder on ``frames``, the decoder on the
    ``prompt_len`` prompt then on one position per further token, ``new_tokens`` tokens chosen (each after one
    output projection); ``rank``: an unmerged LoRA's rank (0: none or merged)."""
    count = _Count(rank)
    enc = _encoder(count, shape, frames)
    positions = prompt_len + new_tokens - 1  # the last token chosen is never fed back
    _decoder_layers(count, shape, positions, enc, cross_kv=True)
    d = shape.d_model
    self_attention = 4.0 * prompt_len * prompt_len * d + sum(4.0 * d * (i + 1) for i in range(prompt_len, positions))
    count.twice += shape.decoder_layers * (self_attention + 4.0 * positions * enc * d)
    count.twice += 2.0 * new_tokens * d * shape.vocab
    return count.forward()
