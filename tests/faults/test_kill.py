"""kill -9 of every long-running command, then a rerun: the result equals an uninterrupted run's.

Each command runs as a real `python -m lwasr` subprocess that gets SIGKILL (its whole process group: data
loader and espeak-ng workers too). `prepare synth` and `decode` are killed a seeded delay after the Nth wav or
decode record appears on disk; the outcome does not depend on where exactly the kill lands, only that it lands
before the end. The training commands kill themselves at exact points of the program, so that no machine load
can move them past the end of a short run: right after a seeded step checkpoint is complete, and while they
write their model unit (complete in the temporary directory, not yet renamed).
The reruns and the uninterrupted reference run in this process (`CliRunner`), with the same arguments under
a twin directory: `<tmp>/killed/...` against `<tmp>/ref/...`.
"""

from __future__ import annotations

import gzip
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from helpers import make_adapter, make_cuts
from safetensors.torch import load_file
from typer.testing import CliRunner

from lwasr.cli import app
from lwasr.decoding.io import HYP_FILE, read_hyps
from lwasr.decoding.systems import load_system
from lwasr.units.experts import discover_experts

pytestmark = pytest.mark.slow

#: Seconds a killed run may take to reach its kill point (the imports alone take ~10 s on a busy 2-core box).
REACH_S = 240
#: Training settings small enough for seconds per run, with dropout, SpecAugment and dev loss in play.
TRAIN_SET = ["num_buckets=2", "warmup_steps=1", "save_every=2", "valid_every=2", "spec_augment=true"]
TRAIN_SET += ["final_model=last", "lora_rank=4", "lora_alpha=8", "lora_dropout=0.1"]


def train_opts(steps: int) -> list[str]:
    opts = ["--max-steps", str(steps), "--max-duration", "2.5"]
    return opts + [a for s in TRAIN_SET for a in ("--set", s)]


def run(args: list[str]) -> None:
    """`lwasr ARGS` in this process, as a rerun or the uninterrupted reference."""
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, f"{result.output}\n{result.exception!r}"


#: `lwasr ARGS`, but the process SIGKILLs itself at a fixed point of its work, named by $LWASR_TEST_DIE:
#: ``checkpoint:N``, right after the first step checkpoint of step N or later is complete on disk; ``unit``, right
#: after a unit's lwasr.json is written into the unit's temporary directory (the unit is complete there, not yet
#: renamed into place: the last moment of its write). A point in the program, not a time, so no machine load can
#: move it.
DIE_AT = """
import os, signal, sys
from pathlib import Path
from lwasr.training import checkpoint
from lwasr.units.meta import ModelMeta

point, _, arg = os.environ["LWASR_TEST_DIE"].partition(":")
if point == "checkpoint":
    save_checkpoint = checkpoint.save
    def save_then_die(root, step, *args, **kwargs):
        path = save_checkpoint(root, step, *args, **kwargs)
        if step >= int(arg):
            os.killpg(os.getpgrp(), signal.SIGKILL)
        return path
    checkpoint.save = save_then_die
elif point == "unit":
    save_meta = ModelMeta.save
    def save_meta_then_die(self, unit_dir, *args, **kwargs):
        save_meta(self, unit_dir, *args, **kwargs)
        if Path(unit_dir).name.startswith("."):
            os.killpg(os.getpgrp(), signal.SIGKILL)
    ModelMeta.save = save_meta_then_die
from lwasr.cli import main
sys.argv[0] = "lwasr"
main()
"""


def spawn(args: list[str], log: Path, code: str | None = None, die: str | None = None) -> subprocess.Popen:
    """Start `lwasr ARGS` (or ``python -c code ARGS``) in its own process group, output into ``log``."""
    env = {**os.environ, "OMP_NUM_THREADS": str(torch.get_num_threads())}  # the same maths as this process
    if die is not None:
        env["LWASR_TEST_DIE"] = die
    head = ["-c", code] if code else ["-m", "lwasr"]
    with open(log, "wb") as out:
        return subprocess.Popen(
            [sys.executable, *head, *args],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )


def kill_after(args: list[str], ready: Callable[[], bool], delay: float, log: Path) -> None:
    """Run `lwasr ARGS` as a subprocess and SIGKILL it ``delay`` seconds after ``ready()`` first holds."""
    proc = spawn(args, log)
    try:
        deadline = time.monotonic() + REACH_S
        while not ready():
            assert proc.poll() is None, f"ended ({proc.returncode}) before its kill point:\n{log.read_text()}"
            assert time.monotonic() < deadline, f"no kill point after {REACH_S} s:\n{log.read_text()}"
            time.sleep(0.005)
        time.sleep(delay)
        assert proc.poll() is None, f"finished before the kill; give it more work:\n{log.read_text()}"
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL


