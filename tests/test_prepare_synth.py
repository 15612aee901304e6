"""`lwasr prepare synth`: a tiny espeak-ng corpus in two languages from the test's own sentence lists."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from lwasr.data.audio import resample
from lwasr.data.cuts import load_cuts
from lwasr.data.synth import load_sentences, prepare_synth, split_sentences
from lwasr.errors import LwasrError

needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")

SENTENCES = {
    "pl": ["Dzień dobry.", "Jak się masz?", "Mam kota.", "Pada deszcz.", "Idę do domu.", "Lubię kawę.", "Mam kota."],
    "it": ["Buongiorno.", "Come stai?", "Ho un gatto.", "Piove oggi.", "Vado a casa.", "Mi piace il caffè."],
}


@pytest.fixture()
def text_dir(tmp_path: Path) -> Path:
    d = tmp_path / "text"
    d.mkdir()
    for lang, sents in SENTENCES.items():
        (d / f"{lang}.txt").write_text("\n".join(sents) + "\n\n", encoding="utf-8")
    return d


def test_split_sentences_disjoint_and_deterministic() -> None:
    sents = [f"s{i}" for i in range(100)]
    pools = split_sentences(sents, {"train": 50, "dev": 10, "test": 10}, seed=3)
    assert [len(pools[s]) for s in ("train", "dev", "test")] == [80, 10, 10]
    assert len(set().union(*map(set, pools.values()))) == 100
    assert pools == split_sentences(sents, {"train": 50, "dev": 10, "test": 10}, seed=3)
    small = split_sentences(sents[:6], {"train": 240, "dev": 24, "test": 32}, seed=0)
    assert [len(small[s]) for s in ("train", "dev", "test")] == [4, 1, 1]
    with pytest.raises(LwasrError):
        split_sentences(["a", "b"], {"train": 1, "dev": 1, "test": 1}, seed=0)


def test_load_sentences_dedupes(text_dir: Path) -> None:
    assert load_sentences("pl", text_dir) == SENTENCES["pl"][:-1]
    with pytest.raises(LwasrError, match="no sentence list"):
        load_sentences("da", text_dir)


def test_resample_keeps_a_tone() -> None:
    t = np.arange(22050) / 22050
    y = resample(np.sin(2 * np.pi * 300 * t), 22050, 16000)
    ref = np.sin(2 * np.pi * 300 * np.arange(16000) / 16000)
    assert len(y) == 16000 and np.abs(y - ref)[200:-200].max() < 1e-3


@needs_espeak
def test_tiny_synth_run(tmp_path: Path, text_dir: Path) -> None:
    out = tmp_path / "espeak2"
    sizes = {"train": 5, "dev": 1, "test": 2}
    report = prepare_synth(["pl", "it"], out, sizes=sizes, text_dir=text_dir, jobs=2, seed=1)
    assert [(s.lang, s.split, s.cuts) for s in report.splits] == [
        (lang, split, n) for lang in ("pl", "it") for split, n in sizes.items()
    ]
    for lang in ("pl", "it"):
        texts = {sp: {c.supervisions[0].text for c in load_cuts(out, lang, split=sp)} for sp in sizes}
        assert not (texts["train"] & texts["dev"]) and not (texts["train"] & texts["test"])
        assert not (texts["dev"] & texts["test"])
    cuts = load_cuts(out, split="train")
    assert len(cuts) == 10
    for cut in cuts:
        sup = cut.supervisions[0]
        assert sup.speaker.split("+")[0] in ("pl", "it") and sup.speaker.split("+")[1][0] in "mf"
        info = sf.info(cut.recording.sources[0].source)
        assert (info.samplerate, info.channels) == (16000, 1)
        assert 0.3 < cut.duration < 10
    audio = cuts[0].load_audio()
    assert audio.shape[0] == 1 and np.abs(audio).max() > 0.01

    wavs = sorted(p.name for p in (out / "wav").rglob("*.wav"))
    again = prepare_synth(["pl", "it"], out, sizes=sizes, text_dir=text_dir, jobs=1, seed=1)
    assert all(s.reused for s in again.splits)
    assert json.loads((out / "report.json").read_text())["totals"]["cuts"] == 16
    # without the manifests, the same wavs are reused; a different seed makes different ones
    shutil.rmtree(out / "manifests")
    prepare_synth(["pl", "it"], out, sizes=sizes, text_dir=text_dir, jobs=1, seed=1)
    assert sorted(p.name for p in (out / "wav").rglob("*.wav")) == wavs
    prepare_synth(["pl"], out, sizes={"train": 2, "dev": 1, "test": 1}, text_dir=text_dir, jobs=1, seed=2)
    assert len(list((out / "wav").rglob("*.wav"))) > len(wavs)


@needs_espeak
def test_synth_errors(tmp_path: Path, text_dir: Path) -> None:
    with pytest.raises(LwasrError, match="no voice variant nosuch"):
        prepare_synth(["pl"], tmp_path, variants=["m1", "nosuch"], text_dir=text_dir)
    with pytest.raises(LwasrError, match="unknown language code 'xx'"):
        prepare_synth(["xx"], tmp_path, text_dir=text_dir)
