"""`lwasr transcribe` on a tiny random Whisper: any format, rate and length, routing, resume, failures, the API,
and the long-form set that `lwasr score` scores."""

from __future__ import annotations

import json
import re
import sys
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import typer
import yaml
from helpers import write_cuts
from lhotse import CutSet
from scipy.signal import lfilter
from typer.testing import CliRunner

import lwasr
from lwasr.cli import main
from lwasr.cli.transcribe import longform
from lwasr.data.cuts import cut_text
from lwasr.decoding.fallback import compression_ratio
from lwasr.decoding.io import HYP_FILE, SETTINGS_FILE, SUMMARY_FILE, read_hyps
from lwasr.decoding.search import Decoder
from lwasr.errors import LwasrError
from lwasr.scoring.metrics import score_dir, units
from lwasr.transcribe.audio import check_file, read_audio
from lwasr.transcribe.chunking import Span, merge_speech, own_stretches, words_within
from lwasr.transcribe.inputs import collect_inputs
from lwasr.transcribe.longform import LONGFORM_MANIFEST, PARTS_MANIFEST, build_longform_set

SR = 16000
VOWELS = [(730, 1090, 2440), (270, 2290, 3010), (300, 870, 2240), (530, 1840, 2480), (570, 840, 2410)]
SRT_TIME = r"(\d\d):(\d\d):(\d\d)[,.](\d{3})"


def speech_like(seconds: float, rng: np.random.Generator) -> np.ndarray:
    """Syllables of a noise burst and a voiced vowel (a pulse train through three formants): Silero VAD hears
    this as speech, unlike a sine with noise."""
    f0, parts, n = rng.uniform(100, 200), [], 0
    while n < seconds * SR:
        burst = rng.standard_normal(int(rng.uniform(0.04, 0.1) * SR))
        burst = 0.3 * np.diff(burst, prepend=0) * np.hanning(burst.size)
        k = int(rng.uniform(0.15, 0.28) * SR)
        phase = np.cumsum(f0 * (1 + 0.15 * np.sin(2 * np.pi * 2 * np.arange(k) / SR + rng.uniform(0, 6)))) / SR
        vowel = -np.diff(np.exp(-8 * (phase % 1.0)), prepend=1.0)
        for f, bw in zip(VOWELS[rng.integers(len(VOWELS))], (80, 100, 150), strict=True):
            r = np.exp(-np.pi * bw / SR)
            vowel = lfilter([1 - r], [1, -2 * r * np.cos(2 * np.pi * f / SR), r * r], vowel)
        parts += [burst, vowel / np.abs(vowel).max() * np.sqrt(np.hanning(k))]
        n += burst.size + k
    x = np.concatenate(parts)[: int(seconds * SR)]
    return (0.5 * x / np.abs(x).max()).astype(np.float32)


