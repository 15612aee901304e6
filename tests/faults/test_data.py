"""Fault suite, data preparation: truncated and empty audio, text files that are not UTF-8, colliding ids,
repeated wav.scp ids, and shell commands in data lists (issue 11, items 7, 8, 10, 11, 12); the rows and options of
`prepare hf` (issue 28 item 3)."""

from __future__ import annotations

import io
import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from helpers import hf_dataset, one_line_error, run_main, write_cuts, write_wav
from lhotse import CutSet, MonoCut, Recording, SupervisionSegment
from typer.testing import CliRunner

from lwasr.cli import app
from lwasr.data.hf_dataset import prepare_hf
from lwasr.data.kaldi_dir import prepare_dir
from lwasr.data.limits import CutLimits
from lwasr.data.manifests import manifest_path
from lwasr.data.validate import validate_manifest
from lwasr.errors import LwasrError
from lwasr.routing.config import RouterConfig
from lwasr.routing.train import LEFT_OUT_FILE, train_router
from lwasr.units.meta import ModelMeta


def _tsv(d: Path, rows: list[str], encoding: str = "utf-8") -> Path:
    tsv = d / "list.tsv"
    tsv.write_bytes(("\n".join(["path\ttext\tlang", *rows]) + "\n").encode(encoding))
    return tsv


def _truncated_wav(path: Path, seconds: float, keep: int) -> Path:
    """A 16-bit WAV whose header still declares ``seconds`` of audio but whose data stops after ``keep`` samples."""
    write_wav(path, seconds)
    data = path.read_bytes()
    path.write_bytes(data[: data.index(b"data") + 8 + 2 * keep])
    return path


def _kaldi(d: Path, wav_scp: str, text: str, encoding: str = "utf-8") -> Path:
    d.mkdir(parents=True, exist_ok=True)
    (d / "wav.scp").write_text(wav_scp)
    (d / "text").write_bytes(text.encode(encoding))
    return d


def _prepare(root: Path, items: dict[str, tuple[Path, str]], **kw) -> Path:
    """Prepare ``{utt id: (audio, text)}`` (Polish) as a Kaldi data dir; return the corpus root ``out``."""
    src = _kaldi(
        root / "kaldi",
        "".join(f"{u} {a}\n" for u, (a, _) in items.items()),
        "".join(f"{u} {t}\n" for u, (_, t) in items.items()),
    )
    prepare_dir(src, root / "out", split="train", lang="pl", jobs=1, **kw)
    return root / "out"


def _dropped(out: Path) -> dict[str, dict]:
    return {d["id"]: d for d in json.loads((out / "report.json").read_text())["dropped"]}


def _ids(out: Path) -> list[str]:
    return [c.id for c in CutSet.from_file(manifest_path(out, "out", "pl", "train"))]


@pytest.mark.parametrize("check_audio", [False, True])
def test_too_short_for_its_text(tmp_path: Path, check_audio: bool) -> None:
    """Item 10: a header plus 8 samples (0.5 ms) and 31 characters on 0.5 s are dropped, with or without
    --check-audio; both thresholds are settings."""
    d = tmp_path / "c"
    write_wav(d / "ok.wav", 1.0)
    _truncated_wav(d / "trunc.wav", 1.0, keep=8)
    write_wav(d / "fast.wav", 0.5)
    items = {
        "ok": (d / "ok.wav", "dzień dobry"),
        "trunc": (d / "trunc.wav", "pełny tekst zdania"),
        "fast": (d / "fast.wav", "tak " * 10 + "x"),
    }
    out = _prepare(tmp_path, items, decode=check_audio)
    assert _ids(out) == ["ok"]
    dropped = _dropped(out)
    trunc = "truncated_audio" if check_audio else "too_short"  # decoding knows more than the length
    assert {k: v["reason"] for k, v in dropped.items()} == {"trunc": trunc, "fast": "too_short"}
    assert ("only 8 can be read" if check_audio else "0.0005 s < 0.1 s") in dropped["trunc"]["detail"]
    assert "31 characters in 0.50 s" in dropped["fast"]["detail"]
    # looser limits keep the 0.5 s clip (and changing them rebuilds the manifest)
    _prepare(tmp_path, items, limits=CutLimits(min_seconds=0.0001, max_chars_per_second=100))
    assert _ids(out) == ["ok", "fast"]
    with pytest.raises(LwasrError, match="--max-chars-per-second 0"):
        CutLimits(max_chars_per_second=0)


