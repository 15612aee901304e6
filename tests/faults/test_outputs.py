"""Faults through outputs: an output path never replaces what lwasr did not write; a full disk is one clear line."""

from __future__ import annotations

import errno
import json
import os
import shutil
from pathlib import Path

import pytest
import torch
from helpers import full_disk, fuse_args, make_cuts, one_line_error, run_main, small, write_cuts, write_wav
from typer.testing import CliRunner

import lwasr
from lwasr.atomic import OUTPUT_MARKER, atomic_path, check_output, recorded_settings
from lwasr.cli import app
from lwasr.decoding.io import HYP_FILE, read_hyps
from lwasr.decoding.search import DecodeOptions, decode_cuts
from lwasr.decoding.systems import load_system
from lwasr.errors import LwasrError
from lwasr.expansion.expand import expand, tree_hashes
from lwasr.training import checkpoint
from lwasr.training.loop import train
from lwasr.units.meta import ModelMeta

runner = CliRunner()


def leftovers(parent: Path) -> list[str]:
    """Hidden temporaries (``.<name>.tmp*``, ``.<name>.old*``) that atomic_path left in ``parent``."""
    return sorted(p.name for p in parent.iterdir() if p.name.startswith("."))


def no_work(*args, **kwargs):
    pytest.fail("the output path should have been refused before any work started")


# -- the rule, in atomic_path ------------------------------------------------------------------------------------


def write_dir(target: Path, text: str, producer: str | None = "lwasr a") -> None:
    with atomic_path(target, is_dir=True, producer=producer) as tmp:
        (tmp / "x").write_text(text)


def test_a_directory_output_replaces_only_an_earlier_output_of_its_own_command(tmp_path):
    target = tmp_path / "out"
    write_dir(target, "1")
    assert (target / OUTPUT_MARKER).is_file() and check_output(target, "lwasr a")
    write_dir(target, "2")
    assert (target / "x").read_text() == "2"
    with pytest.raises(LwasrError, match=r"out holds an output of `lwasr a`.*`lwasr b`"):
        write_dir(target, "3", producer="lwasr b")
    with pytest.raises(LwasrError, match="out holds an output of `lwasr a`"):
        write_dir(target, "3", producer=None)
    assert (target / "x").read_text() == "2" and leftovers(tmp_path) == []

    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep")
    with pytest.raises(LwasrError, match=r"mine holds 1 entry \(notes.txt\)"):
        write_dir(mine, "1")
    assert (mine / "notes.txt").read_text() == "keep" and not (mine / "x").exists()
    link = tmp_path / "link"
    link.symlink_to(target)
    with pytest.raises(LwasrError, match="link holds a symbolic link"):
        write_dir(link, "4")
    empty = tmp_path / "empty"
    empty.mkdir()
    assert not check_output(empty, "lwasr a") and not check_output(tmp_path / "new", "lwasr a")
    write_dir(empty, "5")
    assert (empty / "x").read_text() == "5" and leftovers(tmp_path) == []


def test_replacing_an_output_carries_over_what_the_user_added(tmp_path):
    """The marker lists what the command wrote; a replace keeps every other entry, and refuses (the earlier output
    untouched) when the new output writes one of them itself (issue 26.2)."""
    target = tmp_path / "out"
    write_dir(target, "1")
    (target / "NOTES.txt").write_text("mine")
    (target / "mine").mkdir()
    (target / "mine" / "a").write_text("a")
    write_dir(target, "2")
    assert (target / "x").read_text() == "2" and (target / "NOTES.txt").read_text() == "mine"
    assert (target / "mine" / "a").read_text() == "a" and leftovers(tmp_path) == []
    write_dir(target, "3")  # still the user's: the new marker does not list them
    assert (target / "NOTES.txt").read_text() == "mine" and (target / "mine" / "a").read_text() == "a"
    with pytest.raises(LwasrError, match=r"out/NOTES.txt is not an output of lwasr's.*writes NOTES.txt too"):
        with atomic_path(target, is_dir=True, producer="lwasr a") as tmp:
            (tmp / "NOTES.txt").write_text("lwasr's")
    assert (target / "NOTES.txt").read_text() == "mine" and (target / "x").read_text() == "3"
    assert leftovers(tmp_path) == []


