"""Whisper log-mel features computed with ``torch.stft`` on the training/decoding device.

Numerically matches ``WhisperFeatureExtractor`` (tests/test_features.py checks it), but works on a
batch tensor already on the GPU, and can stop at the batch's real length instead of padding to 30 s
("trimmed" input, see :mod:`lwasr.models.trim`).
"""

from __future__ import annotations

import torch
from torch import nn
from transformers import WhisperFeatureExtractor

SAMPLE_RATE = 16000
HOP_LENGTH = 160
N_FFT = 400
CHUNK_SAMPLES = 30 * SAMPLE_RATE  # Whisper's fixed 30 s window
CHUNK_FRAMES = CHUNK_SAMPLES // HOP_LENGTH  # 3000


class LogMel(nn.Module):
    """Batch log-mel spectrogram exactly as Whisper computes it.

    ``forward(audio)`` takes ``[batch, samples]`` float audio at 16 kHz (zero-padded) and returns
    ``[batch, n_mels, frames]``. With ``trim=False`` the audio is padded to 30 s (3000 frames), as
    Whisper was trained; with ``trim=True`` it is padded only to the batch's longest clip, rounded up
    to an even number of frames (the encoder's convolution has stride 2).
    """

    def __init__(self, n_mels: int = 80) -> None:
        super().__init__()
        filters = WhisperFeatureExtractor(feature_size=n_mels).mel_filters  # [n_fft//2+1, n_mels]
        self.register_buffer("mel_filters", torch.from_numpy(filters.T.copy()).float(), persistent=False)
        self.register_buffer("window", torch.hann_window(N_FFT), persistent=False)

    @staticmethod
    def num_frames(num_samples: int, trim: bool) -> int:
        """Frames the features will have for audio of ``num_samples`` (always even, at most 3000)."""
        if not trim:
            return CHUNK_FRAMES
        frames = -(-num_samples // HOP_LENGTH)
        return min(CHUNK_FRAMES, frames + frames % 2)

    def forward(self, audio: torch.Tensor, trim: bool = False) -> torch.Tensor:
        if audio.dim() == 1:
            audio = audio.unsqueeze(0)
        if audio.shape[-1] > CHUNK_SAMPLES:
            raise ValueError(f"audio longer than 30 s ({audio.shape[-1] / SAMPLE_RATE:.1f} s)")
        target = self.num_frames(audio.shape[-1], trim) * HOP_LENGTH
        audio = nn.functional.pad(audio.float(), (0, target - audio.shape[-1]))
        stft = torch.stft(audio, N_FFT, HOP_LENGTH, window=self.window, return_complex=True)
        power = (stft[..., :-1].abs() ** 2).contiguous()
        log_spec = torch.clamp(self.mel_filters @ power, min=1e-10).log10()
        peak = log_spec.amax(dim=(1, 2), keepdim=True)
        log_spec = torch.maximum(log_spec, peak - 8.0)
        return (log_spec + 4.0) / 4.0
