"""How close lwasr comes to this machine's limit: achieved FLOP/s of LoRA training and of greedy decoding, as a
fraction of the large-matmul peak measured in the same run, in float32 and in bfloat16.

One run measures, interleaved (float32, bfloat16, float32, bfloat16, ...) so that load drifts hit both arms:
- the peak: square ``--matmul-size`` matmuls (2048: large enough for the BLAS to reach its best rate);
- training: lwasr's LoRA step (rank 32 on q, k, v, out, fc1, fc2 of every layer, trimmed encoder input, float32
  weights and AdamW; the bfloat16 arm autocasts the forward pass) on a batch of ``--batch`` clips of
  ``--clip-seconds`` with ``--dec-len`` decoder positions;
- decoding: lwasr's greedy search (:mod:`lwasr.decoding.greedy`, KV cache) on the same batch, ``--new-tokens``
  tokens after a 4-token prompt (the end token never chosen, so that every arm decodes the same tokens); the
  bfloat16 arm casts the model, as ``lwasr decode --dtype bfloat16`` does.

FLOPs come from bench/flops.py (the count tests/test_bench_flops.py checks against torch's FlopCounterMode). The
median time of each arm counts. Printed: markdown for docs/performance.md, with the CPU, threads and load.

Usage: python bench/machine_fraction.py [--model embedded:whisper-base] [--threads 2] [--reps 3]
Smoke (tiny model, seconds): python bench/machine_fraction.py --model DIR --reps 1 --matmul-size 256 --batch 2
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from flops import FRAMES_PER_SECOND, Shape, decode_flops, train_flops  # noqa: E402

from lwasr.decoding.greedy import GreedyRules, WhisperParts, search  # noqa: E402
from lwasr.models.trim import set_trimmed_input  # noqa: E402
from lwasr.units.base import load_whisper, quiet_peft_wrapping  # noqa: E402

ARMS = {"float32": None, "bfloat16": torch.bfloat16}
LORA_TARGETS = ["q_proj", "k_proj", "v_proj", "out_proj", "fc1", "fc2"]
PROMPT = [50258, 50269, 50360, 50364]  # <|startoftranscript|> <|pl|> <|transcribe|> <|notimestamps|>


def cpu_model() -> str:
    """The CPU's model name (lscpu's), or the platform's processor string."""
    for line in Path("/proc/cpuinfo").read_text().splitlines() if Path("/proc/cpuinfo").exists() else []:
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor()


def loadavg() -> str:
    """The 1-, 5- and 15-minute load averages."""
    path = Path("/proc/loadavg")
    return " ".join(path.read_text().split()[:3]) if path.exists() else "n/a"


def timed(run: Callable[[], object]) -> float:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def matmul(n: int, dtype: torch.dtype) -> Callable[[], object]:
    a, b = torch.randn(n, n).to(dtype), torch.randn(n, n).to(dtype)
    return lambda: [a @ b for _ in range(4)]


def train_step(model: torch.nn.Module, args: argparse.Namespace, autocast: torch.dtype | None) -> Callable[[], None]:
    """One LoRA training step of ``model`` on a fixed random batch (the arithmetic does not depend on the values)."""
    frames = round(args.clip_seconds * FRAMES_PER_SECOND) // 2 * 2
    feats = torch.randn(args.batch, model.config.num_mel_bins, frames)
    ids = torch.randint(0, 50000, (args.batch, args.dec_len + 1))
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=1e-4)

    def step() -> None:
        with torch.autocast("cpu", dtype=autocast or torch.bfloat16, enabled=autocast is not None):
            logits = model(input_features=feats, decoder_input_ids=ids[:, :-1]).logits
        loss = torch.nn.functional.cross_entropy(logits.float().transpose(1, 2), ids[:, 1:])
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    return step