# -- lwasr fuse ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("target", "extra"),
    [("experts", ()), ("experts/pl", ()), ("experts/pl", ("--overwrite",)), ("data", ()), ("data", ("--overwrite",))],
)
def test_fuse_refuses_an_out_that_holds_something_else(pl_pt_experts, tmp_path, monkeypatch, target, extra):
    experts = shutil.copytree(pl_pt_experts, tmp_path / "experts")
    make_cuts(tmp_path / "data", per_lang=1)
    before = tree_hashes([tmp_path])
    monkeypatch.setattr("lwasr.fusion.run.load_experts", no_work)
    out = tmp_path / target
    result = runner.invoke(app, fuse_args(experts, out, "--langs", "pl,pt", "--method", "sum", *extra))
    assert isinstance(result.exception, LwasrError), result.output
    assert f"{out} holds " in str(result.exception) and "not an earlier output of `lwasr fuse`" in str(result.exception)
    assert tree_hashes([tmp_path]) == before


def test_fuse_keeps_an_earlier_output_unless_overwrite(pl_pt_experts, tmp_path):
    out = tmp_path / "fused"
    sum_args = fuse_args(pl_pt_experts, out, "--langs", "pl,pt", "--method", "sum")
    assert runner.invoke(app, sum_args).exit_code == 0
    result = runner.invoke(app, sum_args)  # the same fusion again (a recipe rerun): kept
    assert result.exit_code == 0, result.output
    assert ModelMeta.load(out).extra["fusion"] == "sum"
    svd_args = fuse_args(pl_pt_experts, out, "--langs", "pl,pt", "--method", "svd", "--rank", "2")
    result = runner.invoke(app, svd_args)  # another method: never silently kept
    assert isinstance(result.exception, LwasrError), result.output
    assert "made with --method sum --langs pl,pt" in str(result.exception) and "--overwrite" in str(result.exception)
    assert ModelMeta.load(out).extra["fusion"] == "sum"  # untouched: replacing needs --overwrite
    result = runner.invoke(app, [*svd_args, "--overwrite"])
    assert result.exit_code == 0, result.output
    assert ModelMeta.load(out).extra["fusion"] == "svd" and leftovers(tmp_path) == []


# -- lwasr model import-ct2 ----------------------------------------------------------------------------------------


def test_import_ct2_refuses_a_foreign_dir_and_replaces_its_own_only_with_overwrite(tiny_ct2, tmp_path):
    foreign = tmp_path / "model"
    foreign.mkdir()
    (foreign / "config.json").write_text("{}")
    result = runner.invoke(app, ["model", "import-ct2", str(tiny_ct2), str(foreign), "--overwrite"])
    assert isinstance(result.exception, LwasrError) and "holds 1 entry (config.json)" in str(result.exception)
    assert (foreign / "config.json").read_text() == "{}"

    dst = tmp_path / "hf"
    assert runner.invoke(app, ["model", "import-ct2", str(tiny_ct2), str(dst)]).exit_code == 0
    (dst / "config.json").write_text("{}")  # tell the earlier output from a new one
    assert runner.invoke(app, ["model", "import-ct2", str(tiny_ct2), str(dst)]).exit_code == 0
    assert (dst / "config.json").read_text() == "{}"
    result = runner.invoke(app, ["model", "import-ct2", str(tiny_ct2), str(dst), "--overwrite"])
    assert result.exit_code == 0, result.output
    assert (dst / "config.json").read_text() != "{}" and leftovers(tmp_path) == []


# -- lwasr export --------------------------------------------------------------------------------------------------


def test_export_overwrite_keeps_the_files_the_user_added(experts, tmp_path):
    """`export --overwrite` deleted the user's files inside an earlier export (issue 26.2); now only lwasr's go."""
    out = tmp_path / "export"
    args = ["export", str(experts), "--out", str(out)]
    assert runner.invoke(app, args).exit_code == 0
    (out / "NOTES.txt").write_text("mine")
    (out / "pl" / "MY_EDITS.md").write_text("my edits")
    result = runner.invoke(app, [*args, "--format", "ct2", "--overwrite"])
    assert result.exit_code == 0, result.output
    assert (out / "pl" / "model.bin").is_file() and not (out / "pl" / "model.safetensors").exists()
    assert (out / "NOTES.txt").read_text() == "mine" and (out / "pl" / "MY_EDITS.md").read_text() == "my edits"
    assert leftovers(tmp_path) == []


