"""Faults in what `lwasr score` reads: a damaged or partial hyp.jsonl is an error, never a clean table of a subset."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from helpers import OPTS, ROOT, base_errors, git, records, table_rows, write_cuts, write_decode
from typer.testing import CliRunner

from lwasr.cli import app
from lwasr.decoding.io import HYP_FILE, KEPT_HYP_FILE, SETTINGS_FILE, SUMMARY_FILE
from lwasr.decoding.search import decode_cuts
from lwasr.decoding.systems import load_system
from lwasr.envinfo import git_commit
from lwasr.errors import LwasrError
from lwasr.scoring.metrics import RESULTS_FILE, score_dirs

runner = CliRunner()
N = 6  # utterances in the decode: pl_0..pl_2, pt_0..pt_2


@pytest.fixture(scope="module")
def finished(tiny_whisper: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A complete decode of six utterances in two languages, made by `decode_cuts` on the tiny model."""
    root = tmp_path_factory.mktemp("finished")
    cuts = write_cuts(root, [(f"{lang}_{i}", lang, 0.5 + 0.2 * i) for lang in ("pl", "pt") for i in range(3)])
    out = root / "exp" / "tiny" / "decode_test"
    decode_cuts(load_system(str(tiny_whisper)), [cuts], out, OPTS, progress=False)
    return out


@pytest.fixture
def decode(finished: Path, tmp_path: Path) -> Path:
    """A copy of the finished decode to damage."""
    out = tmp_path / "exp" / "tiny" / "decode_test"
    shutil.copytree(finished, out)
    return out


def hyp_lines(decode_dir: Path) -> list[str]:
    return (decode_dir / HYP_FILE).read_text().splitlines(keepends=True)


def set_lines(decode_dir: Path, lines: list[str]) -> None:
    (decode_dir / HYP_FILE).write_text("".join(lines))


def score_error(*args: str) -> str:
    """Run `lwasr score ...`, require a user error, and return its message."""
    res = runner.invoke(app, ["score", *args])
    assert isinstance(res.exception, LwasrError), res.output
    return str(res.exception)


def drop_key(line: str, key: str) -> str:
    rec = json.loads(line)
    del rec[key]
    return json.dumps(rec) + "\n"


@pytest.mark.parametrize(
    ("damage", "expected"),
    [
        (lambda line: line[:25] + "\n", "not a JSON record"),  # the corrupt line in the middle
        (lambda line: "[1, 2]\n", "not a JSON record"),
        (lambda line: drop_key(line, "ref"), "no 'ref'"),
        (lambda line: drop_key(line, "hyp"), "no 'hyp'"),
        (lambda line: drop_key(line, "lang"), "no 'lang'"),
        (lambda line: drop_key(line, "id"), "no 'id'"),
        (lambda line: line.replace('"hyp": "', '"hyp": 7, "x": "', 1), "'hyp' is not a string"),
    ],
)
def test_damaged_record_is_an_error_naming_file_and_line(decode: Path, damage, expected: str) -> None:
    lines = hyp_lines(decode)
    lines[2] = damage(lines[2])
    set_lines(decode, lines)
    msg = score_error(str(decode))
    assert f"{decode / HYP_FILE}:3:" in msg and expected in msg
    assert not (decode / RESULTS_FILE).exists() and not (decode.parent / "RESULTS.md").exists()


def test_repeated_record_is_an_error(decode: Path) -> None:
    lines = hyp_lines(decode)
    set_lines(decode, [*lines, lines[1]])
    msg = score_error(str(decode))
    assert f"{decode / HYP_FILE}:{N + 1}:" in msg and "line 2" in msg


def test_truncated_last_line_of_a_finished_decode_is_an_error(decode: Path) -> None:
    lines = hyp_lines(decode)
    set_lines(decode, [*lines[:-1], lines[-1][:10]])
    assert f"{decode / HYP_FILE}:{N}:" in score_error(str(decode))


def test_unfinished_decode_is_refused_with_counts(decode: Path) -> None:
    """A killed decode: no summary.json, 4 of the 6 manifest utterances (settings.json), the 5th half written."""
    lines = hyp_lines(decode)
    set_lines(decode, [*lines[:4], lines[4][:10]])
    (decode / SUMMARY_FILE).unlink()
    msg = score_error(str(decode))
    assert "unfinished" in msg and "4 of 6" in msg and "lwasr decode" in msg
    (decode / SETTINGS_FILE).unlink()  # the count comes from the decode's manifests; without them: what is known
    assert "4 utterances" in score_error(str(decode))


