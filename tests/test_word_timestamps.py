"""Word timestamps (cross-attention DTW) and the subtitle-like segments split from them."""

from __future__ import annotations

import difflib
import importlib.util
import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from faster_whisper import WhisperModel
from helpers import write_wav
from transformers import AutoTokenizer

import lwasr
from lwasr.data.audio import resample
from lwasr.decoding.word_timing import Word, dtw, median_filter, merge_punctuations, shorten_long_words, split_words
from lwasr.models.embedded import assemble_ct2
from lwasr.transcribe.cues import CueRules, split_cues


@pytest.mark.parametrize(
    ("cost", "rows", "cols"),
    [
        # one zero path: right, then diagonally down twice
        ([[0, 0, 5, 5], [5, 5, 0, 5], [5, 5, 5, 0]], [0, 0, 1, 2], [0, 1, 2, 3]),
        # down first (two tokens on frame 0), then diagonally
        ([[0, 5], [0, 5], [5, 0]], [0, 1, 2], [0, 0, 1]),
        # the cheaper of two detours: 1 + 1 below beats the 9 on the diagonal
        ([[0, 9, 9], [1, 9, 9], [9, 1, 0]], [0, 1, 2, 2], [0, 0, 1, 2]),
    ],
)
def test_dtw_finds_the_cheapest_monotone_path(cost, rows, cols) -> None:
    got_rows, got_cols = dtw(np.array(cost, dtype=np.float32))
    assert got_rows.tolist() == rows
    assert got_cols.tolist() == cols


