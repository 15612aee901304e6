"""`lwasr prepare mls` and `lwasr prepare commonvoice` on tiny layouts built here."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from lwasr.data import audio as audio_mod
from lwasr.data import commonvoice
from lwasr.data.commonvoice import prepare_commonvoice
from lwasr.data.cuts import load_cuts
from lwasr.data.mls import prepare_mls
from lwasr.errors import LwasrError


def _audio(path: Path, seconds: float = 1.0, sr: int = 16000, **kw) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(seconds * sr)) / sr
    sf.write(path, (0.1 * np.sin(2 * np.pi * 200 * t)).astype(np.float32), sr, **kw)


@pytest.fixture()
def mls_dir(tmp_path: Path) -> Path:
    root = tmp_path / "mls"
    pl = root / "mls_polish"
    (pl / "metainfo.txt").parent.mkdir(parents=True)
    (pl / "metainfo.txt").write_text(
        "SPEAKER   |   GENDER   | PARTITION  |  MINUTES   |  BOOK ID   |  TITLE   |  CHAPTER\n"
        "  10  |  F  |  train  |  1.0  |  1  |  t  |  c\n"
    )
    for split, ids in {
        "train": ["10_1_000001", "10_1_000002"],
        "dev": ["10_1_000003"],
        "test": ["10_1_000004"],
    }.items():
        lines = [f"{i}\tzdanie numer {n}" for n, i in enumerate(ids)]
        (pl / split).mkdir()
        (pl / split / "transcripts.txt").write_text("\n".join(lines + ["10_1_000009\tbez pliku"]) + "\n")
        for i in ids:
            _audio(pl / split / "audio" / "10" / "1" / f"{i}.flac", 1.0)
    it = root / "mls_italian_opus"
    (it / "train" / "audio" / "20" / "5").mkdir(parents=True)
    (it / "train" / "transcripts.txt").write_text("20_5_000001\tbuongiorno a tutti\n")
    _audio(it / "train" / "audio" / "20" / "5" / "20_5_000001.opus", 1.0, format="OGG", subtype="OPUS")
    return root


def test_mls(tmp_path: Path, mls_dir: Path) -> None:
    out = tmp_path / "data" / "mls"
    prepare_mls(["polish"], mls_dir, out, jobs=1)
    cuts = load_cuts(out, "pl", split="train")
    assert [c.id for c in cuts] == ["mls-pl-10_1_000001", "mls-pl-10_1_000002"]
    sup = cuts[0].supervisions[0]
    assert (sup.text, sup.speaker, sup.gender, sup.language) == ("zdanie numer 0", "mls-pl-10", "f", "pl")
    data = json.loads((out / "report.json").read_text())
    assert [d["reason"] for d in data["dropped"]] == ["missing_audio"] * 3

    prepare_mls(["mls_italian"], mls_dir, out, splits=["train"], jobs=1)
    it = load_cuts(out, "it", split="train")
    assert it[0].sampling_rate == 16000 and it[0].load_audio().shape[0] == 1
    with pytest.raises(LwasrError, match="no mls_german"):
        prepare_mls(["german"], mls_dir, out)
    with pytest.raises(LwasrError, match="unknown MLS language"):
        prepare_mls(["klingon"], mls_dir, out)


@pytest.fixture()
def cv_dir(tmp_path: Path) -> Path:
    root = tmp_path / "cv-corpus"
    header = "client_id\tpath\tsentence_id\tsentence\tsentence_domain\tup_votes\tdown_votes\tage\tgender\taccents"
    for locale, rows in {
        "pl": [("c1", "a.mp3", "Dzień dobry."), ("c2", "b.mp3", ""), ("c1", "c.mp3", 'Cytat "w" środku.')],
        "zh-CN": [("c3", "d.mp3", "你好。")],
        "zh-TW": [("c4", "e.mp3", "謝謝。")],
    }.items():
        d = root / locale
        for split in ("train", "dev", "test"):
            lines = [header] + [f"{c}\t{p}\tx\t{s}\t\t2\t0\t\tfemale_feminine\t" for c, p, s in rows]
            (d / split).parent.mkdir(parents=True, exist_ok=True)
            (d / f"{split}.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
        for _, p, _ in rows:
            _audio(d / "clips" / p, 1.0, sr=48000, format="MP3")
    return root


def test_commonvoice(tmp_path: Path, cv_dir: Path) -> None:
    out = tmp_path / "cv"
    prepare_commonvoice(["pl", "zh-CN", "zh-TW"], cv_dir, out, splits=["train"], jobs=1)
    pl = load_cuts(out, "pl", split="train")
    assert [c.supervisions[0].text for c in pl] == ["Dzień dobry.", 'Cytat "w" środku.']
    assert pl[0].supervisions[0].speaker == "c1" and pl[0].sampling_rate == 16000
    assert pl[0].load_audio().shape[0] == 1
    zh = load_cuts(out, "zh", split="train")  # zh-CN and zh-TW share the Whisper language zh
    assert sorted(c.id for c in zh) == ["cv-zh-CN-d", "cv-zh-TW-e"]
    data = json.loads((out / "report.json").read_text())
    assert [(d["lang"], d["reason"]) for d in data["dropped"]] == [("pl", "empty_text")]


def test_commonvoice_without_mp3_decoder(tmp_path: Path, cv_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(commonvoice, "mp3_supported", lambda: False)
    real_probe = audio_mod.probe
    monkeypatch.setattr(
        commonvoice, "probe", lambda rid, src, **kw: audio_mod.Probe(None, "unreadable_audio", "no mp3")
    )
    with pytest.raises(LwasrError, match="cannot decode MP3 here"):
        prepare_commonvoice(["pl"], cv_dir, tmp_path / "cv", splits=["dev"])
    monkeypatch.setattr(commonvoice, "probe", real_probe)  # another backend decodes it: go on, per item
    prepare_commonvoice(["pl"], cv_dir, tmp_path / "cv", splits=["dev"], jobs=1)
    with pytest.raises(LwasrError, match="missing"):
        prepare_commonvoice(["pl"], cv_dir, tmp_path / "cv", splits=["validated"])