def test_records_missing_from_a_finished_decode_are_refused(decode: Path) -> None:
    set_lines(decode, hyp_lines(decode)[:4])
    msg = score_error(str(decode))
    assert "4 records" in msg and f"{N} utterances" in msg and "--overwrite" in msg


def test_compare_refuses_a_partial_decode(decode: Path, finished: Path, tmp_path: Path) -> None:
    (decode / SUMMARY_FILE).unlink()
    out = tmp_path / "table.md"
    assert "unfinished" in score_error("compare", str(finished), str(decode), "--out", str(out))
    pooled = ["--name", "x", "--name", "x"]  # one system of two dirs: each must be complete
    assert "unfinished" in score_error("compare", str(finished), str(decode), *pooled, "--out", str(out))
    assert not out.exists()


def test_compare_refuses_resamples_beyond_the_cap(finished: Path, tmp_path: Path) -> None:
    """`--resamples 100000000` on 4 utterances took 56 s and 11.3 GB; now one line before any resampling."""
    out = tmp_path / "table.md"
    other = shutil.copytree(finished, tmp_path / "other")
    msg = score_error("compare", str(finished), str(other), "--resamples", "100000000", "--out", str(out))
    assert msg.startswith("--resamples 100000000: need 1 to 1000000 ")
    assert not out.exists()


def test_dir_given_twice(finished: Path, tmp_path: Path) -> None:
    out = tmp_path / "table.md"
    same = str(finished.parent / ".." / finished.parent.name / finished.name)  # another spelling of one dir
    msg = score_error("compare", str(finished), same, "--out", str(out))
    assert msg == f"decode dir given twice: {same}"
    assert "given twice" in score_error(
        "compare", str(finished), str(finished), "--name", "a", "--name", "b", "--out", str(out)
    )
    assert not out.exists()


def test_compare_marks_an_average_over_fewer_languages(tmp_path: Path) -> None:
    """Without --baseline, a pl-only system's Avg stood beside a pl+zh one's as if comparable."""
    both = write_decode(tmp_path / "both" / "decode_test", records(base_errors))
    pl_only = write_decode(tmp_path / "pl" / "decode_test", [r for r in records(base_errors) if r["lang"] == "pl"])
    out = tmp_path / "table.md"
    res = runner.invoke(app, ["score", "compare", str(both), str(pl_only), "--out", str(out), "--resamples", "10"])
    assert res.exit_code == 0, res.output
    text = out.read_text()
    header = next(line for line in text.splitlines() if line.startswith("| System |"))
    avg = [c.strip() for c in header.strip("|").split("|")].index("Avg") - 1  # rows hold the cells after System
    rows = table_rows(text, "System")
    assert rows["pl"][0] == rows["both"][0]  # the same pl records: the same pl rate
    assert rows["pl"][avg] == f"{rows['pl'][0]} (pl only)"  # its Avg is over pl, and says so
    assert "only" not in rows["both"][avg]


def test_finished_decode_still_scores(finished: Path, tmp_path: Path) -> None:
    decode = tmp_path / "d" / "decode_test"
    shutil.copytree(finished, decode)
    res = runner.invoke(app, ["score", str(decode)])
    assert res.exit_code == 0, res.output
    results = json.loads((decode / RESULTS_FILE).read_text())
    assert results["utterances"] == N and set(results["languages"]) == {"pl", "pt"}


def kept_copy(finished: Path, kept: Path, lines: list[str] | None = None, summary: bool = True) -> Path:
    """What a study keeps of a finished decode under results/: hyp.jsonl gzipped (these ``lines`` of it, when
    given), and its summary.json (when ``summary``)."""
    kept.mkdir(parents=True)
    data = "".join(lines).encode() if lines is not None else (finished / HYP_FILE).read_bytes()
    (kept / KEPT_HYP_FILE).write_bytes(gzip.compress(data))
    if summary:
        shutil.copy(finished / SUMMARY_FILE, kept / SUMMARY_FILE)
    return kept