def test_check_audio_catches_a_wav_shorter_than_its_header(tmp_path: Path) -> None:
    """Item 10: a WAV whose header declares 2 s but holds 1 s is dropped by --check-audio and flagged by validate."""
    d = tmp_path / "c"
    _truncated_wav(d / "cut.wav", 2.0, keep=16000)
    write_wav(d / "ok.wav", 1.0)
    items = {"cut": (d / "cut.wav", "dzień dobry"), "ok": (d / "ok.wav", "dobry wieczór")}
    out = _prepare(tmp_path, items)
    assert _ids(out) == ["cut", "ok"]  # the header is readable: only decoding tells
    _, problems = validate_manifest(manifest_path(out, "out", "pl", "train"), jobs=1)
    assert problems == [
        f"cut: audio truncated: {d / 'cut.wav'}: the header declares 32000 samples, only 16000 can be read"
        " (truncated file?)"
    ]
    _prepare(tmp_path, items, decode=True, force=True)
    assert _ids(out) == ["ok"]
    assert _dropped(out)["cut"]["reason"] == "truncated_audio"


def test_validate_flags_cuts_too_short_for_their_text(tmp_path: Path) -> None:
    """Item 10: `prepare validate` flags a 0.5 ms cut (as manifests written before the check hold)."""
    rec = Recording.from_file(_truncated_wav(tmp_path / "trunc.wav", 1.0, keep=8), recording_id="trunc")
    sup = SupervisionSegment("trunc", "trunc", 0.0, rec.duration, channel=0, text="pełny tekst", language="pl")
    path = tmp_path / "old_cuts.jsonl.gz"
    CutSet.from_cuts([MonoCut("trunc", 0.0, rec.duration, 0, recording=rec, supervisions=[sup])]).to_file(path)
    res = CliRunner().invoke(app, ["prepare", "validate", str(path), "--no-audio"])
    assert res.exit_code == 1
    assert "trunc: too short: 0.0005 s < 0.1 s (--min-seconds)" in res.output, res.output


def test_tsv_ids_are_relative_paths(tmp_path: Path) -> None:
    """Item 11: a.flac and a.wav keep their own ids; a real collision names both files."""
    d = tmp_path / "c"
    for name in ("audio/a.flac", "audio/a.wav", "b c.wav", "b_c.wav"):
        write_wav(d / name, 1.0)
    tsv = _tsv(d, ["audio/a.flac\tjeden\tpl", "audio/a.wav\tdwa\tpl", "b c.wav\ttrzy\tpl", "b_c.wav\tcztery\tpl"])
    out = tmp_path / "out"
    prepare_dir(tsv, out, split="train", jobs=1)
    assert _ids(out) == ["audio/a.flac", "audio/a.wav", "b_c.wav"]
    dup = _dropped(out)["b_c.wav"]
    assert dup["reason"] == "duplicate_id"
    assert str(d / "b_c.wav") in dup["detail"] and str(d / "b c.wav") in dup["detail"]


def test_unreadable_and_empty_audio_reasons(tmp_path: Path) -> None:
    """Item 12: the whole decoder reason is kept; a zero-byte file is empty_audio."""
    d = tmp_path / "c"
    write_wav(d / "ok.wav", 1.0)
    (d / "corrupt.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEfmt garbage" * 4)
    (d / "zero.wav").write_bytes(b"")
    items = {u: (d / f"{u}.wav", "tak") for u in ("ok", "corrupt", "zero")}
    out = _prepare(tmp_path, items)
    dropped = _dropped(out)
    assert dropped["zero"]["reason"] == "empty_audio"
    assert dropped["corrupt"]["reason"] == "unreadable_audio"
    assert "Malformed 'fmt ' chunk" in dropped["corrupt"]["detail"]
    # validate reports the whole reason too
    (d / "ok.wav").write_bytes((d / "corrupt.wav").read_bytes())
    _, problems = validate_manifest(manifest_path(out, "out", "pl", "train"), jobs=1)
    assert len(problems) == 1 and "Malformed 'fmt ' chunk" in problems[0], problems


def _wav_pair(root: Path) -> tuple[Path, Path]:
    a, b = root / "audio" / "a.wav", root / "audio" / "b.wav"
    write_wav(a, 1.0)
    write_wav(b, 1.5)
    return a, b