def tone(seconds: float, sr: int, freq: float = 300.0) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    return (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def run_main(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture, *args: str) -> tuple[int, str]:
    """``lwasr ARGS`` through the console-script entry point: its exit status and stderr."""
    monkeypatch.setattr(sys, "argv", ["lwasr", *map(str, args)])
    with pytest.raises(SystemExit) as exit_info:
        main()
    return exit_info.value.code or 0, capsys.readouterr().err


def jsonl_segments(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture(scope="module")
def long_file(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[tuple[float, float]]]:
    """About 70 s of speech-like audio in 8 stretches of 6-9 s; the file and its pauses (start, end) in seconds."""
    rng = np.random.default_rng(0)
    pieces, pauses, at = [], [], 0.0
    for _ in range(8):
        pieces.append(speech_like(rng.uniform(6, 9), rng))
        at += pieces[-1].size / SR
        pieces.append(np.zeros(int(rng.uniform(0.8, 1.5) * SR), np.float32))
        pauses.append((at, at + pieces[-1].size / SR))
        at += pieces[-1].size / SR
    path = tmp_path_factory.mktemp("long") / "lecture.wav"
    sf.write(path, np.concatenate(pieces), SR)
    return path, pauses


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same 2 s of 8-kHz stereo audio as wav, flac, ogg and mp3."""
    d = tmp_path_factory.mktemp("clips")
    left = tone(2.0, 8000) + 0.02 * np.random.default_rng(1).standard_normal(16000).astype(np.float32)
    stereo = np.stack([left, 0.5 * left], axis=1)
    for ext in ("wav", "flac", "ogg", "mp3"):
        sf.write(d / f"clip_{ext}.{ext}", stereo, 8000)
    return d


def test_inputs_directories_lists_and_names(tmp_path: Path) -> None:
    (tmp_path / "talks" / "2024").mkdir(parents=True)
    for name in ("talks/2024/a.wav", "talks/2024/a.mp3", "talks/b.flac", "talks/notes.md", "c.ogg"):
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "talks" / ".hidden").mkdir()
    (tmp_path / "talks" / ".hidden" / "d.wav").write_bytes(b"x")
    listing = tmp_path / "files.txt"
    listing.write_text("# my files\nc.ogg\n\nmissing.wav\ntalks/notes.md\n")
    found = collect_inputs([tmp_path / "talks", listing])
    assert [(i.path.name, i.name) for i in found] == [
        ("a.mp3", "2024/a.mp3"),  # the same name without suffix: both keep theirs
        ("a.wav", "2024/a.wav"),
        ("b.flac", "b"),
        ("c.ogg", "c"),
        ("missing.wav", "missing"),  # reported as missing when transcribed, not here
        ("notes.md", "talks/notes"),  # named in a list: kept, then reported as unsupported
    ]
    with pytest.raises(LwasrError, match="nope.wav: no such file"):
        collect_inputs([tmp_path / "nope.wav"])
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "c.ogg").write_bytes(b"x")
    with pytest.raises(LwasrError, match="would both be written as c.ogg"):
        collect_inputs([tmp_path / "c.ogg", tmp_path / "other" / "c.ogg"])


def test_reading_resamples_and_downmixes(clips: Path) -> None:
    rec, failure = check_file(clips / "clip_flac.flac")
    assert failure is None and rec.sampling_rate == 8000 and rec.num_channels == 2
    audio, failure = read_audio(rec, clips / "clip_flac.flac")
    assert failure is None and audio.ndim == 1 and audio.size == 2 * SR
    spectrum = np.abs(np.fft.rfft(audio))
    assert np.argmax(spectrum) * SR / audio.size == pytest.approx(300, abs=1)  # still the 300 Hz tone
    assert np.sqrt(np.mean(audio**2)) == pytest.approx(0.75 * 0.3 / np.sqrt(2), rel=0.05)  # the channels' mean


def test_every_format_at_8k_stereo(tiny_whisper: Path, clips: Path, tmp_path, monkeypatch, capsys) -> None:
    out = tmp_path / "out"
    code, err = run_main(
        monkeypatch, capsys, "transcribe", clips, "--system", tiny_whisper, "--out", out, "--format", "jsonl,txt"
    )
    assert code == 0, err
    hyps = {r["id"]: r for r in read_hyps(out / HYP_FILE)}
    assert sorted(hyps) == ["clip_flac", "clip_mp3", "clip_ogg", "clip_wav"]
    for name, rec in hyps.items():
        segs = jsonl_segments(out / f"{name}.jsonl")
        assert rec["chunking"] == "whole" and rec["duration"] == pytest.approx(2.0, abs=0.06)
        assert len(segs) == 1 and segs[0]["start"] == 0.0 and segs[0]["end"] == pytest.approx(2.0, abs=0.06)
        assert segs[0]["text"] and segs[0]["language"] and 0 < segs[0]["language_probability"] <= 1
        assert (out / f"{name}.txt").read_text() == segs[0]["text"] + "\n"
    assert hyps["clip_wav"]["hyp"] == hyps["clip_flac"]["hyp"]  # both lossless: the same samples
    summary = json.loads((out / SUMMARY_FILE).read_text())
    assert summary["transcribed_this_run"] == 4 and summary["failed"] == 0 and summary["real_time_factor"] > 0
    assert summary["audio_seconds"] == pytest.approx(8.0, abs=0.2)


def test_python_api_returns_the_cli_segments(tiny_whisper: Path, clips: Path, long_file, tmp_path, monkeypatch, capsys):
    inputs = [clips / "clip_wav.wav", long_file[0]]
    out = tmp_path / "out"
    code, err = run_main(monkeypatch, capsys, "transcribe", *inputs, "--system", tiny_whisper, "--out", out)
    assert code == 0, err
    result = lwasr.transcribe(inputs, system=str(tiny_whisper), progress=False)
    assert list(result.transcripts) == ["clip_wav", "lecture"] and not result.failures
    for name, t in result.transcripts.items():
        assert [asdict(s) for s in t.segments if s.text] == jsonl_segments(out / f"{name}.jsonl")
    assert result.transcripts["lecture"].chunking == "silero-vad"
    again = lwasr.transcribe(inputs, system=str(tiny_whisper), out=out, progress=False)  # all done: read back
    assert again.summary["already_done"] == 2 and again.transcripts == result.transcripts


def test_long_file_is_cut_at_pauses(tiny_whisper: Path, long_file, tmp_path, monkeypatch, capsys) -> None:
    path, pauses = long_file
    out = tmp_path / "out"
    code, err = run_main(
        monkeypatch, capsys, "transcribe", path, "--system", tiny_whisper, "--out", out, "--format", "jsonl,srt,vtt,tsv"
    )
    assert code == 0, err
    segs = jsonl_segments(out / "lecture.jsonl")
    assert len(segs) >= 3
    assert all(0 < s["end"] - s["start"] <= 30.0 for s in segs)
    for a, b in zip(segs, segs[1:], strict=False):  # each cut lies in a pause of the audio
        assert a["end"] <= b["start"]
        assert any(p0 - 0.3 <= a["end"] and b["start"] <= p1 + 0.3 for p0, p1 in pauses), (a, b, pauses)
    for fmt, sep in (("srt", ","), ("vtt", ".")):
        text = (out / f"lecture.{fmt}").read_text()
        assert text.startswith("WEBVTT\n\n") == (fmt == "vtt")
        cues = re.findall(rf"(\d+)\n{SRT_TIME} --> {SRT_TIME}\n(.+)\n\n", text)
        assert len(cues) == len(segs) and [int(c[0]) for c in cues] == list(range(1, len(segs) + 1))
        assert all(sep in line for line in text.splitlines() if "-->" in line)
        times = [
            (
                sum(int(x) * m for x, m in zip(c[1:5], (3600, 60, 1, 0.001), strict=True)),
                sum(int(x) * m for x, m in zip(c[5:9], (3600, 60, 1, 0.001), strict=True)),
            )
            for c in cues
        ]
        assert all(s < e for s, e in times) and all(e <= s2 for (_, e), (s2, _) in zip(times, times[1:], strict=False))
        assert times[0][0] == pytest.approx(segs[0]["start"], abs=1e-3)
    tsv = (out / "lecture.tsv").read_text().splitlines()
    assert tsv[0] == "start\tend\ttext" and [int(r.split("\t")[0]) for r in tsv[1:]] == [
        round(s["start"] * 1000) for s in segs
    ]


def test_without_silero_fixed_windows_with_overlap(
    tiny_whisper: Path, long_file, tmp_path, monkeypatch, capsys, caplog
):
    monkeypatch.setitem(sys.modules, "silero_vad", None)  # `import silero_vad` now fails
    path, _ = long_file
    out = tmp_path / "out"
    with caplog.at_level("WARNING"):
        code, err = run_main(monkeypatch, capsys, "transcribe", path, "--system", tiny_whisper, "--out", out)
    assert code == 0, err
    assert "silero-vad is not installed" in caplog.text
    duration = sf.info(path).duration
    rec = read_hyps(out / HYP_FILE)[0]
    assert rec["chunking"] == "fixed-window"
    assert json.loads((out / SETTINGS_FILE).read_text())["chunking"] == "fixed-window"
    assert json.loads((out / SUMMARY_FILE).read_text())["chunking"] == {"fixed-window": 1}
    # windows [0, 30], [25, 55], [50, end]: segments meet in the middle of each 5-s overlap
    bounds = [(s["start"], s["end"]) for s in rec["segments"]]
    assert bounds == [(0.0, 27.5), (27.5, 52.5), (52.5, pytest.approx(duration, abs=1e-3))]


def test_chunking_fixed_is_asked_for_and_vad_without_silero_is_an_error(
    tiny_whisper: Path, long_file, tmp_path, monkeypatch, capsys, caplog
):
    path, _ = long_file
    out = tmp_path / "fixed"
    with caplog.at_level("WARNING"):
        code, err = run_main(
            monkeypatch, capsys, "transcribe", path, "--system", tiny_whisper, "--out", out, "--chunking", "fixed"
        )
    assert code == 0, err
    assert "silero-vad is not installed" not in caplog.text  # installed, and fixed windows were asked for
    assert read_hyps(out / HYP_FILE)[0]["chunking"] == "fixed-window"
    args = ("transcribe", path, "--system", tiny_whisper, "--out", out)
    code, err = run_main(monkeypatch, capsys, *args, "--chunking", "x")
    assert code == 2 and "unknown chunking 'x'; use one of auto, vad, fixed" in err
    monkeypatch.setitem(sys.modules, "silero_vad", None)
    vad_out = tmp_path / "vad"
    code, err = run_main(
        monkeypatch, capsys, "transcribe", path, "--system", tiny_whisper, "--out", vad_out, "--chunking", "vad"
    )
    assert code == 2 and "--chunking vad needs silero-vad" in err
    assert not vad_out.exists()  # refused before anything was written


def test_max_chunk_seconds_gives_one_stretch_of_speech_per_chunk(
    tiny_whisper: Path, long_file, tmp_path, monkeypatch, capsys
):
    """Stretches of 6-9 s apart by pauses: with chunks of at most 10 s, each chunk is one stretch."""
    path, pauses = long_file
    out = tmp_path / "out"
    args = ("transcribe", path, "--system", tiny_whisper, "--out", out, "--format", "jsonl")
    code, err = run_main(monkeypatch, capsys, *args, "--max-chunk-seconds", "10")
    assert code == 0, err
    bounds = [(s["start"], s["end"]) for s in read_hyps(out / HYP_FILE)[0]["segments"]]
    assert len(bounds) == len(pauses) and all(0 < e - s <= 10.0 for s, e in bounds)
    for (_, end), (p0, p1) in zip(bounds, pauses, strict=True):  # every chunk ends in the pause after its stretch
        assert p0 - 0.3 <= end <= p1 + 0.3
    assert json.loads((out / SETTINGS_FILE).read_text())["max_chunk_seconds"] == 10.0
    code, err = run_main(monkeypatch, capsys, *args, "--max-chunk-seconds", "0.5")
    assert code == 2 and "--max-chunk-seconds must be between 1 and 30, not 0.5" in err


def test_chunking_helpers() -> None:
    assert merge_speech([Span(0, 5 * SR), Span(6 * SR, 20 * SR), Span(21 * SR, 40 * SR)]) == [
        Span(0, 20 * SR),
        Span(21 * SR, 40 * SR),
    ]
    pieces = merge_speech([Span(0, 70 * SR)])  # one 70-s region: split evenly, each at most 30 s
    assert len(pieces) == 3 and pieces[0].start == 0 and pieces[-1].end == 70 * SR
    assert all(p.end - p.start <= 30 * SR for p in pieces)
    # fixed windows [0, 30) and [25, 55) s: each keeps the units of its side of the overlap's middle, by time
    assert own_stretches([Span(0, 30), Span(25, 55)]) == [Span(0, 27), Span(27, 55)]
    assert words_within("a b c d e f", Span(0, 30), Span(0, 27), "en") == "a b c d e"  # f at 27.5: the next one's
    assert words_within("f g h i j k", Span(25, 55), Span(27, 55), "en") == "f g h i j k"  # said once, by this one
    assert words_within("我们去了老城很安静", Span(0, 9), Span(3, 9), "zh") == "了老城很安静"  # characters for CER
    assert words_within("", Span(0, 9), Span(3, 9), "en") == ""


def test_resume_skips_finished_files(tiny_whisper: Path, clips: Path, tmp_path, monkeypatch, capsys) -> None:
    src = tmp_path / "in"
    src.mkdir()
    for name in ("clip_wav.wav", "clip_flac.flac"):
        (src / name).write_bytes((clips / name).read_bytes())
    out = tmp_path / "out"
    decoded: list[str] = []
    real_call = Decoder.__call__

    def counting(self, batch):
        decoded.extend(u.id for u in batch)
        return real_call(self, batch)

    monkeypatch.setattr(Decoder, "__call__", counting)
    args = ["transcribe", src, "--system", tiny_whisper, "--out", out]
    assert run_main(monkeypatch, capsys, *args)[0] == 0
    assert sorted(decoded) == ["clip_flac#0", "clip_wav#0"]
    before = {p.name: p.stat().st_mtime_ns for p in out.glob("clip_*")}
    (src / "clip_ogg.ogg").write_bytes((clips / "clip_ogg.ogg").read_bytes())
    decoded.clear()
    assert run_main(monkeypatch, capsys, *args)[0] == 0
    assert decoded == ["clip_ogg#0"]  # only the new file
    assert {p: out.joinpath(p).stat().st_mtime_ns for p in before} == before
    summary = json.loads((out / SUMMARY_FILE).read_text())
    assert (summary["already_done"], summary["transcribed_this_run"], summary["utterances"]) == (2, 1, 3)
    code, err = run_main(monkeypatch, capsys, *args, "--beam-size", "2")
    assert code == 2 and "other settings (differing: beam_size)" in err
    (out / "mine.txt").write_text("my notes")
    decoded.clear()
    assert run_main(monkeypatch, capsys, *args, "--format", "srt", "--overwrite")[0] == 0
    assert sorted(decoded) == ["clip_flac#0", "clip_ogg#0", "clip_wav#0"]  # started over
    assert sorted(p.name for p in out.glob("clip_*")) == ["clip_flac.srt", "clip_ogg.srt", "clip_wav.srt"]
    assert (out / "mine.txt").read_text() == "my notes"  # not lwasr's: kept


def test_unreadable_files_are_listed_and_the_rest_written(
    tiny_whisper: Path, clips: Path, tmp_path, monkeypatch, capsys
):
    src = tmp_path / "in"
    src.mkdir()
    (src / "good.wav").write_bytes((clips / "clip_wav.wav").read_bytes())
    (src / "empty.wav").write_bytes(b"")
    (src / "corrupt.flac").write_bytes(b"\x00not audio" * 50)
    truncated = (clips / "clip_wav.wav").read_bytes()
    (src / "truncated.wav").write_bytes(truncated[: len(truncated) // 2])
    (src / "notes.m4a").write_bytes(b"x")
    listing = tmp_path / "list.txt"
    listing.write_text("in/notes.m4a\nin/gone.wav\n")
    out = tmp_path / "out"
    code, err = run_main(monkeypatch, capsys, "transcribe", src, listing, "--system", tiny_whisper, "--out", out)
    assert code == 1
    reasons = {Path(f["input"]).name: f["reason"] for f in json.loads((out / SUMMARY_FILE).read_text())["failures"]}
    assert reasons == {
        "empty.wav": "empty_audio",
        "corrupt.flac": "unreadable_audio",
        "truncated.wav": "truncated_audio",
        "notes.m4a": "unsupported_audio",
        "gone.wav": "missing_audio",
    }
    for name, reason in reasons.items():
        assert re.search(rf"failed: \S*{re.escape(name)}: {reason}: ", err), err
    assert [r["id"] for r in read_hyps(out / HYP_FILE)] == ["good"] and (out / "good.txt").read_text().strip()
    assert not (out / "empty.txt").exists()
    code, err = run_main(monkeypatch, capsys, "transcribe", src, "--system", tiny_whisper, "--out", out)
    summary = json.loads((out / SUMMARY_FILE).read_text())  # the failed files are tried again, the good one skipped
    assert code == 1 and (summary["already_done"], summary["transcribed_this_run"], summary["failed"]) == (1, 0, 3)


def test_output_dir_that_lwasr_did_not_write_is_refused(tiny_whisper: Path, clips: Path, tmp_path, monkeypatch, capsys):
    out = tmp_path / "theirs"
    out.mkdir()
    (out / "report.docx").write_text("keep me")
    code, err = run_main(monkeypatch, capsys, "transcribe", clips, "--system", tiny_whisper, "--out", out)
    assert code == 2 and "not an earlier output of `lwasr transcribe`" in err
    assert sorted(p.name for p in out.iterdir()) == ["report.docx"]
    code, err = run_main(
        monkeypatch, capsys, "transcribe", clips, "--system", tiny_whisper, "--out", tmp_path / "o", "--format", "docx"
    )
    assert code == 2 and "unknown output format docx" in err and not (tmp_path / "o").exists()


def test_experts_routed_per_file_per_chunk_or_by_language(experts: Path, long_file, clips, tmp_path) -> None:
    inputs = [clips / "clip_wav.wav", long_file[0]]
    given = lwasr.transcribe(inputs, system=str(experts), language="pt", progress=False)
    assert {(s.language, s.language_probability) for t in given.transcripts.values() for s in t.segments} == {
        ("pt", None)
    }
    # untrimmed: trimmed input makes a hypothesis depend on its batch's padding (docs/decoding.md)
    per_file = lwasr.transcribe(inputs, system=str(experts), lid_langs=["pl", "pt"], trim=False, progress=False)
    for t in per_file.transcripts.values():
        assert t.language in ("pl", "pt") and 0.5 <= t.language_probability <= 1
        assert {(s.language, s.language_probability) for s in t.segments} == {(t.language, t.language_probability)}
    # the file's expert decoded it: the same text as naming that language (the long file: its batches and token
    # budgets are the same alone, a budget being set by the longest chunk of a batch)
    lecture = per_file.transcripts["lecture"]
    same = lwasr.transcribe([lecture.path], system=str(experts), language=lecture.language, trim=False, progress=False)
    assert [s.text for s in same.transcripts["lecture"].segments] == [s.text for s in lecture.segments]
    other = {"pl": "pt", "pt": "pl"}[lecture.language]
    elsewhere = lwasr.transcribe([lecture.path], system=str(experts), language=other, trim=False, progress=False)
    assert [s.text for s in elsewhere.transcripts["lecture"].segments] != [s.text for s in lecture.segments]
    per_chunk = lwasr.transcribe([long_file[0]], system=str(experts), route_per="chunk", lid_langs=["pl", "pt"])
    segs = per_chunk.transcripts["lecture"].segments
    assert len(segs) >= 3 and all(s.language in ("pl", "pt") and 0.5 <= s.language_probability <= 1 for s in segs)
    with pytest.raises(LwasrError, match="no expert for language.*it"):
        lwasr.transcribe(inputs, system=str(experts), language="it", progress=False)


def test_longform_set_and_its_score(tiny_whisper: Path, tmp_path: Path) -> None:
    src = tmp_path / "test"
    src.mkdir()
    specs = [(f"pl_{i:02d}", "pl", 4.0 + 0.5 * (i % 3)) for i in range(50)] + [(f"pt_{i}", "pt", 4.0) for i in range(4)]
    manifest = write_cuts(src, specs)
    out = tmp_path / "longform"
    app = typer.Typer()
    app.command()(longform)
    result = CliRunner().invoke(app, ["--cuts", str(manifest), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "pl: 2 recordings, 50 cuts" in result.output and "pt: 0 recordings" in result.output
    long_cuts = list(CutSet.from_file(out / LONGFORM_MANIFEST))
    source = {c.id: c for c in CutSet.from_file(manifest)}
    assert len(long_cuts) == 2 and all(60 <= c.duration <= 180 for c in long_cuts)
    for cut in long_cuts:
        parts = cut.supervisions[0].custom["parts"]
        assert cut_text(cut) == " ".join(cut_text(source[p]) for p in parts)
        audio = cut.load_audio()[0]
        for p, (start, end) in zip(parts, cut.supervisions[0].custom["part_times"], strict=True):
            clip = source[p].load_audio()[0]
            assert np.array_equal(audio[round(start * SR) : round(start * SR) + clip.size], clip)
            assert end - start == pytest.approx(clip.size / SR, abs=1e-3)
    assert [c.id for c in CutSet.from_file(out / PARTS_MANIFEST)] == [s[0] for s in specs[:50]]
    stamp = (out / LONGFORM_MANIFEST).stat().st_mtime_ns
    assert build_longform_set([manifest], out, progress=False)["languages"]["pl"]["recordings"] == 2
    assert (out / LONGFORM_MANIFEST).stat().st_mtime_ns == stamp  # complete with these settings: kept
    with pytest.raises(LwasrError, match="no cuts in language.*it"):
        build_longform_set([manifest], tmp_path / "x", langs=["it"])

    decoded = tmp_path / "transcribed"
    lwasr.transcribe([out / "wav"], system=str(tiny_whisper), out=decoded, reference=out / LONGFORM_MANIFEST)
    results = score_dir(decoded)  # what `lwasr score DIR` runs
    refs = sum(len(units(cut_text(c), "pl")) for c in long_cuts)  # the concatenated references, scored
    assert results["languages"]["pl"]["utterances"] == 2 and results["languages"]["pl"]["ref_units"] == refs
    with pytest.raises(LwasrError, match="has no recording of"):
        lwasr.transcribe([src], system=str(tiny_whisper), reference=out / LONGFORM_MANIFEST)


def test_help_has_an_example_and_every_option_explained() -> None:
    from typer.main import get_command

    from lwasr.cli import app

    text = CliRunner().invoke(app, ["transcribe", "--help"], env={"COLUMNS": "200"}).output
    assert re.search(r"Usage: lwasr transcribe \[OPTIONS\] \S*PATHS", text)
    assert "Example: lwasr transcribe recordings/ talk.mp3 --system" in text
    params = get_command(app).commands["transcribe"].params
    assert all(p.help for p in params), [p.name for p in params if not p.help]
    assert {"chunking", "max_chunk_seconds", "route_per", "lid_langs", "reference"} <= {p.name for p in params}


def test_segments_say_how_their_chunk_was_decoded(tiny_whisper: Path, clips: Path, long_file) -> None:
    """Every segment carries its chunk's temperature and scores, as faster-whisper's segments do."""
    inputs = [clips / "clip_wav.wav", long_file[0]]
    sampled = lwasr.transcribe(
        inputs, system=str(tiny_whisper), temperatures="1", no_speech_threshold=None, progress=False
    )
    greedy = lwasr.transcribe(inputs, system=str(tiny_whisper), temperatures="0", progress=False)
    for name, t in sampled.transcripts.items():
        assert t.segments and all(s.temperature == 1.0 for s in t.segments)
        assert all(s.avg_logprob < 0 and s.compression_ratio > 0 for s in t.segments)
        assert [s.temperature for s in greedy.transcripts[name].segments] == [0.0] * len(
            greedy.transcripts[name].segments
        )
    whole = greedy.transcripts["clip_wav"].segments[0]  # one chunk, one segment: the chunk's own ratio
    assert whole.compression_ratio == pytest.approx(compression_ratio(whole.text), abs=1e-5)


def test_transcribe_defaults_to_openai_whispers_rules_and_decode_to_plain_search(
    tiny_whisper: Path, clips: Path, tmp_path: Path, monkeypatch, capsys
) -> None:
    """openai-whisper's and faster-whisper's transcribe fall back by default; lwasr decode scores plain search."""

    cuts = write_cuts(tmp_path, [("pl_0", "pl", 1.0)])
    for args, temperatures, no_speech in (
        (("transcribe", clips, "--out", tmp_path / "t"), [0.0, 0.2, 0.4, 0.6, 0.8, 1.0], 0.6),
        (("decode", "--cuts", cuts, "--out", tmp_path / "d"), [0.0], None),
    ):
        monkeypatch.setattr(sys, "argv", ["lwasr", *map(str, args), "--system", str(tiny_whisper), "--print-config"])
        with pytest.raises(SystemExit) as exit_info:
            main()
        assert not exit_info.value.code
        options = yaml.safe_load(capsys.readouterr().out)["options"]
        assert options["temperatures"] == temperatures and options["no_speech_threshold"] == no_speech
        assert options["compression_ratio_threshold"] == 2.4 and options["logprob_threshold"] == -1.0
