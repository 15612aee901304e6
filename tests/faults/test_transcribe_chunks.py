"""Fixed-window chunking of long audio: each window keeps the words of its own stretch of time, whatever they say.

Overlapping windows used to be de-duplicated by text: the words of a window that repeated the end of the
previous one were dropped, however many. On a 2-minute tone the tiny random Whisper says the same word over and
over, and 14 of 15 segments came out empty.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

from lwasr.data.audio import SAMPLE_RATE
from lwasr.transcribe.chunking import WINDOW_OVERLAP, fixed_windows
from lwasr.transcribe.run import transcribe

WINDOW_SECONDS = 10


def test_fixed_windows_keep_their_own_words_even_when_they_repeat_the_previous_window(
    tiny_whisper: Path, tmp_path: Path
) -> None:
    t = np.arange(120 * SAMPLE_RATE) / SAMPLE_RATE
    audio = (0.3 * np.sin(2 * np.pi * 300 * t)).astype(np.float32)
    sf.write(tmp_path / "tone.wav", audio, SAMPLE_RATE)
    limit = WINDOW_SECONDS * SAMPLE_RATE
    windows = fixed_windows(audio.size, limit, min(WINDOW_OVERLAP, limit // 6))
    parts = tmp_path / "windows"
    parts.mkdir()
    for k, w in enumerate(windows):  # each window alone (at most 10 s: one whole chunk) gives its hypothesis
        sf.write(parts / f"w{k:02d}.wav", audio[w.start : w.end], SAMPLE_RATE)
    settings = {"chunking": "fixed", "max_chunk_seconds": WINDOW_SECONDS, "language": "pl", "progress": False}
    long = transcribe([tmp_path / "tone.wav"], str(tiny_whisper), **settings).transcripts["tone"]
    alone = transcribe([parts], str(tiny_whisper), **settings).transcripts
    assert long.chunking == "fixed-window" and len(long.segments) == len(windows) == 15
    empty = [k for k, seg in enumerate(long.segments) if not seg.text]
    assert not empty, f"{len(empty)} of 15 segments are empty"
    for k, (w, seg) in enumerate(zip(windows, long.segments, strict=True)):
        words, kept = alone[f"w{k:02d}"].segments[0].text.split(), seg.text.split()
        assert words, "the random model says something in every window"
        share = (seg.end - seg.start) * SAMPLE_RATE / (w.end - w.start)  # the part of the window that is its own
        assert abs(len(kept) - share * len(words)) <= 1, (k, seg.text, words)
        assert any(words[i : i + len(kept)] == kept for i in range(len(words))), "a stretch of the window's words"
