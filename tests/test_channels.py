"""Recording conditions (lwasr.data.channels) and `lwasr prepare synth --channels`: every channel changes the audio
the way its name says, deterministically, and a corpus records which language went through which channel."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from lwasr.data.channels import BUILTIN_CHANNELS, CHANNELS, parse_channels
from lwasr.data.cuts import load_cuts
from lwasr.data.synth import SynthItem, prepare_synth
from lwasr.errors import LwasrError

needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")
SR = 16000


def envelope(seconds: float = 1.5) -> np.ndarray:
    """Four syllables a second, silent between them."""
    return np.sin(2 * np.pi * 2 * np.arange(int(seconds * SR)) / SR) ** 2


def speechlike(seconds: float = 1.5) -> np.ndarray:
    """Harmonics of a 140-Hz voice up to 7 kHz under :func:`envelope`, at a speech-like level."""
    t = np.arange(int(seconds * SR)) / SR
    x = sum(np.sin(2 * np.pi * 140 * k * t) / np.sqrt(k) for k in range(1, 50)) * envelope(seconds)
    return (0.1 * x / np.abs(x).max()).astype(np.float32)


def band_energy(x: np.ndarray, lo: float, hi: float) -> float:
    spec = np.abs(np.fft.rfft(x)) ** 2
    f = np.fft.rfftfreq(len(x), 1 / SR)
    return float(spec[(f >= lo) & (f < hi)].sum() / spec.sum())


@pytest.mark.parametrize("name", CHANNELS.names())
def test_every_channel_changes_the_audio_deterministically_and_keeps_its_shape(name: str) -> None:
    x = speechlike()
    channel = CHANNELS.get(name)
    y = channel.apply(x, seed=3)
    assert y.dtype == np.float32 and y.shape == x.shape and np.isfinite(y).all() and np.abs(y).max() <= 1.0
    assert np.array_equal(y, channel.apply(x, seed=3))
    change = np.sqrt(np.mean((y - x) ** 2) / np.mean(x**2))
    assert 0.01 < change < 3.0, change  # audible, not destroyed
    assert 0.2 < np.sqrt(np.mean(y**2) / np.mean(x**2)) < 2.0  # about as loud


def test_channels_do_what_their_names_say() -> None:
    x = speechlike()
    out = {name: CHANNELS.get(name).apply(x, seed=0) for name in CHANNELS.names()}
    assert band_energy(x, 4000, 8000) > 0.01  # the test signal has energy above the telephone band
    assert band_energy(out["telephone"], 4000, 8000) < 1e-3 and band_energy(out["telephone"], 0, 250) < 1e-2
    crest = lambda z: np.abs(z).max() / np.sqrt(np.mean(z**2))  # noqa: E731
    # a cheap microphone: no low end (the 140-Hz fundamental is gone), peaks flattened by the overdrive
    assert band_energy(out["cheap-mic"], 0, 180) < band_energy(x, 0, 180) / 10
    assert crest(out["cheap-mic"]) < crest(x) / 1.5
    # a room's reverberation fills the pauses of the envelope; seeds draw different rooms and noises
    quiet = envelope() < 0.01
    for name in ("room", "far-field"):
        assert np.mean(out[name][quiet] ** 2) > 2 * np.mean(x[quiet] ** 2)
    for name in ("room", "noisy", "far-field"):
        assert not np.array_equal(out[name], CHANNELS.get(name).apply(x, seed=1))
    noise = out["noisy"] - x  # brown: most of its energy below 500 Hz, at 10 dB SNR
    assert band_energy(noise, 0, 500) > 0.9
    assert 9.0 < 10 * np.log10(np.mean(x**2) / np.mean(noise**2)) < 11.0


def test_parse_channels() -> None:
    assert parse_channels("", ["pl"]) == {}
    assert parse_channels("builtin", ["ja", "fr", "pl"]) == {"ja": BUILTIN_CHANNELS["ja"], "pl": "mp3"}
    assert parse_channels(" pl = room ,it=mp3", ["pl", "it"]) == {"pl": "room", "it": "mp3"}
    assert set(BUILTIN_CHANNELS.values()) == set(CHANNELS.names())  # the builtin table uses each channel once
    for spec, error in [
        ("pl=tin-can", "unknown channel 'tin-can'; channels: mp3"),
        ("pl", "write LANG=CHANNEL"),
        ("xx=mp3", "unknown language code 'xx'"),
        ("it=mp3", "not one of --langs pl"),
        ("pl=mp3,pl=room", "gives 'pl' twice"),
    ]:
        with pytest.raises(LwasrError, match=error):
            parse_channels(spec, ["pl"])


def test_a_clean_utterance_keeps_its_name() -> None:
    item = SynthItem("u", "pl", "train", "Tak.", "pl", "m1", 170, 50, 30.0, 7)
    # the digest of every wav written before channels existed (a corpus on disk stays valid)
    assert item.digest() == "67f51588d7"
    assert SynthItem(**{**item.__dict__, "channel": "mp3"}).digest() != item.digest()


@needs_espeak
def test_synth_with_channels(tmp_path: Path) -> None:
    text = tmp_path / "text"
    text.mkdir()
    for lang, sents in {"pl": ["Dzień dobry.", "Mam kota.", "Pada deszcz."], "it": ["Ciao.", "Piove.", "Sì."]}.items():
        (text / f"{lang}.txt").write_text("\n".join(sents) + "\n", encoding="utf-8")
    sizes = {"train": 2, "dev": 0, "test": 1}
    clean, noisy = tmp_path / "clean", tmp_path / "noisy"
    prepare_synth(["pl", "it"], clean, sizes=sizes, text_dir=text, jobs=1)
    report = prepare_synth(["pl", "it"], noisy, sizes=sizes, text_dir=text, jobs=1, channels="pl=telephone")
    notes = {(s.lang, s.split): s.notes for s in report.splits}
    assert notes[("pl", "train")] == {"channel telephone: a telephone line: 300-3400 Hz, 8 kHz GSM 06.10": 2}
    assert notes[("it", "train")] == {} and notes[("pl", "dev")] == {}
    for split in ("train", "test"):
        for a, b in zip(load_cuts(clean, "pl", split=split), load_cuts(noisy, "pl", split=split), strict=True):
            assert b.supervisions[0].custom["channel"] == "telephone" and "channel" not in a.supervisions[0].custom
            assert a.supervisions[0].text == b.supervisions[0].text and a.duration == b.duration
            assert band_energy(b.load_audio()[0], 4000, 8000) < band_energy(a.load_audio()[0], 4000, 8000) / 10
        for a, b in zip(load_cuts(clean, "it", split=split), load_cuts(noisy, "it", split=split), strict=True):
            assert np.array_equal(a.load_audio(), b.load_audio())  # a language without a channel is untouched
    again = prepare_synth(["pl", "it"], noisy, sizes=sizes, text_dir=text, jobs=1, channels="pl=telephone")
    assert all(s.reused for s in again.splits)
    changed = prepare_synth(["pl", "it"], noisy, sizes=sizes, text_dir=text, jobs=1, channels="pl=room")
    assert [s.reused for s in changed.splits if s.lang == "pl"] == [False] * 3
    assert [s.reused for s in changed.splits if s.lang == "it"] == [True] * 3