def test_export_keeps_an_earlier_export_only_if_made_with_the_same_settings(experts, tiny_whisper, tmp_path):
    """An earlier export made with another format, quantization or system was "kept", exit 0 (issue 26.5)."""
    out = tmp_path / "pl_ct2"
    ct2 = ["--out", str(out), "--format", "ct2"]
    pl = ["export", str(experts), "--lang", "pl", *ct2]
    assert runner.invoke(app, [*pl, "--quantization", "float32"]).exit_code == 0
    before = tree_hashes([out])
    other_system = f"system: {experts.resolve()} -> {tiny_whisper.resolve()}"
    for args, named in [
        ([*pl, "--quantization", "int8"], "quantization: float32 -> int8"),
        (["export", str(experts), "--lang", "pl", "--out", str(out)], "format: ct2 -> hf"),
        (["export", str(experts), "--lang", "pt", *ct2, "--quantization", "float32"], "lang: pl -> pt"),
        (["export", str(tiny_whisper), *ct2, "--quantization", "float32"], other_system),
    ]:
        result = runner.invoke(app, args)
        assert isinstance(result.exception, LwasrError), result.output
        assert named in str(result.exception) and "pass --overwrite to replace it" in str(result.exception)
    assert tree_hashes([out]) == before
    result = runner.invoke(app, [*pl, "--quantization", "float32"])
    assert result.exit_code == 0 and "earlier export; kept" in result.output
    result = runner.invoke(app, [*pl, "--quantization", "int8", "--overwrite"])
    assert result.exit_code == 0, result.output
    assert recorded_settings(out)["quantization"] == "int8" and leftovers(tmp_path) == []


# -- lwasr transcribe ----------------------------------------------------------------------------------------------


def test_transcribe_refuses_a_file_of_the_users_where_a_transcript_goes(tiny_whisper, tmp_path, monkeypatch, capsys):
    """A new input named like a user's file in --out (MINE.srt, then extra/MINE.wav) replaced it silently (issue 26.3).
    A file there is lwasr's only when a hyp.jsonl record accounts for it (the record is written before the files);
    a rerun still skips finished files, and writes the files of a transcript that a kill left without them."""
    (tmp_path / "in").mkdir()
    (tmp_path / "extra").mkdir()
    write_wav(tmp_path / "in" / "talk.wav")
    write_wav(tmp_path / "extra" / "MINE.wav")
    out = tmp_path / "out"
    args = ["transcribe", str(tmp_path / "in"), "--system", str(tiny_whisper), "--out", str(out), "--format", "srt,txt"]
    assert run_main(monkeypatch, capsys, *args)[0] == 0
    (out / "MINE.srt").write_text("my subtitles")
    before = tree_hashes([out])
    for extra in ((), ("--overwrite",), ("--format", "srt", "--overwrite")):
        status, err = run_main(monkeypatch, capsys, *args, str(tmp_path / "extra" / "MINE.wav"), *extra)
        line = one_line_error(err)
        assert status == 2 and f"{out} holds files lwasr did not write" in line and "MINE.srt (from " in line
        assert tree_hashes([out]) == before
    talk = (out / "talk.srt").read_text()
    (out / "talk.srt").unlink()  # as a kill between the transcript's record and its files leaves it

    def decode_again(*args, **kwargs):
        pytest.fail("a finished file was decoded again")

    monkeypatch.setattr("lwasr.transcribe.run.Decoder.__call__", decode_again)
    assert run_main(monkeypatch, capsys, *args)[0] == 0
    assert (out / "talk.srt").read_text() == talk and (out / "MINE.srt").read_text() == "my subtitles"


@pytest.mark.parametrize("system", ["experts", "single model"])
def test_a_failed_transcribe_validation_creates_nothing(experts, tiny_whisper, tmp_path, monkeypatch, capsys, system):
    """`--soft-top-k` without `--lid-langs` exited 2 but left an --out holding a marker, an empty hyp.jsonl and
    settings.json (issue 26.14): the checks that need the loaded system now run before anything is created."""
    write_wav(tmp_path / "a.wav")
    out = tmp_path / "out"
    spec = str(experts if system == "experts" else tiny_whisper)
    args = ["transcribe", str(tmp_path / "a.wav"), "--system", spec, "--out", str(out), "--route-per", "chunk"]
    status, err = run_main(monkeypatch, capsys, *args, "--soft-top-k", "2")
    assert status == 2 and "--soft-top-k" in one_line_error(err)
    assert not out.exists() and leftovers(tmp_path) == []


# -- training exports: train, distill, expand -----------------------------------------------------------------------


def test_training_refuses_a_unit_dir_that_holds_something_else_before_training(tmp_path, tiny_whisper, manifests):
    cfg = small(tmp_path, tiny_whisper, manifests)
    cfg.unit_dir.mkdir(parents=True)
    (cfg.unit_dir / "notes.txt").write_text("keep")
    with pytest.raises(LwasrError, match=r"experts/pl holds 1 entry \(notes.txt\)"):
        train(cfg, on_step=no_work)
    assert (cfg.unit_dir / "notes.txt").read_text() == "keep"


