"""bench/gpu_train.py, the prepared GPU benchmark, runs end to end on CPU with the tiny Whisper."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "bench" / "gpu_train.py"


def test_the_gpu_benchmark_trains_and_decodes_the_tiny_whisper_on_cpu(tiny_whisper, tiny_ct2):
    args = ["--device", "cpu", "--models", str(tiny_whisper), "--batch-sizes", "1,2", "--steps", "1", "--warmup", "0"]
    args += ["--decode-system", str(tiny_whisper), "--decode-ct2", str(tiny_ct2), "--clips", "3"]
    args += ["--max-new-tokens", "6", "--clip-seconds", "1.5"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    name = re.escape(tiny_whisper.name)
    number = r"\d+(\.\d+)?(e-?\d+)?"
    for batch in (1, 2):  # step time, audio-s/s, samples/s, TFLOP/s, MFU (none on CPU), peak memory
        row = rf"^\| {name} \| {batch} \| {number} \| {number} \| {number} \| {number} \| n/a \| {number} \|$"
        assert re.search(row, done.stdout, re.M), done.stdout
    assert "3 clips, 4.5 s of audio, language pl, float32 on cpu" in done.stdout
    for arm in ("lwasr (batched greedy, trimmed)", "faster-whisper (CT2 export)"):
        assert re.search(
            rf"^\| {re.escape(arm)} \| {number} \| {number} \| {number} \| {number}× \|$", done.stdout, re.M
        )