def test_repeated_wav_scp_ids_are_reported(tmp_path: Path) -> None:
    """Item 12: a recording id given twice in wav.scp is reported with both paths; the first line is used."""
    a, b = _wav_pair(tmp_path)
    src = _kaldi(tmp_path / "kaldi", f"r1 {a}\nr2 {b}\nr1 {b}\n", "r1 jeden\nr2 dwa\n")
    out = tmp_path / "out"
    prepare_dir(src, out, split="train", lang="pl", jobs=1)
    rep = _dropped(out)["wav.scp:3"]
    assert rep["reason"] == "duplicate_id"
    assert str(a) in rep["detail"] and str(b) in rep["detail"] and "line 1" in rep["detail"]
    first = CutSet.from_file(manifest_path(out, "out", "pl", "train")).to_eager()[0]
    assert (first.id, first.recording.sources[0].source) == ("r1", str(a))


@pytest.mark.parametrize("where", ["tsv", "kaldi"])
def test_text_that_is_not_utf8(tmp_path: Path, where: str) -> None:
    """Item 8: a Latin-1 TSV or Kaldi `text` is a one-line error naming file:line and iconv."""
    a, b = _wav_pair(tmp_path)
    if where == "tsv":
        src = _tsv(tmp_path / "audio", ["a.wav\tdobry\tpl", "b.wav\tcafé\tpl"], encoding="latin-1")
        bad = f"{src}:3"
    else:
        src = _kaldi(tmp_path / "kaldi", f"r1 {a}\nr2 {b}\n", "r1 dobry\nr2 café\n", encoding="latin-1")
        bad = f"{src / 'text'}:2"
    with pytest.raises(LwasrError) as e:
        prepare_dir(src, tmp_path / "out", split="train", lang="pl", jobs=1)
    msg = str(e.value)
    assert msg.startswith(f"{bad}: not UTF-8 (byte 0xe9)") and "iconv" in msg and "\n" not in msg, msg


def test_wav_scp_commands_are_counted_and_tsv_runs_none(tmp_path: Path) -> None:
    """Item 7: `prepare dir` says how many wav.scp entries are shell commands; a TSV path is never run."""
    a, b = _wav_pair(tmp_path)
    src = _kaldi(tmp_path / "kaldi", f"r1 {a}\nr2 cat {b} |\n", "r1 jeden\nr2 dwa\n")
    out = tmp_path / "out"
    res = CliRunner().invoke(app, ["prepare", "dir", str(src), "--out", str(out), "--lang", "pl", "-j", "1"])
    assert res.exit_code == 0, res.output
    assert "1 of 2 entries are shell commands" in res.output and "use only one you trust" in res.output
    assert _ids(out) == ["r1", "r2"]

    marker = tmp_path / "ran"
    tsv = _tsv(tmp_path / "audio", ["a.wav\tjeden\tpl", f"{shutil.which('touch')} {marker} |\tdwa\tpl"])
    prepare_dir(tsv, tmp_path / "out2", split="train", jobs=1)
    assert not marker.exists()
    assert _dropped(tmp_path / "out2")["list.tsv:3"]["reason"] == "bad_line"


def test_hf_rows_that_cannot_be_used_are_dropped_with_their_reasons(tmp_path: Path) -> None:
    """`prepare hf`: each bad row is dropped, counted and listed with its reason; the good rows are kept."""
    from datasets import Dataset

    def clip(name: str, seconds: float) -> bytes:
        write_wav(tmp_path / name, seconds, 8000)
        return (tmp_path / name).read_bytes()

    buf = io.BytesIO()
    sf.write(buf, np.zeros(0, dtype=np.float32), 16000, format="WAV")
    write_wav(tmp_path / "clips" / "on_disk.wav", 1.0)
    audio = [
        {"bytes": clip("a.wav", 1.0), "path": "a.wav"},  # good
        {"bytes": None, "path": "clips/on_disk.wav"},  # good: a path relative to the dataset's folder
        {"bytes": clip("b.wav", 1.0), "path": "b.wav"},  # no transcript
        {"bytes": clip("c.wav", 1.0), "path": "c.wav"},  # a blank transcript
        {"bytes": clip("long.wav", 31.0), "path": "long.wav"},  # over 30 s
        {"bytes": buf.getvalue(), "path": "none.wav"},  # a wav without samples
        {"bytes": b"", "path": "zero.wav"},  # 0 bytes
        {"bytes": b"RIFF not audio at all", "path": "junk.wav"},  # undecodable
        {"bytes": None, "path": "gone.wav"},  # no bytes, no file
        None,  # no audio
        {"bytes": clip("d.wav", 1.0), "path": "d.wav"},  # unknown language
        {"bytes": clip("e.wav", 1.0), "path": "e.wav"},  # empty language
    ]
    text = ["jeden", "dwa", None, "   ", "długi", "cisza", "zero", "śmieci", "brak", "nic", "obcy", ""]
    lang = ["pl"] * 10 + ["xx", ""]
    src = tmp_path / "saved"
    Dataset.from_dict({"audio": audio, "text": text, "lang": lang}).save_to_disk(str(src))
    (src / "clips").mkdir()
    shutil.copy(tmp_path / "clips" / "on_disk.wav", src / "clips")
    report = prepare_hf(src, tmp_path / "out", split="train", jobs=1).to_dict()
    assert _ids(tmp_path / "out") == ["out-train-000000", "out-train-000001"]
    reasons = {d["id"].removeprefix("out-train-0000"): d["reason"] for d in report["dropped"]}
    assert reasons == {
        "02": "empty_text",
        "03": "empty_text",
        "04": "too_long",
        "05": "empty_audio",
        "06": "empty_audio",
        "07": "unreadable_audio",
        "08": "missing_audio",
        "09": "missing_audio",
        "10": "unknown_language",
        "11": "no_language",
    }
    details = {d["id"].removeprefix("out-train-0000"): d["detail"] for d in report["dropped"]}
    assert "'xx' is not a language Whisper knows" in details["10"]
    assert f"{src / 'gone.wav'}: no such file" in details["08"] and "junk.wav: " in details["07"]
    assert report["totals"]["dropped"] == 10