def test_expand_overwrite_refuses_a_unit_it_did_not_write(pl_pt_experts, tmp_path, monkeypatch):
    foreign = shutil.copytree(pl_pt_experts / "pl", tmp_path / "someone_else")
    before = tree_hashes([foreign])
    cuts = make_cuts(tmp_path / "data", langs=("it",), per_lang=1)
    monkeypatch.setattr("lwasr.expansion.expand.train", no_work)
    refused = r"someone_else holds 4 entries \(README.md, .*not an earlier output of `lwasr expand`"
    with pytest.raises(LwasrError, match=refused):
        expand(experts=pl_pt_experts, new_lang="it", cuts=[cuts], out=foreign, overwrite=True)
    assert tree_hashes([foreign]) == before


# -- decode --scenario both ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("layout", ["same", "agnostic inside", "aware inside"])
def test_decode_both_refuses_equal_or_nested_outputs(tiny_whisper, tmp_path, layout):
    cuts = write_cuts(tmp_path, [("pl_0", "pl", 0.5)])
    out = {"same": tmp_path / "d", "agnostic inside": tmp_path / "d", "aware inside": tmp_path / "d" / "aware"}[layout]
    agn = {"same": tmp_path / "d", "agnostic inside": tmp_path / "d" / "agn", "aware inside": tmp_path / "d"}[layout]
    opts = DecodeOptions(scenario="both", max_new_tokens=2)
    with pytest.raises(LwasrError, match="--out .* and --agnostic-out .*separate directories"):
        decode_cuts(load_system(str(tiny_whisper)), [cuts], out, opts, agnostic_out=agn, progress=False)
    assert not (tmp_path / "d").exists()
    args = ["decode", "--system", str(tmp_path / "no_such_system"), "--cuts", str(cuts), "--scenario", "both"]
    result = runner.invoke(app, [*args, "--out", str(out), "--agnostic-out", str(agn), "--overwrite"])
    assert isinstance(result.exception, LwasrError) and "--agnostic-out" in str(result.exception)  # before loading


def test_a_failed_decode_validation_creates_nothing(experts, tmp_path, monkeypatch, capsys):
    """The decode analogue of issue 26.14: `--soft-top-k` without `--lid-langs` over experts is refused before
    `--out` (its marker, settings.json, an empty hyp.jsonl) is created."""
    cuts = write_cuts(tmp_path, [("pl_0", "pl", 0.5)])
    out = tmp_path / "d"
    args = ["decode", "--system", str(experts), "--cuts", str(cuts), "--out", str(out), "--scenario", "agnostic"]
    status, err = run_main(monkeypatch, capsys, *args, "--soft-top-k", "2")
    assert status == 2 and "--soft-top-k" in one_line_error(err)
    assert not out.exists() and leftovers(tmp_path) == []


def test_decode_overwrite_removes_only_the_decode_files(tiny_whisper, tmp_path):
    """`--overwrite` over a dir holding a stray hyp.jsonl starts the decode over, and keeps what lwasr did not write."""
    cuts = write_cuts(tmp_path, [("pl_0", "pl", 0.5)])
    out = tmp_path / "d"
    out.mkdir()
    (out / "hyp.jsonl").write_text('{"id": "x"}\n')
    (out / "notes.txt").write_text("mine")
    (out / "mine").mkdir()
    opts = DecodeOptions(max_new_tokens=2)
    decode_cuts(load_system(str(tiny_whisper)), [cuts], out, opts, progress=False, overwrite=True)
    assert (out / "notes.txt").read_text() == "mine" and (out / "mine").is_dir()
    assert [r["id"] for r in read_hyps(out / "hyp.jsonl")] == ["pl_0"] and (out / "summary.json").is_file()


# -- a full disk ------------------------------------------------------------------------------------------------------


def test_checkpoint_on_a_full_disk_is_one_clear_line_and_leaves_nothing(tmp_path, monkeypatch):
    """torch.save's C++ writer reports ENOSPC only as ``unexpected pos``; the device's free space tells."""
    real_save = torch.save

    def save_until_full(obj, path):
        Path(path).write_bytes(b"PK\x03\x04partial")
        raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 98048 vs 97936")

    model = torch.nn.Linear(2, 2)
    root = tmp_path / "checkpoints"
    checkpoint.save(root, 1, model, {"step": 1}, keep_last=2, settings="mode: expert\n")
    monkeypatch.setattr(torch, "save", save_until_full)
    full_disk(monkeypatch)
    with pytest.raises(LwasrError) as err:
        checkpoint.save(root, 2, model, {"step": 2}, keep_last=2, settings="mode: expert\n")
    message = str(err.value)
    assert "no space left on the device" in message and str(root / "step-00000002") in message
    assert "nothing partial was kept" in message and "\n" not in message
    assert sorted(p.name for p in root.iterdir()) == ["step-00000001"]  # no temporary, no half checkpoint
    monkeypatch.setattr(torch, "save", real_save)
    assert checkpoint.latest(root) == root / "step-00000001"


