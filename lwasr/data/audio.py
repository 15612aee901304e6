"""Audio probing (is the file there, readable, what rate and channels) and a numpy resampler.

Probing builds a :class:`lhotse.Recording` from the file's header; it never rewrites the audio. A source
ending in ``|`` is a Kaldi pipe command: it is run once, through a shell, to learn the rate and length.
"""

from __future__ import annotations

import io
import math
import re
import subprocess
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import soundfile as sf

from lwasr.data.report import EMPTY_AUDIO, MISSING_AUDIO, TRUNCATED_AUDIO, UNREADABLE_AUDIO
from lwasr.progress import tqdm

if TYPE_CHECKING:  # lhotse is imported where a file is probed: lwasr.data.channels needs only the resampler
    from lhotse import Recording

#: Sampling rate of every cut lwasr hands to Whisper (other rates are resampled on the fly).
SAMPLE_RATE = 16000
#: Whisper's window: longer clips are dropped.
MAX_SECONDS = 30.0


@dataclass(frozen=True)
class Probe:
    """What probing one audio source found: a Recording, or the reason it is unusable."""

    recording: Recording | None
    reason: str = ""
    detail: str = ""


def is_command(source: str) -> bool:
    """A Kaldi ``wav.scp`` source that is a shell pipe (``<command> |``)."""
    return source.rstrip().endswith("|")


def error_text(e: BaseException) -> str:
    """The whole reason a decoder gave, on one line: lhotse's per-backend details kept, its hints dropped."""
    text = str(e)
    if isinstance(e, subprocess.CalledProcessError) and e.stderr:
        text += " " + e.stderr.decode(errors="replace")
    lines = [line.strip() for line in text.splitlines()]
    keep = [line for line in lines if line and not line.startswith(("Set LHOTSE_", "[extra info]"))]
    return f"{type(e).__name__}: " + re.sub(r"<class '(?:[\w.]+\.)?(\w+)'>", r"\1", " ".join(keep))


def wav_data_frames(path: str | Path) -> int | None:
    """Frames a RIFF/WAVE header declares (``data`` chunk size / block align); None for other files, or a
    streamed WAV that declares no size (0 or 0xFFFFFFFF)."""
    with open(path, "rb") as f:
        head = f.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:] != b"WAVE":
            return None
        align = 0
        while len(chunk := f.read(8)) == 8:
            size = int.from_bytes(chunk[4:], "little")
            if chunk[:4] == b"data":
                return size // align if align and size not in (0, 0xFFFFFFFF) else None
            body = size + (size & 1)  # chunks are padded to an even length
            if chunk[:4] == b"fmt ":
                align = int.from_bytes(f.read(body)[12:14], "little")
            else:
                f.seek(body, io.SEEK_CUR)
    return None


def truncation(path: str | Path, frames: int | None = None) -> str | None:
    """Why the WAV at ``path`` holds fewer samples than its header declares, or None.

    ``frames`` is how many could be read (default: what libsndfile finds in the file, at its own rate).
    """
    declared = wav_data_frames(path)
    if declared is None:
        return None
    frames = sf.info(str(path)).frames if frames is None else frames
    if frames >= declared:
        return None
    return f"{path}: the header declares {declared} samples, only {frames} can be read (truncated file?)"


def _probe_command(recording_id: str, command: str) -> Recording | None:
    """Run ``command`` (a shell pipe) once; None when it writes nothing."""
    from lhotse import Recording
    from lhotse.audio import AudioSource

    cmd = command.rstrip().removesuffix("|").strip()
    out = subprocess.run(cmd, shell=True, check=True, capture_output=True).stdout
    if not out:
        return None
    info = sf.info(io.BytesIO(out))
    source = AudioSource(type="command", channels=list(range(info.channels)), source=cmd)
    return Recording(
        id=recording_id,
        sources=[source],
        sampling_rate=info.samplerate,
        num_samples=info.frames,
        duration=info.frames / info.samplerate,
    )