def test_a_kept_decode_scores_as_its_decode_did(finished: Path, tmp_path: Path) -> None:
    """The gzipped hypotheses committed under results/ are scored as they are: tables reproducible from them."""
    full = kept_copy(finished, tmp_path / "kept")
    older = kept_copy(finished, tmp_path / "older", summary=False)  # kept before summary.json was kept with it
    assert score_dirs([full]) == score_dirs([older]) == score_dirs([finished])
    out = tmp_path / "table.md"
    res = runner.invoke(
        app,
        ["score", "compare", str(finished), str(full), "--name", "a", "--name", "b"]
        + ["--baseline", "a", "--out", str(out), "--resamples", "10"],
    )
    assert res.exit_code == 0, res.output
    rows = table_rows(out.read_text(), "System")
    assert rows["a"][:-1] == rows["b"][:-1] and rows["b"][-1] == "+0.0% [+0.0, +0.0]"  # the same rates, paired


def test_a_damaged_kept_decode_is_an_error(finished: Path, tmp_path: Path) -> None:
    lines = hyp_lines(finished)
    short = kept_copy(finished, tmp_path / "short", lines[:4])
    msg = score_error(str(short))
    assert "4 records" in msg and f"{N} utterances" in msg and "keep it again" in msg
    bad = lines.copy()
    bad[2] = bad[2][:25] + "\n"
    assert f"{tmp_path / 'bad' / KEPT_HYP_FILE}:3: not a JSON record" in score_error(
        str(kept_copy(finished, tmp_path / "bad", bad))
    )
    cut = kept_copy(finished, tmp_path / "cut")
    data = (cut / KEPT_HYP_FILE).read_bytes()
    (cut / KEPT_HYP_FILE).write_bytes(data[: len(data) // 2])  # a copy that stopped half-way
    assert "not a complete gzip file" in score_error(str(cut))
    assert not any(tmp_path.rglob(RESULTS_FILE))


def test_keep_script_keeps_what_score_reads(finished: Path, tmp_path: Path) -> None:
    """egs/espeak8/local/keep_base_study.sh keeps a finished decode so that `lwasr score` reads the kept dir."""
    src = tmp_path / "espeak8"
    decode = src / "exp" / "t_adapted" / "decode_experts_aware_test"
    shutil.copytree(finished, decode)
    unfinished = shutil.copytree(finished, src / "exp" / "t_adapted" / "decode_shared_aware_test")
    (unfinished / SUMMARY_FILE).unlink()
    script = ROOT / "egs" / "espeak8" / "local" / "keep_base_study.sh"
    out = tmp_path / "kept"
    done = subprocess.run(
        ["bash", str(script), str(src), "--tag", "t", "--out", str(out)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    kept = out / "adapted" / "decode_experts_aware_test"
    assert sorted(p.name for p in kept.iterdir()) == sorted([KEPT_HYP_FILE, SUMMARY_FILE])
    assert score_dirs([kept]) == score_dirs([decode])
    assert not (out / "adapted" / "decode_shared_aware_test").exists()  # an unfinished decode is not kept


def test_resume_refuses_a_damaged_middle_line(tiny_whisper: Path, decode: Path) -> None:
    """Only a truncated last line is a kill mid-write; resuming over other damage would silently drop records."""
    settings = json.loads((decode / SETTINGS_FILE).read_text())
    lines = hyp_lines(decode)
    lines[2] = lines[2][:25] + "\n"
    set_lines(decode, lines[:5])
    (decode / SUMMARY_FILE).unlink()
    before = (decode / HYP_FILE).read_bytes()
    with pytest.raises(LwasrError, match=rf"{HYP_FILE}:3: .*--overwrite"):
        decode_cuts(load_system(str(tiny_whisper)), settings["cuts"], decode, OPTS, progress=False)
    assert (decode / HYP_FILE).read_bytes() == before  # nothing cut off


def test_the_environment_header_leaves_the_checkouts_index_alone(tmp_path: Path) -> None:
    """`score compare` names lwasr's commit with read-only git queries: a file touched but unchanged reads as clean
    and .git/index is not rewritten (`git status` refreshed it in an installed source tree)."""
    git(tmp_path, "init", "-q")
    (tmp_path / "a.txt").write_text("1")
    git(tmp_path, "add", "a.txt")
    git(tmp_path, "commit", "-q", "-m", "x")
    index = tmp_path / ".git" / "index"
    before = index.stat().st_mtime_ns
    os.utime(tmp_path / "a.txt", ns=(before - 10**10, before - 10**10))  # its stat changed, its content did not
    clean = git_commit(tmp_path)
    assert len(clean) == 12 and index.stat().st_mtime_ns == before
    (tmp_path / "b.txt").write_text("new")  # an untracked file still makes the checkout dirty
    assert git_commit(tmp_path) == f"{clean} (dirty)"
