"""`lwasr prepare dir` (Kaldi data dir, TSV), the shared checks on bad input, `validate` and `load_cuts`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from lhotse import CutSet
from typer.testing import CliRunner

from lwasr.cli import app
from lwasr.data.cuts import load_cuts
from lwasr.data.kaldi_dir import prepare_dir
from lwasr.data.manifests import manifest_path
from lwasr.data.validate import validate_manifest
from lwasr.errors import LwasrError


def _wav(path: Path, seconds: float = 1.0, sr: int = 16000, channels: int = 1) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(seconds * sr)) / sr
    x = 0.1 * np.sin(2 * np.pi * 220 * t).astype(np.float32)
    sf.write(path, np.stack([x] * channels, axis=1) if channels > 1 else x, sr)
    return path


@pytest.fixture()
def kaldi(tmp_path: Path) -> Path:
    """A Kaldi data dir: two recordings, three segments (one past the end of its audio), utt2lang, utt2spk."""
    audio = tmp_path / "audio"
    _wav(audio / "rec1.wav", 4.0)
    _wav(audio / "rec2.wav", 2.0, sr=8000)
    d = tmp_path / "data" / "train"
    d.mkdir(parents=True)
    (d / "wav.scp").write_text(f"rec1 {audio / 'rec1.wav'}\nrec2 {audio / 'rec2.wav'}\nrec3 /nonexistent/rec3.wav\n")
    (d / "segments").write_text("u1 rec1 0.0 1.5\nu2 rec1 1.5 3.9\nu3 rec2 0.5 1.5\nu4 rec2 1.0 9.0\nu5 rec3 0 1\n")
    (d / "text").write_text("u1 dzień dobry\nu2 ciao a tutti\nu3 tak\nu4 za długi\nu5 brak pliku\nu1 again\n")
    (d / "utt2spk").write_text("u1 s1\nu2 s2\nu3 s1\nu4 s1\nu5 s1\n")
    (d / "spk2gender").write_text("s1 f\ns2 m\n")
    (d / "utt2lang").write_text("u1 pl\nu2 it\nu3 pl\nu4 pl\nu5 pl\n")
    return d


def test_kaldi_dir(tmp_path: Path, kaldi: Path) -> None:
    out = tmp_path / "mycorpus"
    report = prepare_dir(kaldi, out, split="train", jobs=1)
    pl = CutSet.from_file(manifest_path(out, "mycorpus", "pl", "train"))
    it = CutSet.from_file(manifest_path(out, "mycorpus", "it", "train"))
    assert [c.id for c in pl] == ["u1", "u3"] and [c.id for c in it] == ["u2"]
    u3 = pl[1]
    assert (u3.start, u3.duration, u3.sampling_rate) == (0.5, 1.0, 16000)  # 8 kHz resampled on the fly
    assert u3.load_audio().shape == (1, 16000)
    assert (u3.supervisions[0].speaker, u3.supervisions[0].gender) == ("s1", "f")
    assert it[0].load_audio().shape == (1, int(2.4 * 16000))
    data = json.loads((out / "report.json").read_text())
    reasons = {d["id"]: d["reason"] for d in data["dropped"]}
    assert reasons == {"u1": "duplicate_id", "u4": "bad_segment", "u5": "missing_audio"}
    pl_rep = next(s for s in report.splits if s.lang == "pl")
    assert pl_rep.notes == {"resampled 8000 -> 16000 Hz on the fly": 1}
    for lang in ("pl", "it"):
        n, problems = validate_manifest(manifest_path(out, "mycorpus", lang, "train"))
        assert problems == [] and n > 0


def test_kaldi_dir_needs_a_language(tmp_path: Path, kaldi: Path) -> None:
    (kaldi / "utt2lang").unlink()
    with pytest.raises(LwasrError, match="--lang"):
        prepare_dir(kaldi, tmp_path / "x", split="train")
    prepare_dir(kaldi, tmp_path / "x", split="dev", lang="pl")
    assert len(load_cuts(tmp_path / "x", "pl", split="dev")) == 3
    (kaldi / "utt2lang").write_text("u1 xx\n")
    with pytest.raises(LwasrError, match="unknown language code 'xx'.*Whisper's codes are:.* pl "):
        prepare_dir(kaldi, tmp_path / "y", split="train", lang="pl")


@pytest.fixture()
def bad_tsv(tmp_path: Path) -> Path:
    """A TSV with every kind of bad input next to good items."""
    d = tmp_path / "corpus"
    _wav(d / "ok.wav")
    _wav(d / "sub" / "ok2.wav", 2.0)
    _wav(d / "stereo44.wav", 1.5, sr=44100, channels=2)
    _wav(d / "long.wav", 31.0, sr=8000)
    _wav(d / "empty_text.wav")
    (d / "corrupt.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEfmt garbage" * 4)
    rows = [
        "path\ttext\tlang\tspeaker",
        "ok.wav\tdzień dobry\tpl\tspk1",
        "sub/ok2.wav\tciao\tit",
        "stereo44.wav\t  stereo  file \tpl",
        "long.wav\tfar too long\tpl",
        "empty_text.wav\t   \tpl",
        "corrupt.wav\tbroken\tpl",
        "missing.wav\tgone\tpl",
        "ok.wav\tduplicate\tpl",
        "no tabs here",
    ]
    tsv = d / "list.tsv"
    tsv.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return tsv


def test_tsv_bad_inputs(tmp_path: Path, bad_tsv: Path) -> None:
    out = tmp_path / "out"
    prepare_dir(bad_tsv, out, split="test", corpus="mine", jobs=1)
    pl = CutSet.from_file(manifest_path(out, "mine", "pl", "test"))
    assert [c.id for c in pl] == ["ok.wav", "stereo44.wav"]
    stereo = pl[1]
    assert stereo.supervisions[0].text == "stereo file"
    assert (stereo.sampling_rate, stereo.num_channels) == (16000, 1)
    assert stereo.load_audio().shape == (1, 24000)
    assert load_cuts(out, "it", split="test")[0].id == "sub/ok2.wav"

    data = json.loads((out / "report.json").read_text())
    by_id = {d["id"]: d for d in data["dropped"]}
    assert {k: v["reason"] for k, v in by_id.items()} == {
        "long.wav": "too_long",
        "empty_text.wav": "empty_text",
        "corrupt.wav": "unreadable_audio",
        "missing.wav": "missing_audio",
        "ok.wav": "duplicate_id",
        "list.tsv:10": "bad_line",
    }
    assert "31.0 s > 30 s" in by_id["long.wav"]["detail"]
    pl_m = next(m for m in data["manifests"] if m["lang"] == "pl")
    assert pl_m["notes"] == {
        "2-channel audio, channel 0 used": 1,
        "resampled 44100 -> 16000 Hz on the fly": 1,
    }
    assert data["totals"] == {"cuts": 3, "hours": round((1 + 1.5 + 2) / 3600, 4), "dropped": 6}


def test_resume_and_force(tmp_path: Path, bad_tsv: Path) -> None:
    out = tmp_path / "out"
    prepare_dir(bad_tsv, out, split="train")
    path = manifest_path(out, "out", "pl", "train")
    mtime = path.stat().st_mtime_ns
    assert all(s.reused for s in prepare_dir(bad_tsv, out, split="train").splits)
    assert path.stat().st_mtime_ns == mtime
    assert not any(s.reused for s in prepare_dir(bad_tsv, out, split="train", force=True).splits)
    # a truncated manifest is not "complete": it is rebuilt
    path.write_bytes(path.read_bytes()[:10])
    again = prepare_dir(bad_tsv, out, split="train")
    assert not next(s for s in again.splits if s.lang == "pl").reused
    assert len(CutSet.from_file(path)) == 2
    # an edited input is a new fingerprint
    bad_tsv.write_text(bad_tsv.read_text() + "sub/ok2.wav\tnowe\tpl\n")
    assert len(load_cuts(out, "pl", "train")) == 2
    prepare_dir(bad_tsv, out, split="train")
    assert len(load_cuts(out, "pl", "train")) == 3


def test_load_cuts_errors(tmp_path: Path, bad_tsv: Path) -> None:
    out = tmp_path / "out"
    prepare_dir(bad_tsv, out, split="train")
    assert {c.supervisions[0].language for c in load_cuts([out / "manifests"], split="train")} == {"pl", "it"}
    with pytest.raises(LwasrError, match="no manifests for split 'dev'"):
        load_cuts(out, split="dev")
    with pytest.raises(LwasrError, match="no manifests .* languages zh"):
        load_cuts(out, langs="zh")
    with pytest.raises(LwasrError, match="no such manifest"):
        load_cuts(tmp_path / "nope")
    CutSet.from_cuts([]).to_file(manifest_path(out, "empty", "pl", "train"))
    with pytest.raises(LwasrError, match="empty"):
        load_cuts(out, langs="pl")


def test_validate_cli(tmp_path: Path, bad_tsv: Path) -> None:
    out = tmp_path / "out"
    runner = CliRunner()
    res = runner.invoke(app, ["prepare", "dir", str(bad_tsv), "--out", str(out), "--split", "dev", "-j", "1"])
    assert res.exit_code == 0, res.output
    assert "dropped 1 (too_long)" in res.output and "report:" in res.output
    good = manifest_path(out, "out", "pl", "dev")
    res = runner.invoke(app, ["prepare", "validate", str(good)])
    assert res.exit_code == 0 and "2 cuts, OK" in res.output

    # break it: a second supervision, empty text, a non-Whisper language, a lost file, a 40 s cut at 44.1 kHz
    cuts = list(CutSet.from_file(good))
    a, b = cuts
    a.supervisions.append(a.supervisions[0])
    b.supervisions[0].text = " "
    b.supervisions[0].language = "polish"
    lost = _wav(tmp_path / "lost.wav")
    c = CutSet.from_file(manifest_path(out, "out", "it", "dev"))[0].with_id("lost")
    c.recording.sources[0].source = str(lost)
    lost.unlink()
    d = CutSet.from_file(good)[1].with_id("long")
    d.recording.transforms = None
    d.recording.sampling_rate = 44100
    d.duration = d.supervisions[0].duration = d.recording.duration = 40.0
    d.recording.num_samples = 40 * 44100
    bad = tmp_path / "bad_cuts.jsonl.gz"
    CutSet.from_cuts([a, b, c, d]).to_file(bad)
    res = runner.invoke(app, ["prepare", "validate", str(bad), "-j", "1"])
    assert res.exit_code == 1
    for what in (
        "2 supervisions",
        "empty text",
        "'polish' is not a Whisper code",
        "lost: audio unreadable",
        "long: duration 40.00 s > 30 s",
        "long: sampling rate 44100",
    ):
        assert what in res.output, res.output