def die_at(args: list[str], point: str, log: Path) -> None:
    """Run `lwasr ARGS` until it kills itself at ``point`` (see :data:`DIE_AT`)."""
    proc = spawn(args, log, DIE_AT, die=point)
    try:
        proc.wait(timeout=REACH_S)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == -signal.SIGKILL, f"not killed at {point} ({proc.returncode}):\n{log.read_text()}"


def kill_steps(seed: int, steps: int, save_every: int = 2, n: int = 1) -> list[int]:
    """``n`` seeded, increasing checkpoint steps of a ``steps``-step run to kill it at (the last one excluded)."""
    return sorted(random.Random(seed).sample(range(save_every, steps, save_every), n))


def delays(seed: int, n: int = 1, most: float = 0.2) -> list[float]:
    """``n`` seeded kill delays in [0, most) seconds."""
    rng = random.Random(seed)
    return [rng.uniform(0, most) for _ in range(n)]


def same_tensors(a: Path, b: Path) -> None:
    ta, tb = load_file(a), load_file(b)
    assert ta and ta.keys() == tb.keys()
    diff = [k for k in ta if not torch.equal(ta[k], tb[k])]
    assert not diff, f"{len(diff)} tensors differ, e.g. {diff[0]}"


def meta(unit: Path, root: Path) -> dict:
    """A unit's lwasr.json with its run root written as <root> (the twin runs live under different roots)."""
    return json.loads((unit / "lwasr.json").read_text().replace(str(root), "<root>"))


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory, tiny_whisper: Path) -> dict[str, Path]:
    """Manifests (train: pl, pt, it; dev; a 12-utterance decode set), experts pl and pt, an LID ranking for it."""
    root = tmp_path_factory.mktemp("kill_data")
    experts = root / "experts"
    for seed, lang in enumerate(("pl", "pt")):
        make_adapter(tiny_whisper, experts / lang, seed, [lang])
    similarity = root / "similarity_it.json"
    ranking = [{"lang": "pt", "prob": 0.6}, {"lang": "pl", "prob": 0.3}]
    similarity.write_text(json.dumps({"lang": "it", "ranking": ranking}))
    return {
        "train": make_cuts(root / "train", langs=("pl", "pt", "it"), per_lang=4),
        "dev": make_cuts(root / "dev", langs=("pl", "pt", "it"), per_lang=1, name="cuts_dev"),
        "test": make_cuts(root / "test", per_lang=6, seconds=(0.5, 1.0), name="cuts_test"),
        "experts": experts,
        "similarity": similarity,
    }


def twins(tmp_path: Path) -> tuple[Path, Path]:
    return tmp_path / "ref", tmp_path / "killed"


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed (tools/install.sh)")
def test_prepare_synth_killed_mid_synthesis_gives_the_same_corpus(tmp_path):
    ref, killed = twins(tmp_path)

    def args(out: Path) -> list[str]:
        sizes = ["--train", "8", "--dev", "2", "--test", "2"]
        return ["prepare", "synth", "--langs", "pl,it", "--out", str(out), *sizes, "--jobs", "2"]

    def wavs() -> int:
        return sum(1 for p in (killed / "wav").rglob("*.wav") if not p.name.startswith("."))

    run(args(ref))
    kill_after(args(killed), lambda: wavs() >= 4, *delays(1), tmp_path / "killed.log")
    assert wavs() < 24
    run(args(killed))
    names = sorted(p.name for p in (ref / "manifests").iterdir())
    assert names and names == sorted(p.name for p in (killed / "manifests").iterdir())
    for name in names:
        if name.endswith("_cuts.jsonl.gz"):
            a, b = (gzip.open(d / "manifests" / name, "rt").read() for d in (ref, killed))
            assert a.replace(str(ref), "<root>") == b.replace(str(killed), "<root>"), name
    for wav in sorted((ref / "wav").rglob("*.wav")):
        assert wav.read_bytes() == (killed / wav.relative_to(ref)).read_bytes(), wav


def test_train_killed_mid_run_and_mid_export_resumes_to_identical_weights(tmp_path, tiny_whisper, data):
    ref, killed = twins(tmp_path)

    def args(exp: Path) -> list[str]:
        base = ["train", "experts", "--langs", "pl", "--cuts", str(data["train"]), "--dev-cuts", str(data["dev"])]
        return [*base, "--model", str(tiny_whisper), "--exp-dir", str(exp), *train_opts(8)]

    run(args(ref))
    run_dir, unit = killed / "train_expert_pl", Path("experts") / "pl"
    for step in kill_steps(2, 8, n=2):
        die_at(args(killed), f"checkpoint:{step}", tmp_path / f"killed{step}.log")
    die_at(args(killed), "unit", tmp_path / "killed_export.log")
    assert not (killed / unit).exists() and list((killed / "experts").iterdir())  # a temporary was left behind
    run(args(killed))
    assert "resumed from" in (run_dir / "train.log").read_text()
    same_tensors(ref / unit / "adapter_model.safetensors", killed / unit / "adapter_model.safetensors")
    assert meta(ref / unit, ref) == meta(killed / unit, killed)
    # the commands that read the experts directory see pl only, not the temporary of the interrupted write
    assert discover_experts(killed / "experts") == {"pl": killed / unit}
    assert load_system(str(killed / "experts")).languages == ("pl",)  # was a KeyError in `lwasr decode`