def reference_dtw():
    """bench/dtw.py's cell-by-cell loop: the code the anti-diagonal dtw replaced."""
    spec = importlib.util.spec_from_file_location("bench_dtw", Path(__file__).parents[1] / "bench" / "dtw.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.reference_dtw


@pytest.mark.parametrize(
    ("rows", "cols", "levels"), [(1, 1, 0), (1, 7, 0), (7, 1, 0), (5, 40, 0), (40, 9, 3), (23, 150, 2)]
)
def test_dtw_gives_the_path_of_the_cell_by_cell_loop(rows, cols, levels) -> None:
    """Random costs, and costs of a few levels only (``levels`` > 0), whose many ties test the tie order."""
    reference = reference_dtw()
    rng = np.random.default_rng(rows * 1000 + cols)
    for _ in range(5):
        cost = rng.integers(0, levels, (rows, cols)) if levels else rng.random((rows, cols))
        cost = cost.astype(np.float32)
        for got, want in zip(dtw(cost), reference(cost), strict=True):
            assert got.tolist() == want.tolist()


def test_median_filter_removes_a_spike_and_keeps_a_step() -> None:
    x = torch.tensor([[0.0, 0.0, 9.0, 0.0, 0.0, 1.0, 1.0, 1.0]])
    assert median_filter(x, 3).tolist() == [[0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0]]


def test_words_are_grouped_at_spaces_or_per_character(tiny_whisper: Path) -> None:
    tok = AutoTokenizer.from_pretrained(tiny_whisper)
    spaced = tok.encode(" Hello world, isn't it", add_special_tokens=False)
    assert [tok.decode(w) for w in split_words(tok, spaced, "en")] == [" Hello", " world", ",", " isn't", " it"]
    chinese = tok.encode("你好世界。", add_special_tokens=False)  # 你好 and 世界 are one token each
    assert [tok.decode(w) for w in split_words(tok, chinese, "zh")] == ["你好", "世界", "。"]
    assert [tok.decode(w) for w in split_words(tok, chinese, "en")] == ["你好世界。"]  # no space, no ASCII mark
    rare = tok.encode("鑫", add_special_tokens=False)  # one character, several byte tokens
    assert len(rare) > 1 and [tok.decode(w) for w in split_words(tok, rare, "zh")] == ["鑫"]


def test_punctuation_joins_its_word_which_keeps_its_times() -> None:
    words = [Word(w, i, i + 1, 0.5) for i, w in enumerate([" (", " yes", ")", " no", "."])]
    assert merge_punctuations(words) == [Word(" (yes)", 1, 2, 0.5), Word(" no.", 3, 4, 0.5)]


def test_long_words_are_shortened_at_sentence_ends_and_at_the_start() -> None:
    spec = [(" Yes", 0.0, 3.0), (" no", 3.0, 3.2), (".", 3.2, 4.8), (" So", 4.8, 6.3)]
    words = [Word(w, s, e, 1.0) for w, s, e in spec]
    # durations 3.0, 0.2, 1.6, 1.5: median 1.55, capped at 0.7, so a word may last 1.4 s
    assert shorten_long_words(words) == [
        Word(" Yes", 1.6, 3.0, 1.0),  # the clip's first word, stretched over the silence before it
        Word(" no", 3.0, 3.2, 1.0),
        Word(".", 3.2, 4.6, 1.0),  # a sentence mark
        Word(" So", 4.9, 6.3, 1.0),  # after a sentence mark
    ]
    assert shorten_long_words(words[1:]) == [words[1], Word(".", 3.2, 4.6, 1.0), Word(" So", 4.9, 6.3, 1.0)]


def _words(*spec: tuple[str, float, float]) -> list[Word]:
    return [Word(w, s, e, 1.0) for w, s, e in spec]


def test_cues_split_at_pauses_sentence_ends_duration_and_length() -> None:
    rules = CueRules(max_seconds=3.0, max_chars=20, pause_seconds=0.5)
    pause = _words((" a", 0.0, 0.2), (" b", 0.3, 0.5), (" c", 1.1, 1.3))  # 0.6 s between b and c
    assert [len(c) for c in split_cues(pause, rules)] == [2, 1]
    sentence = _words((" Yes.", 0.0, 0.2), (" No", 0.2, 0.4))
    assert [len(c) for c in split_cues(sentence, rules)] == [1, 1]
    long = _words(*[(" w", 0.5 * i, 0.5 * i + 0.5) for i in range(10)])  # 5 s without a pause
    cues = split_cues(long, rules)
    assert [len(c) for c in cues] == [6, 4]
    assert all(c[-1].end - c[0].start <= 3.0 for c in cues)
    wide = _words(*[(" word", 0.3 * i, 0.3 * i + 0.3) for i in range(6)])  # 5 characters a word, 29 in all
    assert ["".join(w.word for w in c).strip() for c in split_cues(wide, rules)] == ["word word word word", "word word"]
    assert [len(c) for c in split_cues(_words((" " + "x" * 30, 0, 1), (" y", 1, 2)), rules)] == [1, 1]


def test_the_tiny_model_times_every_word_within_its_audio(tiny_whisper: Path, tmp_path: Path) -> None:
    write_wav(tmp_path / "a.wav", seconds=2.5)
    out = tmp_path / "out"
    settings = {"language": "pl", "formats": "jsonl,srt", "word_timestamps": True, "max_new_tokens": 12}
    result = lwasr.transcribe([tmp_path / "a.wav"], system=str(tiny_whisper), out=out, progress=False, **settings)
    segments = result.transcripts["a"].segments
    words = [w for s in segments for w in s.words]
    assert words, "the random model decodes some words"
    assert all(0.0 <= w.start <= w.end <= 2.5 and 0.0 <= w.probability <= 1.0 for w in words)
    assert all(a.start <= b.start and a.end <= b.end for a, b in zip(words, words[1:], strict=False))
    for s in segments:
        assert s.text == "".join(w.word for w in s.words).strip()
        assert (s.start, s.end) == (s.words[0].start, s.words[-1].end)
        assert len(s.text) <= 42 or len(s.words) == 1
    lines = [json.loads(x) for x in (out / "a.jsonl").read_text().splitlines()]
    assert [[w["word"] for w in line["words"]] for line in lines] == [[w.word for w in s.words] for s in segments]
    assert (out / "a.srt").read_text().count(" --> ") == len(segments)
    recorded = json.loads((out / "settings.json").read_text())
    assert recorded["word_timestamps"] == {"max_seconds": 7.0, "max_chars": 42, "pause_seconds": 0.5}
    again = lwasr.transcribe([tmp_path / "a.wav"], system=str(tiny_whisper), out=out, progress=False, **settings)
    assert again.summary["already_done"] == 1 and again.transcripts == result.transcripts  # words read back


def test_words_of_overlapping_windows_are_in_file_time(tiny_whisper: Path, tmp_path: Path) -> None:
    write_wav(tmp_path / "long.wav", seconds=12.0)
    settings = {"language": "pl", "chunking": "fixed", "max_chunk_seconds": 4, "max_new_tokens": 8}
    t = lwasr.transcribe(
        [tmp_path / "long.wav"], system=str(tiny_whisper), word_timestamps=True, progress=False, **settings
    )
    words = [w for s in t.transcripts["long"].segments for w in s.words]
    assert all(0.0 <= w.start <= w.end <= 12.0 for w in words)
    assert all(a.start <= b.start for a, b in zip(words, words[1:], strict=False))
    assert max(w.end for w in words) > 10.0  # the last window's words are offset by its start (10 s into the file)


def test_experts_routed_by_language_id_keep_their_text_with_word_timestamps(experts: Path, tmp_path: Path) -> None:
    write_wav(tmp_path / "a.wav", seconds=2.0)
    settings = {"lid_langs": ["pl", "pt"], "max_new_tokens": 10, "progress": False}
    plain = lwasr.transcribe([tmp_path / "a.wav"], system=str(experts), **settings).transcripts["a"]
    timed = lwasr.transcribe([tmp_path / "a.wav"], system=str(experts), word_timestamps=True, **settings)
    t = timed.transcripts["a"]
    assert t.language == plain.language and t.language in ("pl", "pt")
    assert " ".join(s.text for s in t.segments if s.text) == plain.text  # the words are the decoded text
    assert all(0.0 <= w.start <= w.end <= 2.0 for s in t.segments for w in s.words)


POLISH = ["Dzień dobry, jak się masz?", "Dzisiaj jest bardzo ładna pogoda.", "Idziemy razem do parku na spacer."]


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")
def test_whisper_base_word_times_match_the_speech_and_faster_whisper(tmp_path: Path) -> None:
    """Three espeak-ng sentences 1 s apart, after 0.5 s of silence: every sentence's first word starts and its last
    word ends within 0.25 s of where its speech does, except the file's first word (DTW starts it at 0: within
    0.6 s); where lwasr and faster-whisper (on the same checkpoint) decode the same words, their times differ by a
    median of at most 0.05 s and a 95th percentile of at most 0.3 s (measured: 0.5 s for the first word, at
    most 0.14 s for the other edges; 14 words in common, median 0.010 s, p95 0.053 s)."""
    pieces, edges, at = [np.zeros(8000, np.float32)], [], 8000
    for text in POLISH:
        subprocess.run(["espeak-ng", "-v", "pl", "-w", str(tmp_path / "s.wav"), text], check=True)
        audio, sr = sf.read(tmp_path / "s.wav", dtype="float32")
        audio = resample(audio, sr, 16000)
        voiced = np.nonzero(np.abs(audio) > 1e-3)[0]
        audio = audio[voiced[0] : voiced[-1] + 1]
        edges.append((at / 16000, (at + len(audio)) / 16000))
        pieces += [audio, np.zeros(16000, np.float32)]
        at += len(audio) + 16000
    wav = tmp_path / "speech.wav"
    sf.write(wav, np.concatenate(pieces), 16000)
    result = lwasr.transcribe([wav], system="embedded:whisper-base", language="pl", word_timestamps=True, trim=False)
    segments = result.transcripts["speech"].segments
    assert len(segments) == 3  # split at the sentence ends
    edge = np.abs([t for (start, end), s in zip(edges, segments, strict=True) for t in (s.start - start, s.end - end)])
    print(f"|sentence edge - speech edge|: {np.round(edge, 2).tolist()} s")
    ours = [w for s in segments for w in s.words]
    model = WhisperModel(str(assemble_ct2("whisper-base", tmp_path / "ct2")), device="cpu", compute_type="float32")
    found, _ = model.transcribe(
        str(wav),
        language="pl",
        beam_size=1,
        temperature=0.0,
        word_timestamps=True,
        without_timestamps=True,
        condition_on_previous_text=False,
        vad_filter=False,
    )
    theirs = [w for s in found for w in s.words]
    same = difflib.SequenceMatcher(a=[w.word for w in ours], b=[w.word for w in theirs], autojunk=False)
    pairs = [(ours[b.a + k], theirs[b.b + k]) for b in same.get_matching_blocks() for k in range(b.size)]
    assert len(pairs) >= len(ours) // 2
    diff = np.abs([t for a, b in pairs for t in (a.start - b.start, a.end - b.end)])
    print(
        f"{len(pairs)} words in common; |lwasr - faster-whisper|: median {np.median(diff):.3f} s,"
        f" p95 {np.percentile(diff, 95):.3f} s, max {diff.max():.3f} s"
    )
    assert np.median(diff) <= 0.05 and np.percentile(diff, 95) <= 0.3
    assert edge[0] <= 0.6 and edge[1:].max() <= 0.25
