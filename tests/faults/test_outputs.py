"""Faults through outputs: an output path never replaces what lwasr did not write; a full disk is one clear line."""

from __future__ import annotations

import errno
import json
import os
import shutil
from pathlib import Path

import pytest
import torch
from helpers import fuse_args, make_cuts, small, write_cuts, write_wav
from typer.testing import CliRunner

import lwasr
from lwasr.atomic import OUTPUT_MARKER, atomic_path, check_output
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


def full_disk(monkeypatch) -> None:
    """The device reports no free space (what a write that ran out of space leaves)."""
    monkeypatch.setattr(shutil, "disk_usage", lambda path: shutil._ntuple_diskusage(1 << 30, 1 << 30, 0))


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