def test_decode_killed_mid_way_writes_every_record_once_with_the_same_hypotheses(tmp_path, data):
    ref, killed = twins(tmp_path)

    def args(out: Path) -> list[str]:
        base = ["decode", "--system", str(data["experts"]), "--cuts", str(data["test"]), "--batch-size", "2"]
        return [*base, "--out", str(out)]

    def lines() -> int:
        return (killed / HYP_FILE).read_bytes().count(b"\n") if (killed / HYP_FILE).is_file() else 0

    run(args(ref))
    kill_after(args(killed), lambda: lines() >= 2, *delays(3, most=0.05), tmp_path / "k.log")
    assert 2 <= lines() < 12
    run(args(killed))
    got, want = read_hyps(killed / HYP_FILE), read_hyps(ref / HYP_FILE)  # read_hyps refuses an id seen twice
    assert len(got) == len(want) == 12
    assert sorted(got, key=lambda r: r["id"]) == sorted(want, key=lambda r: r["id"])
    assert sorted((ref / "text").read_text().splitlines()) == sorted((killed / "text").read_text().splitlines())


def test_fuse_learned_killed_resumes_to_identical_gates(tmp_path, data):
    ref, killed = twins(tmp_path)

    def args(root: Path) -> list[str]:
        base = ["fuse", "--experts", str(data["experts"]), "--langs", "pl,pt", "--method", "learned"]
        base += ["--cuts", str(data["train"]), "--dev-cuts", str(data["dev"]), "--lr", "0.2"]
        return [*base, "--out", str(root / "fused_learned"), *train_opts(6)]

    run(args(ref))
    die_at(args(killed), f"checkpoint:{kill_steps(4, 6)[0]}", tmp_path / "k.log")
    assert not (killed / "fused_learned").exists()
    run(args(killed))
    same_tensors(
        ref / "fused_learned" / "adapter_model.safetensors", killed / "fused_learned" / "adapter_model.safetensors"
    )
    assert meta(ref / "fused_learned", ref) == meta(killed / "fused_learned", killed)


def test_distill_killed_resumes_to_identical_student(tmp_path, data):
    ref, killed = twins(tmp_path)

    def args(exp: Path) -> list[str]:
        base = ["distill", "--teachers", str(data["experts"]), "--cuts", str(data["train"]), "--langs", "pl,pt"]
        return [*base, "--dev-cuts", str(data["dev"]), "--exp-dir", str(exp), "--alpha", "0.3", *train_opts(6)]

    run(args(ref))
    run_dir = killed / "train_distilled_aware"
    die_at(args(killed), f"checkpoint:{kill_steps(5, 6)[0]}", tmp_path / "k.log")
    assert not (killed / "distilled_aware").exists()
    run(args(killed))
    assert "resumed from" in (run_dir / "train.log").read_text()
    unit = Path("distilled_aware")
    same_tensors(ref / unit / "adapter_model.safetensors", killed / unit / "adapter_model.safetensors")
    assert meta(ref / unit, ref) == meta(killed / unit, killed)


def test_expand_moe_killed_mid_run_and_mid_export_resumes_to_identical_adapter_and_gates(tmp_path, data):
    ref, killed = twins(tmp_path)

    def args(root: Path) -> list[str]:
        base = ["expand", "--experts", str(data["experts"]), "--new-lang", "it", "--cuts", str(data["train"])]
        base += ["--dev-cuts", str(data["dev"]), "--init", "moe", "--moe-gate", "learned"]
        return [*base, "--similarity", str(data["similarity"]), "--out", str(root / "it"), *train_opts(6)]

    run(args(ref))
    die_at(args(killed), f"checkpoint:{kill_steps(6, 6)[0]}", tmp_path / "k.log")
    die_at(args(killed), "unit", tmp_path / "killed_export.log")
    assert not (killed / "it").exists()
    run(args(killed))
    for name in ("new/adapter_model.safetensors", "gate.safetensors"):
        same_tensors(ref / "it" / name, killed / "it" / name)
    assert meta(ref / "it", ref) == meta(killed / "it", killed)
