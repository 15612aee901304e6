"""Reading one input file as Whisper hears it: 16 kHz, one channel; or the reason it cannot be read."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from lhotse import Recording

from lwasr.data.audio import SAMPLE_RATE, error_text, mp3_supported, probe, truncation
from lwasr.data.report import TRUNCATED_AUDIO, UNREADABLE_AUDIO
from lwasr.transcribe.inputs import AUDIO_SUFFIXES

#: Reason of a file whose format lwasr does not read (the others come from :mod:`lwasr.data.report`).
UNSUPPORTED_AUDIO = "unsupported_audio"


@dataclass(frozen=True)
class Failure:
    """A file that was not transcribed: its path, the reason (``empty_audio``, ...) and the details."""

    input: str
    reason: str
    detail: str


def check_file(path: Path) -> tuple[Recording | None, Failure | None]:
    """``path`` described from its header, or why it cannot be transcribed (missing, empty, unsupported...)."""
    suffix = path.suffix.lower()
    if suffix not in AUDIO_SUFFIXES or (suffix == ".mp3" and not mp3_supported()):
        why = "this libsndfile cannot decode MP3 (it needs libsndfile >= 1.1)" if suffix == ".mp3" else ""
        why = why or f"not a supported audio format (supported: {', '.join(AUDIO_SUFFIXES)})"
        return None, Failure(str(path), UNSUPPORTED_AUDIO, f"{path}: {why}")
    found = probe(path.name, str(path))
    if found.recording is None:
        return None, Failure(str(path), found.reason, found.detail)
    return found.recording, None


def read_audio(rec: Recording, path: Path) -> tuple[np.ndarray | None, Failure | None]:
    """All samples of ``rec`` (:func:`check_file` of ``path``), resampled to 16 kHz (as decoding resamples cuts)
    and downmixed to one channel by averaging; or why they cannot be read (a corrupt or truncated file)."""
    try:
        channels = rec.load_audio()
    except Exception as e:  # noqa: BLE001 - any decoder failure means "unreadable"
        return None, Failure(str(path), UNREADABLE_AUDIO, f"{path}: {error_text(e)}")
    if short := truncation(path, channels.shape[-1]):
        return None, Failure(str(path), TRUNCATED_AUDIO, short)
    mono = channels.mean(axis=0, keepdims=True).astype(np.float32)
    if rec.sampling_rate != SAMPLE_RATE:
        mono = _resample(mono, rec.sampling_rate)
    return mono[0], None


def _resample(audio: np.ndarray, rate: int) -> np.ndarray:
    """``[1, samples]`` audio at ``rate`` -> 16 kHz, with lhotse's resampler (the one ``cut.resample`` uses)."""
    from lhotse.augmentation import Resample

    return Resample(source_sampling_rate=rate, target_sampling_rate=SAMPLE_RATE)(audio, rate)
