"""Faults the CLI turns into one line (exit 2, no traceback): read-only or forbidden outputs; LWASR_DEBUG=1.

Tests run as root, for whom chmod makes nothing unwritable, so a read-only file system (EROFS) or a
permission error (EACCES) is simulated at the OS boundary: every call that would create or write a path under
the given directory fails as the kernel would (mkdir, open for writing, rename onto it). The command itself
runs for real through :func:`lwasr.cli.main`.
"""

from __future__ import annotations

import builtins
import errno
import io
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import soundfile as sf
from helpers import full_disk, make_cuts, one_line_error, run_main

from lwasr.cli import main

WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC


def refuse_writes(monkeypatch: pytest.MonkeyPatch, root: Path, code: int) -> None:
    """Make every write under ``root`` fail with OSError ``code``, as a read-only mount or a 0555 dir would."""
    root = root.resolve()

    def inside(path: Any) -> bool:
        """Under ``root``, in a directory that exists (elsewhere the kernel answers ENOENT first)."""
        if not isinstance(path, (str, bytes, os.PathLike)):
            return False
        path = Path(os.fsdecode(path)).resolve()
        return path.is_relative_to(root) and path.parent.is_dir()

    def fail(path: Any) -> None:
        raise OSError(code, os.strerror(code), os.fsdecode(path))

    def guard(real: Callable[..., Any], writes: Callable[..., bool]) -> Callable[..., Any]:
        def call(path: Any, *args: Any, **kwargs: Any) -> Any:
            if inside(path) and writes(path, *args, **kwargs):
                fail(path)
            return real(path, *args, **kwargs)

        return call

    def open_writes(path: Any, mode: str = "r", *args: Any, **kwargs: Any) -> bool:
        return any(c in mode for c in "wax+")

    def rename(real: Callable[..., Any]) -> Callable[..., Any]:
        def call(src: Any, dst: Any, *args: Any, **kwargs: Any) -> Any:
            if inside(dst):
                fail(dst)
            return real(src, dst, *args, **kwargs)

        return call

    monkeypatch.setattr(os, "mkdir", guard(os.mkdir, lambda p, *a, **k: not os.path.lexists(p)))
    monkeypatch.setattr(os, "open", guard(os.open, lambda p, flags, *a, **k: bool(flags & WRITE_FLAGS)))
    monkeypatch.setattr(builtins, "open", guard(builtins.open, open_writes))
    monkeypatch.setattr(io, "open", guard(io.open, open_writes))
    monkeypatch.setattr(os, "replace", rename(os.replace))
    monkeypatch.setattr(os, "rename", rename(os.rename))


@pytest.fixture()
def tsv(tmp_path: Path) -> Path:
    """A one-line corpus list for `lwasr prepare dir`."""
    wav = tmp_path / "a.wav"
    sf.write(wav, [0.0] * 16000, 16000)
    path = tmp_path / "list.tsv"
    path.write_text(f"{wav}\tala ma kota\tpl\n", encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("code", "reason", "fix"),
    [
        (errno.EROFS, "read-only file system", "on a writable file system"),
        (errno.EACCES, "permission denied", "fix its permissions or choose another path"),
    ],
)
def test_unwritable_prepare_out_is_one_line(tmp_path, tsv, monkeypatch, capsys, code, reason, fix):
    ro = tmp_path / "ro"
    ro.mkdir()
    refuse_writes(monkeypatch, ro, code)
    status, err = run_main(monkeypatch, capsys, "prepare", "dir", str(tsv), "--out", str(ro / "corpus"))
    line = one_line_error(err)
    assert status == 2
    assert line.startswith(f"error: cannot create {ro / 'corpus'}: {reason}; ") and fix in line
    assert not any(ro.iterdir())


def test_read_only_train_exp_dir_is_one_line(tmp_path, tiny_whisper, monkeypatch, capsys):
    cuts = make_cuts(tmp_path / "data", langs=("pl",), per_lang=2)
    ro = tmp_path / "ro"
    ro.mkdir()
    refuse_writes(monkeypatch, ro, errno.EROFS)
    args = ["train", "--mode", "expert", "--lang", "pl", "--cuts", str(cuts), "--model", str(tiny_whisper)]
    status, err = run_main(monkeypatch, capsys, *args, "--exp-dir", str(ro / "exp"), "--max-steps", "1")
    assert status == 2
    assert one_line_error(err).startswith(f"error: cannot create {ro / 'exp'}")


