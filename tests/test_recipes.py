"""The recipes end to end on the tiny model: every stage, skip on re-run, resume after a kill.

fleurs8 runs in its fixture mode (--corpus-dir pointing at a tiny google/fleurs-layout copy, so no
network), espeak8 in its quick profile with real espeak-ng speech. Outputs go to tmp dirs via
--data/--expdir, never into the source tree.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from helpers import ROOT, run_recipe, write_fleurs_split

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def fleurs_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("fleurs")
    texts = {
        "pl_pl": ["dzień dobry", "dobry wieczór", "tak", "nie wiem"],
        "cmn_hans_cn": ["你好", "谢谢", "再见", "好的"],
    }
    for code, words in texts.items():
        for split, n in (("train", 4), ("dev", 2), ("test", 2)):
            rows = [(f"{split}{i}.wav", words[i].capitalize(), words[i]) for i in range(n)]
            write_fleurs_split(root, code, split, rows, [r[0] for r in rows])
    return root


def test_fleurs8_fixture_mode_runs_every_stage_then_skips_them(tmp_path, fleurs_copy, tiny_whisper):
    args = [
        "--corpus-dir",
        str(fleurs_copy),
        "--model",
        str(tiny_whisper),
        "--quick",
        "--fleurs-langs",
        "pl_pl,cmn_hans_cn",
        "--langs",
        "pl,zh",
        "--data",
        str(tmp_path / "data"),
        "--expdir",
        str(tmp_path / "exp"),
        "--tag",
        "t",
        "--expert-routing",
        "base router router_soft2 shared distilled_agnostic",
    ]
    # ~10 min alone on 2 cores; the default 900-s guard against a hang failed it when other work shared the cores
    first = run_recipe("fleurs8", *args, timeout=1800)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    exp = tmp_path / "exp" / "t"
    for n in range(1, 10):
        assert f"=== stage {n} done" in first.stdout
    for system in ("experts", "shared", "full", "fused_sum"):
        for scenario in ("aware", "agnostic"):
            assert (exp / f"decode_{system}_{scenario}_test" / "hyp.jsonl").is_file()
    assert (exp / "router" / "router.safetensors").is_file()  # --expert-routing: the router stage 5 trained
    # distilled_agnostic: routed at the end of stage 7, which builds the student
    for routed in ("experts_router", "experts_router_soft2", "experts_lid_shared", "experts_lid_distilled_agnostic"):
        assert not (exp / f"decode_{routed}_aware_test").exists()  # only the agnostic scenario is routed
        assert (exp / f"decode_{routed}_agnostic_test" / "hyp.jsonl").is_file()
    results = (exp / "RESULTS.md").read_text()
    for name in (
        "zeroshot_aware",
        "shared_aware",
        "experts_agnostic",
        "full_agnostic",
        "fused_sum_agnostic",
        "experts_router_agnostic",
        "experts_router_soft2_agnostic",
        "experts_lid_shared_agnostic",
        "experts_lid_distilled_agnostic_agnostic",
        "distilled_aware",
        "distilled_agnostic",
    ):
        assert name in results
    assert list(exp.glob("*.png")), "the comparison chart is missing"
    assert (exp / "log" / "stage3.log").is_file()
    # expansion (quick profile: the last language, zh, is new; pl is the base)
    xexp = exp / "expansion"
    assert (xexp / "experts" / "pl").resolve() == (exp / "experts" / "pl").resolve()
    for init in ("random", "warm", "moe", "continue-shared", "continue-full"):
        assert (xexp / f"expand_{init}" / "zh" / "lwasr.json").is_file()
    new = (xexp / "RESULTS_new.md").read_text()
    assert all(f"| {init} |" in new for init in ("random", "warm", "moe", "continue-shared", "continue-full"))
    base = (xexp / "RESULTS_base.md").read_text()
    for name in ("experts_before", "experts_after", "shared_before", "shared_after_zh", "full_after_zh"):
        assert f"| {name} |" in base
    rows = {line.split("|")[1].strip(): line.split("|")[2:] for line in base.splitlines() if line.startswith("| ")}
    assert rows["experts_before"][:-2] == rows["experts_after"][:-2]  # the same error rates: nothing forgotten

    again = run_recipe("fleurs8", *args)
    assert again.returncode == 0, again.stderr[-3000:]
    for n in range(1, 10):
        assert f"=== stage {n}:" in again.stdout and f"stage {n} done" not in again.stdout
    assert again.stdout.count("already done, skipping") == 9


def test_espeak8_quick_resumes_after_a_kill_during_training(tmp_path, tiny_whisper):
    args = [
        "--quick",
        "--model",
        str(tiny_whisper),
        "--langs",
        "pl,it,da",
        "--expert-steps",
        "40",
        "--data",
        str(tmp_path / "data"),
        "--expdir",
        str(tmp_path / "exp"),
        "--tag",
        "k",
    ]
    exp = tmp_path / "exp" / "k"
    proc = subprocess.Popen(
        ["bash", str(ROOT / "egs" / "espeak8" / "run.sh"), *args, "--stop-stage", "3"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.time() + 600
    while not (exp / "experts" / "pl" / "lwasr.json").exists():
        assert proc.poll() is None, "the recipe ended before the first expert was written"
        assert time.time() < deadline, "no expert after 600 s"
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)  # a crash in the middle of stage 3
    proc.wait()
    assert not (exp / ".done" / "stage3.done").exists()
    assert not (exp / "experts" / "da" / "lwasr.json").exists()

    resumed = run_recipe("espeak8", *args, "--stop-stage", "3")
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    assert "stage 1: Prepare the data -- already done, skipping" in resumed.stdout
    assert "experts/pl already exists; skipping" in resumed.stdout + resumed.stderr
    assert all((exp / "experts" / lang / "lwasr.json").is_file() for lang in ("pl", "it", "da"))
    assert (exp / ".done" / "stage3.done").is_file()


def test_unknown_recipe_option_is_an_error():
    result = run_recipe("espeak8", "--no-such-option", "1")
    assert result.returncode != 0
    assert "unknown option --no-such-option" in result.stderr
