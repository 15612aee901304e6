"""Trimmed encoder input: identical to the stock encoder at 3000 frames, and accepts shorter input."""

import pytest
import torch
from transformers import WhisperForConditionalGeneration

from lwasr.models.trim import is_trimmed, set_trimmed_input


def test_trimmed_encoder_equals_stock_encoder_on_full_input(tiny_whisper):
    model = WhisperForConditionalGeneration.from_pretrained(tiny_whisper).eval()
    feats = torch.randn(2, 80, 3000)
    with torch.no_grad():
        ref = model.model.encoder(feats).last_hidden_state
        set_trimmed_input(model)
        assert is_trimmed(model)
        ours = model.model.encoder(feats).last_hidden_state
    torch.testing.assert_close(ours, ref)
    set_trimmed_input(model, False)
    assert not is_trimmed(model)
    with pytest.raises(ValueError):
        model.model.encoder(torch.randn(1, 80, 400))


def test_trimmed_input_trains_and_generates(tiny_whisper):
    model = WhisperForConditionalGeneration.from_pretrained(tiny_whisper)
    set_trimmed_input(model)
    feats = torch.randn(2, 80, 400)
    labels = torch.tensor([[50258, 50269, 50359, 50363, 100, 50257]] * 2)
    out = model(input_features=feats, labels=labels)
    out.loss.backward()
    assert model.model.encoder.conv1.weight.grad is not None
    assert model.get_encoder()(feats).last_hidden_state.shape[1] == 200
    model.eval()
    with torch.no_grad():
        gen = model.generate(feats, language="pl", task="transcribe", max_new_tokens=3)
    assert gen.shape[0] == 2
