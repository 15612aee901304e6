"""Recording conditions ("channels") for ``lwasr prepare synth --channels``: a lossy codec, a telephone line, a
room, a cheap microphone, background noise, applied to a clean 16 kHz utterance.

In the LoRA-Whisper papers each language comes from its own corpus (MLS audiobooks for pl, pt, it; FLEURS for the
rest), so language and recording condition go together. espeak8's languages all share one clean synthesiser;
giving each language its own channel is a *constructed* stand-in for that confound, labelled as such wherever it is
used (docs/data.md, docs/results.md). Codecs and clipping are lhotse's transforms (libsndfile underneath), filters
and convolution scipy's, both imported when a channel is applied (``lwasr prepare --help`` only lists them). Each
random draw comes from the utterance's seed, so a corpus is the same on every run.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from lwasr.data.audio import SAMPLE_RATE, resample
from lwasr.errors import LwasrError
from lwasr.langcodes import parse_langs
from lwasr.registry import Registry

Effect = Callable[[np.ndarray, np.random.Generator], np.ndarray]


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(x.astype(np.float64) ** 2))) if len(x) else 0.0


def codec(name: str, level: float, rate: int = SAMPLE_RATE) -> Effect:
    """Encode and decode with a lossy codec (lhotse's ``Compress``: mp3, vorbis, opus, gsm), at ``rate`` Hz."""

    def apply(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        from lhotse.augmentation.compress import Compress

        y = resample(x, SAMPLE_RATE, rate)
        y = Compress(name, level)(y[None, :].astype(np.float32), rate)[0]
        return resample(y, rate, SAMPLE_RATE)[: len(x)]

    return apply


def bandpass(low_hz: float, high_hz: float) -> Effect:
    """A 4th-order Butterworth band-pass, zero-phase."""

    def apply(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        from scipy.signal import butter, sosfiltfilt

        sos = butter(4, [low_hz, high_hz], btype="bandpass", fs=SAMPLE_RATE, output="sos")
        return sosfiltfilt(sos, x).astype(np.float32)

    return apply


def reverb(rt60_s: float, drr_db: float) -> Effect:
    """A room: the utterance convolved with a synthetic impulse response, a direct path and then Gaussian noise
    decaying by 60 dB in ``rt60_s`` (drawn per utterance), ``drr_db`` the direct-to-reverberant energy ratio (lower
    is farther from the talker); its loudness kept."""

    def apply(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        from scipy.signal import fftconvolve

        t = np.arange(1, int(rt60_s * SAMPLE_RATE)) / SAMPLE_RATE
        tail = rng.standard_normal(len(t)) * 10 ** (-3 * t / rt60_s)
        tail *= 10 ** (-drr_db / 20) / max(float(np.sqrt(np.sum(tail**2))), 1e-9)
        y = fftconvolve(x, np.concatenate([[1.0], tail]))[: len(x)]
        return (y * (_rms(x) / max(_rms(y), 1e-9))).astype(np.float32)

    return apply


def noise(snr_db: float, colour: str = "white") -> Effect:
    """Additive noise at ``snr_db`` against the utterance: white, or brown (integrated white, 1/f^2, a rumble)."""

    def apply(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        n = rng.standard_normal(len(x))
        if colour == "brown":
            n = np.cumsum(n)
            n -= np.linspace(n[0], n[-1], len(n)) if len(n) else 0.0  # no drift: it ends where it starts
        n *= _rms(x) / max(_rms(n), 1e-9) / 10 ** (snr_db / 20)
        return (x + n).astype(np.float32)

    return apply


def clipping(gain_db: float) -> Effect:
    """Soft clipping (saturation) after ``gain_db`` of gain, back to the original level: an overdriven input."""

    def apply(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        from lhotse.augmentation.clipping import Clipping

        return Clipping(hard=False, gain_db=gain_db)(x[None, :].astype(np.float32), SAMPLE_RATE)[0]

    return apply


@dataclass(frozen=True)
class Channel:
    """A named recording condition: effects applied in order, then the result clipped to [-1, 1]."""

    name: str
    description: str
    effects: Sequence[Effect]

    def apply(self, x: np.ndarray, seed: int) -> np.ndarray:
        """``x`` (16 kHz mono float) through the channel; draws come from (``seed``, the channel's name)."""
        rng = np.random.default_rng([seed, zlib.crc32(self.name.encode())])
        for effect in self.effects:
            x = effect(x, rng)
        return np.clip(x, -1.0, 1.0).astype(np.float32)


CHANNELS: Registry[Channel] = Registry("unknown channel {name}; channels: {known}")
for _c in (
    Channel("mp3", "MP3 at a low bit rate (compression level 0.9), as audiobooks are", [codec("mp3", 0.9)]),
    Channel("vorbis", "Ogg Vorbis at a low bit rate (compression level 0.9)", [codec("vorbis", 0.9)]),
    Channel("opus", "Opus at a low bit rate (compression level 0.9)", [codec("opus", 0.9)]),
    Channel(
        "telephone", "a telephone line: 300-3400 Hz, 8 kHz GSM 06.10", [bandpass(300, 3400), codec("gsm", 0.5, 8000)]
    ),
    Channel("room", "a reverberant room: RT60 0.5 s, direct-to-reverberant ratio +3 dB", [reverb(0.5, 3)]),
    Channel("cheap-mic", "a cheap microphone: 200-5000 Hz, overdriven by 12 dB", [bandpass(200, 5000), clipping(12)]),
    Channel("noisy", "brown background noise at 10 dB SNR", [noise(10, "brown")]),
    Channel(
        "far-field",
        "a small room heard from afar: RT60 0.3 s, direct-to-reverberant ratio -3 dB, white noise at 20 dB SNR",
        [reverb(0.3, -3), noise(20)],
    ),
):
    CHANNELS.register(_c.name, _c)

#: ``--channels builtin``: each of espeak8's eight languages its own condition. The MLS languages of the papers
#: (pl, pt, it: audiobooks) get lossy codecs; the FLEURS ones get the conditions of devices and rooms.
BUILTIN_CHANNELS = {
    "pl": "mp3",
    "pt": "vorbis",
    "it": "opus",
    "zh": "telephone",
    "da": "room",
    "el": "cheap-mic",
    "cy": "noisy",
    "ja": "far-field",
}


def parse_channels(spec: str, langs: Sequence[str]) -> dict[str, str]:
    """``--channels``: "" (none), "builtin" (:data:`BUILTIN_CHANNELS` for those of ``langs`` it names) or
    "LANG=CHANNEL,...". Every channel must be registered and every language one of ``langs``."""
    spec = spec.strip()
    if not spec:
        return {}
    if spec == "builtin":
        return {lang: BUILTIN_CHANNELS[lang] for lang in langs if lang in BUILTIN_CHANNELS}
    chosen: dict[str, str] = {}
    for part in spec.split(","):
        lang, sep, name = (s.strip() for s in part.partition("="))
        if not sep or not lang or not name:
            raise LwasrError(f"--channels {spec!r}: write LANG=CHANNEL,... or 'builtin' (not {part!r})")
        (lang,) = parse_langs(lang)
        if lang not in langs:
            raise LwasrError(f"--channels names {lang!r}, which is not one of --langs {','.join(langs)}")
        if lang in chosen:
            raise LwasrError(f"--channels gives {lang!r} twice")
        chosen[lang] = CHANNELS.get(name).name
    return chosen
