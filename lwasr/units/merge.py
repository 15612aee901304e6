"""A decodable model as one standalone Hugging Face Whisper directory: adapters merged into the weights.

Shared by ``lwasr export`` and by anything else that writes a merged model (``lwasr fuse --merge``).
"""

from __future__ import annotations

from pathlib import Path

from peft import PeftModel
from peft.tuners.lora import LoraLayer
from torch import nn
from transformers import WhisperFeatureExtractor, WhisperForConditionalGeneration, WhisperTokenizerFast

from lwasr.models.assets import feature_extractor
from lwasr.models.trim import set_trimmed_input

PREPROCESSOR_FILE = "preprocessor_config.json"


def merged_whisper(model: nn.Module) -> WhisperForConditionalGeneration:
    """The plain Whisper model of ``model`` (changed in place), with the trimmed-input patch removed.

    A PeftModel's active adapters are merged into the weights (peft ``merge_and_unload``); one whose adapters
    are merged already (the MoE and expert systems merge them for decoding) only loses its LoRA layers.
    """
    if isinstance(model, PeftModel):
        merged = any(isinstance(m, LoraLayer) and m.merged for m in model.modules())
        model = model.unload() if merged else model.merge_and_unload()
    if not isinstance(model, WhisperForConditionalGeneration):
        raise TypeError(f"expected a Whisper model, got {type(model).__name__}")
    set_trimmed_input(model, False)
    return model


def feature_extractor_of(model: WhisperForConditionalGeneration) -> WhisperFeatureExtractor:
    """The feature extractor of the directory ``model`` was loaded from, else Whisper's for its mel bins."""
    source = Path(model.name_or_path or "")
    if (source / PREPROCESSOR_FILE).is_file():
        return WhisperFeatureExtractor.from_pretrained(source)
    return feature_extractor(model.config.num_mel_bins)


def save_standalone(model: WhisperForConditionalGeneration, tokenizer: WhisperTokenizerFast, out: Path) -> None:
    """Write ``model`` into ``out`` as transformers loads it: weights, config, generation config, tokenizer and
    feature extractor (``from_pretrained`` and ``pipeline("automatic-speech-recognition")`` need nothing else)."""
    extractor = feature_extractor_of(model)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    extractor.save_pretrained(out)