def test_existing_read_only_decode_out_names_it(tmp_path, tiny_whisper, monkeypatch, capsys):
    """--out exists but cannot be written: the message names the file lwasr tried to create inside it."""
    cuts = make_cuts(tmp_path / "data", langs=("pl",), per_lang=1)
    out = tmp_path / "decode"
    out.mkdir()
    refuse_writes(monkeypatch, out, errno.EROFS)
    status, err = run_main(
        monkeypatch, capsys, "decode", "--system", str(tiny_whisper), "--cuts", str(cuts), "--out", str(out)
    )
    line = one_line_error(err)
    assert status == 2
    assert line.startswith(f"error: cannot create {out}{os.sep}") and "read-only file system" in line


def test_read_only_with_little_space_left_is_read_only_not_a_full_disk(tmp_path, tiny_whisper, monkeypatch, capsys):
    """A read-only file system that is also (nearly) full was reported as a full disk (issue 26.11): the free-space
    guess is only for failures that lost their errno (torch.save); EROFS is read-only, ENOSPC a full disk."""
    cuts = make_cuts(tmp_path / "data", langs=("pl",), per_lang=1)
    out = tmp_path / "decode"
    out.mkdir()
    refuse_writes(monkeypatch, out, errno.EROFS)
    full_disk(monkeypatch)
    args = ["decode", "--system", str(tiny_whisper), "--cuts", str(cuts), "--out", str(out)]
    status, err = run_main(monkeypatch, capsys, *args)
    line = one_line_error(err)
    assert status == 2 and "read-only file system" in line and "no space" not in line
    refuse_writes(monkeypatch, out, errno.ENOSPC)
    status, err = run_main(monkeypatch, capsys, *args)
    assert status == 2 and "no space left on the device" in one_line_error(err)
    assert not any(out.iterdir())


def test_lwasr_debug_keeps_every_traceback(tmp_path, tsv, monkeypatch, capsys):
    monkeypatch.setenv("LWASR_DEBUG", "1")
    ro = tmp_path / "ro"
    ro.mkdir()
    refuse_writes(monkeypatch, ro, errno.EROFS)
    monkeypatch.setattr(sys, "argv", ["lwasr", "prepare", "dir", str(tsv), "--out", str(ro / "corpus")])
    with pytest.raises(OSError, match="Read-only file system"):
        main()
    from lwasr.errors import LwasrError

    monkeypatch.setattr(sys, "argv", ["lwasr", "prepare", "dir", str(tmp_path / "missing.tsv"), "--out", "x"])
    with pytest.raises(LwasrError, match="missing.tsv"):
        main()
    monkeypatch.setenv("LWASR_DEBUG", "0")
    status, err = run_main(monkeypatch, capsys, "prepare", "dir", str(tmp_path / "missing.tsv"), "--out", "x")
    assert status == 2 and "missing.tsv" in one_line_error(err)


@pytest.mark.parametrize(
    ("option", "value", "expected"),
    [
        ("--temperatures", "0.4,0.2", "--temperatures: expected rising temperatures of at least 0"),
        ("--temperatures", "0,nan", "--temperatures: expected comma-separated numbers, all finite"),
        ("--compression-ratio-threshold", "high", "--compression-ratio-threshold: expected comma-separated numbers"),
        ("--logprob-threshold", "-1,-2", "--logprob-threshold: expected one number or none"),
    ],
)
def test_a_bad_fallback_setting_is_one_line_before_any_work(
    tmp_path, tiny_whisper, monkeypatch, capsys, option, value, expected
):
    """A bad temperature list or threshold: one line naming the option, exit 2, --out not created."""
    out = tmp_path / "decode"
    status, err = run_main(
        monkeypatch, capsys, "decode", "--system", str(tiny_whisper), "--cuts", "x", "--out", str(out), option, value
    )
    assert status == 2 and one_line_error(err).startswith(f"error: {expected}")
    assert not out.exists()