@pytest.mark.parametrize(
    "args, message",
    [
        (["--split", "train", "--lang", "xx"], "--lang 'xx' is not a language Whisper knows"),
        ([], "is one dataset without splits: say which split it is with --split"),
        (["--split", "train", "--text-column", "words"], "has no column 'words' (--text-column); its columns: audio"),
        (["--split", "dev", "--splits", "test"], "has no splits to choose with --splits"),
        (["--split", "train", "--lang-column", "code"], "has no column 'code' (--lang-column)"),
        (["--split", "train_x", "--lang", "pl"], "bad split name 'train_x'"),
    ],
)
def test_hf_bad_options_are_one_line_and_write_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture, args: list[str], message: str
) -> None:
    src = tmp_path / "saved"
    hf_dataset(tmp_path / "clips", [(1.0, 16000)], text=["jeden"]).save_to_disk(str(src))
    out = tmp_path / "out"
    code, err = run_main(monkeypatch, capsys, "prepare", "hf", str(src), "--out", str(out), *args)
    assert code == 2 and message in one_line_error(err), err
    assert not out.exists()


def test_hf_without_a_language_a_dataset_or_the_datasets_package_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    src = tmp_path / "saved"
    hf_dataset(tmp_path / "clips", [(1.0, 16000)], text=["jeden"]).save_to_disk(str(src))
    out = tmp_path / "out"
    cases = [
        (src, "has no lang column (looked for language, lang, locale): name it with --lang-column or give --lang"),
        (tmp_path / "clips", "not a Hugging Face dataset saved with save_to_disk"),
    ]
    for path, message in cases:
        code, err = run_main(monkeypatch, capsys, "prepare", "hf", str(path), "--out", str(out), "--split", "train")
        assert code == 2 and message in one_line_error(err), err
    monkeypatch.setitem(sys.modules, "datasets", None)  # `import datasets` now fails
    code, err = run_main(monkeypatch, capsys, "prepare", "hf", str(src), "--out", str(out), "--lang", "pl")
    assert code == 2 and "needs the datasets package: pip install 'lwasr[hf]'" in one_line_error(err), err
    assert not out.exists()


def test_router_train_counts_and_lists_the_cuts_of_languages_without_an_expert(experts, tmp_path, caplog):
    """The router of pl and pt experts trained on pl, pt and da cuts: the da cuts were left out without a word."""
    data = {}
    for split, n in (("train", 2), ("dev", 1)):
        (tmp_path / split).mkdir()
        data[split] = write_cuts(
            tmp_path / split, [(f"{split}_{g}_{i}", g, 0.5) for g in ("pl", "pt", "da") for i in range(n)]
        )
    out = tmp_path / "router"
    train_router(
        experts, [data["train"]], [data["dev"]], out, RouterConfig(steps=2, batch_size=6, device="cpu"), progress=False
    )
    said = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert "left out 2 train cuts of languages without an expert (da 2)" in said
    assert "left out 1 dev cuts of languages without an expert (da 1)" in said
    assert ModelMeta.load(out).extra["router"]["left_out"] == {"train": {"da": 2}, "dev": {"da": 1}}
    listed = json.loads((out / LEFT_OUT_FILE).read_text())
    assert listed == {"reason": "no_expert", "train": {"da": ["train_da_0", "train_da_1"]}, "dev": {"da": ["dev_da_0"]}}
