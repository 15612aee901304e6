"""A batch's audio: 16 kHz, first channel, zero-padded to its longest clip."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from lwasr.data.audio import error_text
from lwasr.decoding.batching import Utt
from lwasr.errors import LwasrError
from lwasr.features import CHUNK_SAMPLES, SAMPLE_RATE


def load_audio(batch: Sequence[Utt]) -> torch.Tensor:
    """``[batch, samples]`` float32 16 kHz audio, zero-padded to the longest clip (first channel).

    A clip that cannot be read (its file gone or corrupt since the manifest was made) is one LwasrError line
    naming the utterance and its file; what was decoded before it stays, and a rerun resumes.
    """
    clips = []
    for u in batch:
        cut = u.cut if u.cut.sampling_rate == SAMPLE_RATE else u.cut.resample(SAMPLE_RATE)
        try:
            audio = cut.load_audio()
        except Exception as e:  # noqa: BLE001 - any reader failure means the audio is unreadable
            rec = getattr(cut, "recording", None)
            where = ", ".join(str(src.source) for src in rec.sources) if rec is not None else u.id
            raise LwasrError(
                f"cannot read the audio of {u.id} ({where}): {error_text(e)}. The decode so far is kept: restore"
                " the file, or drop the cut (`lwasr prepare validate` lists every unreadable one), and run again;"
                " it resumes"
            ) from e
        clips.append(torch.from_numpy(audio[0]))
    out = torch.zeros(len(clips), max(len(c) for c in clips))
    for i, c in enumerate(clips):
        out[i, : len(c)] = c
    return out[:, :CHUNK_SAMPLES]
