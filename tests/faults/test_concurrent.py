"""Concurrent writers: one lwasr run per output. A second run on an output that another process is writing is
refused at once, naming that process; a killed run's lock never blocks the rerun."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import fuse_args, one_line_error, run_main, write_wav

from lwasr.output_lock import lock_file, output_lock

#: Holds the lock of argv[1] (as an lwasr run writing it would) until its stdin closes.
HOLDER = (
    "import sys\nfrom lwasr.output_lock import output_lock\n"
    "with output_lock(sys.argv[1]):\n    print('held', flush=True)\n    sys.stdin.read()\n"
)


def python(code: str, *args: str) -> subprocess.Popen:
    """``python -c CODE ARGS`` with lwasr importable, its stdin and stdout piped (text)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    return subprocess.Popen([sys.executable, "-c", code, *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True, env=env)  # fmt: skip


@pytest.fixture()
def hold() -> Iterator:
    """``hold(path)``: another process that holds the lock of output ``path`` (the Popen; its stdin ends it)."""
    procs: list[subprocess.Popen] = []

    def start(path: Path) -> subprocess.Popen:
        proc = python(HOLDER, str(path), "decode-stand-in")
        procs.append(proc)
        assert proc.stdout.readline().strip() == "held"
        return proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.stdin.close()
            proc.wait(timeout=30)


def refused_by(err: str, out: Path, proc: subprocess.Popen) -> bool:
    line = one_line_error(err)
    return line.startswith(f"error: {out} is being written by another lwasr run (pid {proc.pid}: ") and (
        "decode-stand-in" in line
    )


def test_a_decode_into_an_output_being_written_is_refused_and_a_killed_writer_blocks_nothing(
    tmp_path, tiny_whisper, manifests, hold, monkeypatch, capsys
):
    out = tmp_path / "decode"
    args = ["decode", "--system", str(tiny_whisper), "--cuts", str(manifests[1]), "--out", str(out)]
    first = hold(out)
    status, err = run_main(monkeypatch, capsys, *args)
    assert status == 2 and refused_by(err, out, first)
    assert not out.exists()
    status, _ = run_main(monkeypatch, capsys, *args, "--print-config")  # plans only: no lock, nothing created
    assert status in (0, None) and not out.exists()
    first.send_signal(signal.SIGKILL)  # killed mid-run: the system frees its lock, the lock file stays
    first.wait(timeout=30)
    assert lock_file(out).exists()
    status, err = run_main(monkeypatch, capsys, *args)
    assert status in (0, None), err
    assert (out / "summary.json").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["decode"]  # the lock file went with the lock


#: Holds the lock of argv[1], forks a worker that outlives it (as a pool worker of `prepare synth --jobs` outlives
#: its killed parent for a moment) and waits. The worker prints its pid once ``fork`` has returned in it (its
#: at-fork handlers have run: printed by the parent, a loaded machine could kill the parent before the worker
#: had run at all, and the test would see the lock the worker had not yet had a chance to close).
FORKER = (
    "import os, sys, time\nfrom lwasr.output_lock import output_lock\n"
    "with output_lock(sys.argv[1]):\n"
    "    if os.fork() == 0:\n        print(os.getpid(), flush=True)\n        time.sleep(120)\n        os._exit(0)\n"
    "    sys.stdin.read()\n"
)


def test_a_forked_worker_of_a_killed_writer_does_not_keep_its_lock(tmp_path):
    """A killed `prepare synth --jobs 2` blocked its rerun ("being written by another lwasr run") while its pool
    workers, which had inherited the lock's descriptor, finished their clips."""
    out = tmp_path / "out"
    proc = python(FORKER, str(out))
    worker = int(proc.stdout.readline())
    try:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        with output_lock(out):  # the rerun writes, while the worker still runs
            os.kill(worker, 0)
    finally:
        os.kill(worker, signal.SIGKILL)


def command_args(name: str, root: Path, fx: dict) -> tuple[list[str], Path]:
    """The command line of the writing command ``name`` and the output it writes."""
    model, experts, train, dev = str(fx["model"]), str(fx["experts"]), str(fx["train"]), str(fx["dev"])
    exp = root / "exp"
    return {
        "decode": (["decode", "--system", model, "--cuts", dev, "--out", str(root / "d")], root / "d"),
        "transcribe": (["transcribe", str(fx["wav"]), "--system", model, "--out", str(root / "t")], root / "t"),
        "export": (["export", model, "--out", str(root / "e"), "--parity-cuts", "0"], root / "e"),
        "train": (
            ["train", "--mode", "expert", "--lang", "pl", "--cuts", train, "--model", model, "--exp-dir", str(exp)],
            exp / "experts" / "pl",
        ),
        "fuse": (fuse_args(experts, root / "f", "--langs", "pl,pt"), root / "f"),
        "distill": (
            ["distill", "--teachers", experts, "--cuts", train, "--dev-cuts", dev, "--langs", "pl,pt"]
            + ["--exp-dir", str(exp)],
            exp / "distilled_aware",
        ),
        "expand": (
            ["expand", "--experts", experts, "--new-lang", "it", "--cuts", train, "--dev-cuts", dev]
            + ["--out", str(root / "it")],
            root / "it",
        ),
        "prepare": (["prepare", "dir", str(fx["tsv"]), "--out", str(root / "p")], root / "p"),
        "pick": (["train", "pick", f"{experts}/pl", f"{experts}/pt", "--out", str(root / "s")], root / "s"),
        "router": (
            ["router", "train", "--experts", experts, "--train", train, "--dev", dev, "--out", str(root / "r")],
            root / "r",
        ),
        "import-ct2": (["model", "import-ct2", str(fx["ct2"]), str(root / "c")], root / "c"),
        "import-adapter": (
            ["model", "import-adapter", str(fx["adapter"]), str(root / "a"), "--lang", "it"],
            root / "a",
        ),
    }[name]


@pytest.fixture(scope="module")
def inputs(tiny_whisper, tiny_ct2, blog_adapter, experts, manifests, tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("inputs")
    write_wav(root / "a.wav")
    (root / "list.tsv").write_text(f"{root / 'a.wav'}\tala ma kota\tpl\n", encoding="utf-8")
    train, dev = manifests
    fx = dict(model=tiny_whisper, ct2=tiny_ct2, adapter=blog_adapter, experts=experts, train=train, dev=dev)
    return fx, root


@pytest.mark.parametrize(
    "name",
    "decode transcribe export train fuse distill expand prepare pick router import-ct2 import-adapter".split(),
)
def test_every_writing_command_is_refused_while_another_run_writes_its_output(
    name, inputs, tmp_path, hold, monkeypatch, capsys
):
    fx, root = inputs
    args, out = command_args(name, tmp_path, {**fx, "wav": root / "a.wav", "tsv": root / "list.tsv"})
    first = hold(out)
    status, err = run_main(monkeypatch, capsys, *args)
    assert status == 2 and refused_by(err, out, first), err
    assert not out.exists()