@pytest.mark.parametrize(
    "error",
    [
        OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)),  # a Python write
        OSError(errno.EDQUOT, os.strerror(errno.EDQUOT)),  # a quota
        RuntimeError("Error while serializing: I/O error: No space left on device (os error 28)"),  # safetensors
    ],
)
def test_no_space_in_any_atomic_output_keeps_the_earlier_one(tmp_path, error):
    target = tmp_path / "unit"
    write_dir(target, "old")
    with pytest.raises(LwasrError, match=f"no space left on the device.*{target}.*nothing partial was kept"):
        with atomic_path(target, is_dir=True, producer="lwasr a") as tmp:
            (tmp / "x").write_text("half")
            raise error
    assert (target / "x").read_text() == "old" and leftovers(tmp_path) == []
    with pytest.raises(LwasrError, match="no space left on the device"):
        with atomic_path(tmp_path / "file.json") as tmp:
            raise error
    assert sorted(p.name for p in tmp_path.iterdir()) == ["unit"]


def test_other_write_errors_are_not_reported_as_a_full_disk(tmp_path):
    with pytest.raises(RuntimeError, match="boom"):
        with atomic_path(tmp_path / "file.pt"):
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


# -- a mount point -----------------------------------------------------------------------------------------------


def test_an_output_on_a_mount_point_is_one_line_and_leaves_nothing(tmp_path, tiny_whisper, monkeypatch, capsys):
    """`--out` on an empty mount point (issue 26.10) was an EBUSY traceback with `.X.old*` left in the parent: the
    rename of the replace cannot move a mount point. CI may not mount a tmpfs (not root), so the mount point is a
    seam here: ``os.path.ismount`` says so (check_output refuses it before any work), or the rename raises EBUSY
    as the kernel does (a bind mount, which ismount cannot see)."""
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    real_ismount, real_replace = os.path.ismount, os.replace
    monkeypatch.setattr(os.path, "ismount", lambda p: Path(p) == mnt or real_ismount(p))
    with pytest.raises(LwasrError, match=f"{mnt} is a mount point.*give a directory inside it"):
        check_output(mnt, "lwasr a")
    status, err = run_main(monkeypatch, capsys, "export", str(tiny_whisper), "--out", str(mnt))
    assert status == 2 and "is a mount point" in one_line_error(err)
    assert leftovers(tmp_path) == [] and list(mnt.iterdir()) == []

    def busy(src, dst, *args, **kwargs):
        if Path(src) == mnt:
            raise OSError(errno.EBUSY, os.strerror(errno.EBUSY), str(src), str(dst))
        return real_replace(src, dst, *args, **kwargs)

    monkeypatch.setattr(os.path, "ismount", real_ismount)
    monkeypatch.setattr(os, "replace", busy)
    with pytest.raises(LwasrError, match=f"{mnt} is a mount point"):
        write_dir(mnt, "1")
    assert leftovers(tmp_path) == [] and list(mnt.iterdir()) == []


def test_transcribe_text_quotes_a_name_with_spaces(tiny_whisper, tmp_path):
    """`text` of `my talk.wav` and `my.wav` was `my talk <hyp>` and `my <hyp>`: the first looked like file `my`."""
    for name in ("my talk", "my"):
        write_wav(tmp_path / "in" / f"{name}.wav", seconds=0.6)
    out = tmp_path / "out"
    lwasr.transcribe([tmp_path / "in"], system=str(tiny_whisper), out=out, max_new_tokens=3, progress=False)
    hyps = {r["id"]: r["hyp"] for r in read_hyps(out / HYP_FILE)}
    lines = (out / "text").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 2 and lines[1].startswith('"my talk"')  # sorted by id: my, my talk
    read_back = {}
    for line in lines:
        uid, end = (
            json.JSONDecoder().raw_decode(line)
            if line.startswith('"')
            else (line.split(" ")[0], len(line.split(" ")[0]))
        )
        read_back[uid] = line[end:].strip()
    assert read_back == {uid: hyp.strip() for uid, hyp in hyps.items()}
