"""The torch log-mel frontend matches transformers' WhisperFeatureExtractor."""

import numpy as np
import pytest
import torch
from transformers import WhisperFeatureExtractor

from lwasr.features import CHUNK_FRAMES, LogMel


@pytest.mark.parametrize("n_mels", [80, 128])
def test_logmel_matches_whisper_feature_extractor(n_mels):
    rng = np.random.default_rng(0)
    clips = [rng.standard_normal(n).astype(np.float32) * 0.1 for n in (16000, 40000, 7777)]
    ref = WhisperFeatureExtractor(feature_size=n_mels)(clips, sampling_rate=16000, return_tensors="np")
    batch = torch.zeros(len(clips), max(len(c) for c in clips))
    for i, c in enumerate(clips):
        batch[i, : len(c)] = torch.from_numpy(c)
    ours = LogMel(n_mels)(batch).numpy()
    assert ours.shape == ref.input_features.shape == (3, n_mels, CHUNK_FRAMES)
    np.testing.assert_allclose(ours, ref.input_features, atol=2e-5)


def test_trimmed_features_are_even_and_match_the_prefix():
    audio = torch.randn(2, 16001) * 0.1
    mel = LogMel(80)
    trimmed = mel(audio, trim=True)
    assert trimmed.shape[-1] % 2 == 0 and trimmed.shape[-1] == 102
    full = mel(audio)
    # away from the end (reflect padding) and up to the per-clip peak, the frames agree
    np.testing.assert_allclose(trimmed[..., :90].numpy(), full[..., :90].numpy(), atol=1e-5)


def test_audio_over_30_seconds_is_rejected():
    with pytest.raises(ValueError, match="longer than 30 s"):
        LogMel(80)(torch.zeros(1, 30 * 16000 + 1))