def probe(recording_id: str, source: str, opus_rate: int | None = None, decode: bool = False) -> Probe:
    """Describe ``source`` (a path, or a Kaldi ``cmd |``) as a Recording without converting it.

    ``decode=True`` also reads all samples, which catches files whose header is fine but whose data is not,
    and WAVs whose header declares more samples than the file holds.
    ``opus_rate`` overrides the 48 kHz that Opus files always report (MLS opus audio was 16 kHz).
    """
    from lhotse import Recording

    command = is_command(source)
    try:
        if command:
            rec = _probe_command(recording_id, source)
        else:
            path = Path(source)
            if not path.is_file():
                return Probe(None, MISSING_AUDIO, str(source))
            if path.stat().st_size == 0:
                return Probe(None, EMPTY_AUDIO, f"{source}: the file is empty (0 bytes)")
            force = opus_rate if path.suffix.lower() == ".opus" else None
            rec = Recording.from_file(path, recording_id=recording_id, force_opus_sampling_rate=force)
        if rec is None or rec.num_samples == 0:
            return Probe(None, EMPTY_AUDIO, f"{source}: no audio samples")
        if decode:
            frames = rec.load_audio().shape[-1]
            if not command and (short := truncation(source, frames)):
                return Probe(None, TRUNCATED_AUDIO, short)
    except Exception as e:  # noqa: BLE001 - any decoder failure means "unreadable"
        return Probe(None, UNREADABLE_AUDIO, f"{source}: {error_text(e)}")
    return Probe(rec)


def _probe_star(args: tuple[str, str, int | None, bool]) -> Probe:
    return probe(*args)


def probe_many(
    sources: Sequence[tuple[str, str]],
    *,
    jobs: int = 1,
    opus_rate: int | None = None,
    decode: bool = False,
    desc: str = "probing audio",
) -> list[Probe]:
    """Probe ``(recording_id, source)`` pairs, in ``jobs`` processes, with a progress bar; order is kept."""
    args = [(rid, src, opus_rate, decode) for rid, src in sources]
    bar = dict(total=len(args), desc=desc, unit="file", leave=False, disable=len(args) < 200)
    if jobs <= 1 or len(args) < 200:
        return [probe(*a) for a in tqdm(args, **bar)]
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        return list(tqdm(pool.map(_probe_star, args, chunksize=64), **bar))


def resampling_available() -> bool:
    """lhotse resamples on the fly with torchaudio or, without it (lwasr's case), scipy."""
    import importlib.util

    return any(importlib.util.find_spec(m) is not None for m in ("scipy", "torchaudio"))


def mp3_supported() -> bool:
    """True when the installed libsndfile decodes MP3 (libsndfile >= 1.1, i.e. soundfile >= 0.12)."""
    return "MP3" in sf.available_formats()


def _next_smooth(n: int) -> int:
    """Smallest integer >= n whose only prime factors are 2, 3 and 5 (fast FFT sizes)."""
    best = 1 << max(0, (n - 1).bit_length())
    p5 = 1
    while p5 < best:
        p35 = p5
        while p35 < best:
            p235 = p35
            while p235 < n:
                p235 *= 2
            best = min(best, p235)
            p35 *= 3
        p5 *= 5
    return best


def resample(x: np.ndarray, sr_in: int, sr_out: int) -> np.ndarray:
    """Band-limited FFT resampling of a 1-D signal (like ``scipy.signal.resample``), numpy only.

    The clip is zero-padded to ``down * m`` samples (``m`` 5-smooth) so that both FFT sizes are fast, then
    trimmed. It is treated as periodic, which is harmless for clips that end in silence (speech synthesis).
    """
    if sr_in == sr_out:
        return x.astype(np.float32, copy=False)
    g = math.gcd(sr_in, sr_out)
    up, down = sr_out // g, sr_in // g
    n_in = len(x)
    n_keep = int(round(n_in * up / down))
    m = _next_smooth(max(1, -(-n_in // down)))
    n_pad, n_out = down * m, up * m
    spec = np.fft.rfft(x.astype(np.float64), n_pad)
    keep = min(len(spec), n_out // 2 + 1)
    out_spec = np.zeros(n_out // 2 + 1, dtype=np.complex128)
    out_spec[:keep] = spec[:keep]
    if n_out < n_pad and n_out % 2 == 0:  # the new Nyquist bin is real for an even length
        out_spec[-1] = out_spec[-1].real
    return (np.fft.irfft(out_spec, n_out)[:n_keep] * (n_out / n_pad)).astype(np.float32)
