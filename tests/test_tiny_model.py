"""The tiny test model is a complete Whisper directory: it loads and generates with language and task."""

import numpy as np
import torch
from transformers import WhisperForConditionalGeneration, WhisperProcessor


def test_tiny_whisper_generates_with_language(tiny_whisper):
    model = WhisperForConditionalGeneration.from_pretrained(tiny_whisper).eval()
    proc = WhisperProcessor.from_pretrained(tiny_whisper)
    audio = np.random.default_rng(0).standard_normal(16000).astype(np.float32) * 0.1
    feats = proc.feature_extractor(audio, sampling_rate=16000, return_tensors="pt").input_features
    with torch.no_grad():
        out = model.generate(feats, language="pl", task="transcribe", max_new_tokens=5)
    # transformers 5 returns only the generated tokens, without the forced prompt
    assert 1 <= out.shape[1] <= 5
    assert int(out.max()) < model.config.vocab_size
    proc.tokenizer.set_prefix_tokens(language="pl", task="transcribe", predict_timestamps=False)
    prompt = proc.tokenizer.convert_ids_to_tokens(proc.tokenizer("").input_ids[:4])
    assert prompt == ["<|startoftranscript|>", "<|pl|>", "<|transcribe|>", "<|notimestamps|>"]
    assert isinstance(proc.tokenizer.decode(out[0], skip_special_tokens=True), str)


def test_tiny_whisper_detects_a_language(tiny_whisper):
    model = WhisperForConditionalGeneration.from_pretrained(tiny_whisper).eval()
    feats = torch.randn(1, 80, 3000)
    lang_ids = model.detect_language(feats)
    tok_ids = set(model.generation_config.lang_to_id.values())
    assert int(lang_ids[0]) in tok_ids
    assert len(tok_ids) == 99
