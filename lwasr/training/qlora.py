"""QLoRA: the frozen base quantised to 8 or 4 bit by bitsandbytes, the LoRA trained on top in float32.

Quantisation follows the libraries' documented way, never patching modules by hand: transformers loads the base
with a ``BitsAndBytesConfig`` (``load_in_8bit``, or ``load_in_4bit`` with NF4 and double quantisation, computing
in the run's autocast precision, or float32), then peft's ``prepare_model_for_kbit_training`` readies it (layer
norms in float32, every base weight frozen). The LoRA (:func:`lwasr.training.lora.apply_lora`) goes on afterwards.

large-v3 (1.55B parameters) needs 6.2 GB as float32 weights; with its linear layers in 8 or 4 bit (the
embeddings and convolutions stay float32) about 1.8 or 1.1 GB. The adapter lwasr writes is an ordinary LoRA: it
is decoded on the unquantised base, whose fingerprint it records.

bitsandbytes is an optional dependency (``pip install 'lwasr[qlora]'``); from 0.50 it runs on CPU as well as on
CUDA.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lwasr.errors import LwasrError

if TYPE_CHECKING:  # torch and transformers are imported when used: the training config imports this module
    import torch
    from torch import nn
    from transformers import BitsAndBytesConfig

#: The values of ``quantize_base``.
QUANTIZE = ("none", "8bit", "4bit")


def check_bitsandbytes(quantize: str) -> None:
    """Refuse ``quantize`` (other than none) in one line when bitsandbytes is not installed."""
    if quantize == "none":
        return
    try:
        import bitsandbytes  # noqa: F401
    except ImportError:
        raise LwasrError(
            f"quantize_base {quantize} needs bitsandbytes, which is not installed: pip install 'lwasr[qlora]'"
            " (or train with quantize_base none)"
        ) from None


def bnb_config(quantize: str, compute_dtype: torch.dtype) -> BitsAndBytesConfig:
    """transformers' quantisation config of ``quantize`` (8bit, or 4bit: NF4, double quantisation, the matmuls
    computed in ``compute_dtype``)."""
    from transformers import BitsAndBytesConfig

    if quantize == "8bit":
        return BitsAndBytesConfig(load_in_8bit=True)
    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_use_double_quant=True,
        bnb_4bit_compute_dtype=compute_dtype,
    )


def load_quantized(spec: str, quantize: str, device: torch.device, compute_dtype: torch.dtype) -> nn.Module:
    """The Whisper ``spec`` with its linear layers quantised to ``quantize`` on ``device``, every weight frozen and
    ready for a LoRA (peft's ``prepare_model_for_kbit_training``); ``compute_dtype``: the run's autocast dtype, or
    float32."""
    from peft import prepare_model_for_kbit_training

    from lwasr.units.base import load_whisper, quiet_peft_wrapping

    check_bitsandbytes(quantize)
    config = bnb_config(quantize, compute_dtype)
    model, _ = load_whisper(spec, quantization_config=config, device_map={"": device})
    model.config.use_cache = False
    with quiet_peft_wrapping():
        # the trainer turns gradient checkpointing on itself (non-reentrant), as for an unquantised base
        return prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