def decode(model: torch.nn.Module, args: argparse.Namespace, dtype: torch.dtype) -> Callable[[], None]:
    parts = WhisperParts.of(model)
    frames = round(args.clip_seconds * FRAMES_PER_SECOND) // 2 * 2
    feats = torch.randn(args.batch, model.config.num_mel_bins, frames).to(dtype)
    prompts = torch.tensor([PROMPT] * args.batch)
    never_ends = GreedyRules(eos_id=-1, suppress=(), begin_suppress=(), max_target_positions=448)

    def run() -> None:
        with torch.inference_mode():
            search(parts, parts.encode(feats), prompts, never_ends, max_new_tokens=args.new_tokens)

    return run


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="embedded:whisper-base", help="an lwasr --model spec (default whisper-base)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--reps", type=int, default=3, help="timings per arm (interleaved)")
    p.add_argument("--matmul-size", type=int, default=2048)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--clip-seconds", type=float, default=2.5, help="espeak8 test: 2.49 s on average")
    p.add_argument("--dec-len", type=int, default=19, help="decoder positions: 4 prompt + ~15 text (espeak8)")
    p.add_argument("--new-tokens", type=int, default=16)
    p.add_argument("--lora-rank", type=int, default=32)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    from peft import LoraConfig, get_peft_model

    base, _ = load_whisper(args.model)
    set_trimmed_input(base)
    shape = Shape.of_config(base.config)
    decoders = {"float32": base, "bfloat16": load_whisper(args.model)[0].to(torch.bfloat16)}
    set_trimmed_input(decoders["bfloat16"])
    lora = LoraConfig(r=args.lora_rank, lora_alpha=2 * args.lora_rank, target_modules=LORA_TARGETS)
    with quiet_peft_wrapping():
        trainee = get_peft_model(load_whisper(args.model)[0], lora).train()
    set_trimmed_input(trainee)
    frames = round(args.clip_seconds * FRAMES_PER_SECOND) // 2 * 2
    work = {
        "matmul": (
            4 * 2.0 * args.matmul_size**3,
            {k: matmul(args.matmul_size, v or torch.float32) for k, v in ARMS.items()},
        ),
        "training": (
            args.batch * train_flops(shape, frames, args.dec_len, args.lora_rank),
            {k: train_step(trainee, args, v) for k, v in ARMS.items()},
        ),
        "decoding": (
            args.batch * decode_flops(shape, frames, len(PROMPT), args.new_tokens),
            {k: decode(decoders[k], args, v or torch.float32) for k, v in ARMS.items()},
        ),
    }
    for _, runs in work.values():  # warm-up: first calls allocate and pick kernels
        for run in runs.values():
            run()
    load_before = loadavg()
    times: dict[tuple[str, str], list[float]] = {(w, a): [] for w in work for a in ARMS}
    for _ in range(args.reps):
        for what, (_, runs) in work.items():
            for arm, run in runs.items():
                times[what, arm].append(timed(run))
    load_after = loadavg()
    rate = {key: work[key[0]][0] / statistics.median(t) for key, t in times.items()}
    audio = args.batch * args.clip_seconds
    print(f"CPU: {cpu_model()}, {os.cpu_count()} cores, torch {torch.__version__}, {args.threads} threads;")
    print(f"load average (1, 5, 15 min) before {load_before}, after {load_after}; model {args.model}, ", end="")
    print(f"batch {args.batch} x {args.clip_seconds} s, median of {args.reps} interleaved runs per arm.\n")
    print("| work | precision | GFLOP/s | fraction of the matmul peak | audio-s/s | bfloat16 / float32 |")
    print("|---|---|---|---|---|---|")
    for what in work:
        for arm in ARMS:
            r = rate[what, arm]
            seconds = statistics.median(times[what, arm])
            speed = f"{audio / seconds:.1f}" if what != "matmul" else "—"
            ratio = f"{rate[what, 'bfloat16'] / rate[what, 'float32']:.2f}×" if arm == "bfloat16" else ""
            print(f"| {what} | {arm} | {r / 1e9:.1f} | {r / rate['matmul', arm]:.1%} | {speed} | {ratio} |")
    per_s = {
        "training": train_flops(shape, frames, args.dec_len, args.lora_rank) / args.clip_seconds,
        "decoding": decode_flops(shape, frames, len(PROMPT), args.new_tokens) / args.clip_seconds,
    }
    print(f"\nGFLOP per audio-second: training {per_s['training'] / 1e9:.2f}, decoding {per_s['decoding'] / 1e9:.2f}.")


if __name__ == "__main__":
    main()
