"""Issue 29 item 1: bfloat16 against float32 on a CPU that has it (avx512_bf16 or AMX), in training and decoding.

Three measurements, each printing a markdown section for docs/performance.md (with the CPU, its bf16 flags, the
torch threads and /proc/loadavg before and after):

  steps   training step time of a whisper-base LoRA (rank 32 on q/k/v/out/fc1/fc2, lwasr's trimmed input, the
          espeak8 expert batches: ``--max-duration`` 20 s of the pl training manifest): float32, bfloat16 autocast
          (lwasr's ``precision``) and a bfloat16 frozen base under a float32 LoRA (``frozen_dtype``), interleaved
          A, B, C, A, B, C... on the same batches; each model is built once and each step is a full forward,
          backward and AdamW step (``lwasr.training.evaluate.batch_logits``).
  decode  the experts decoded (``lwasr.decoding.search.decode_cuts``, language given, batches of 16) with
          ``--dtype float32`` and ``bfloat16``, interleaved, each round on a fresh copy of the system; the first
          round's decodes are compared by ``lwasr score compare`` (paired bootstrap interval of the WER change).
  train   one expert trained twice with the recipe's config (``--config``), ``precision`` float32 and bfloat16, the
          same steps; both decoded in float32 on the test manifest and compared by ``lwasr score compare``
          (not yet run to its end: the loaded machine of 2026-12-07 left no time for it).

Run from the recipe directory (the experts' base path is relative to it), writing only under ``--work``:

  cd egs/espeak8 && python <repo>/bench/bf16_cpu.py steps decode train --work /tmp/bf16 \\
      --experts exp/espeak8_base_adapted/experts --test-glob 'data/espeak8_base/manifests/synth_*_test-first32_*'
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ARMS = ("float32", "bfloat16")


def machine() -> str:
    """The CPU model, its bf16 flags, cores and torch threads: the line every section starts with."""
    import torch

    from lwasr.precision_support import cpu_bf16_flags

    lines = Path("/proc/cpuinfo").read_text().splitlines()
    model = next((line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")), "unknown")
    flags = ", ".join(sorted(cpu_bf16_flags())) or "none"
    threads = torch.get_num_threads()
    return f"{model} (bf16 flags: {flags}), {os.cpu_count()} cores, {threads} torch threads, torch {torch.__version__}"


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


#: The arms of ``steps``: (name, autocast dtype of the forward pass, dtype the frozen base is held in).
STEP_ARMS = (
    ("float32", "float32", "float32"),
    ("bfloat16 autocast", "bfloat16", "float32"),
    ("bfloat16 frozen base", "float32", "bfloat16"),
)


def bench_steps(args: argparse.Namespace) -> str:
    """Training step time: float32, bfloat16 autocast (``precision``) and a bfloat16 frozen base under a float32
    LoRA (``frozen_dtype``), interleaved on the same batches."""
    import torch

    from lwasr.data.cuts import load_cuts
    from lwasr.features import LogMel
    from lwasr.models.trim import set_trimmed_input
    from lwasr.precision_support import autocast_dtype
    from lwasr.training import data as D
    from lwasr.training.config import TrainConfig
    from lwasr.training.evaluate import batch_logits
    from lwasr.training.lora import apply_lora
    from lwasr.units.base import load_whisper

    before = loadavg()
    cfg = TrainConfig(mode="expert", lang="pl", model=args.base, cuts=[args.train_cuts])

    def build(frozen: str) -> tuple[Any, Any, Any]:
        """A LoRA model on the base held in ``frozen`` (as the trainer builds it), its tokenizer and optimizer."""
        torch.manual_seed(0)
        model, tok = load_whisper(args.base)
        model.config.use_cache = False
        set_trimmed_input(model)
        model = apply_lora(model.to(getattr(torch, frozen)), cfg).train()
        return model, tok, torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)

    models = {frozen: build(frozen) for frozen in dict.fromkeys(f for _, _, f in STEP_ARMS)}
    reference, tok, _ = models["float32"]
    logmel = LogMel(reference.config.num_mel_bins)
    cuts = D.select_languages(load_cuts([args.train_cuts], split=None), ["pl"])
    sampler = D.make_sampler(cuts, args.max_duration, num_buckets=4, shuffle=True, seed=0, world_size=1, rank=0)
    dataset = D.AsrDataset(tok, lang_token=True, max_target_len=reference.config.max_target_positions)
    batches = []
    for batch in D.make_loader(dataset, D.SkipFirst(sampler), 0):
        batches.append(batch)
        if len(batches) == args.steps:
            break

    def one_pass(autocast: str, frozen: str) -> float:
        model, _, opt = models[frozen]
        start = time.perf_counter()
        for batch in batches:
            logits, labels = batch_logits(model, logmel, batch, trim=True, autocast=autocast_dtype(autocast))
            loss, n = D.token_loss(logits, labels)
            (loss / n).backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
        return time.perf_counter() - start

    for _, autocast, frozen in STEP_ARMS:  # warm-up (allocator, oneDNN kernels), not counted
        one_pass(autocast, frozen)
    times: dict[str, list[float]] = {name: [] for name, _, _ in STEP_ARMS}
    for _ in range(args.rounds):
        for name, autocast, frozen in STEP_ARMS:
            times[name].append(one_pass(autocast, frozen))
    utts = sum(len(b["ids"]) for b in batches)
    audio = sum(b["seconds"] for b in batches)
    rows = []
    for name, _, _ in STEP_ARMS:
        median = statistics.median(times[name])
        passes = ", ".join(f"{t:.1f}" for t in times[name])
        per_round = [f / t for f, t in zip(times["float32"], times[name], strict=True)]
        rows.append(
            f"| {name} | {median / len(batches):.2f} | {utts / median:.2f} | {passes}"
            f" | {', '.join(f'{r:.2f}' for r in per_round)} | **{statistics.median(per_round):.2f}×** |"
        )
    return "\n".join(
        [
            "### Training steps (whisper-base LoRA rank 32, trimmed input)",
            "",
            f"Machine: {machine()}. Load (/proc/loadavg) before {before}, after {loadavg()}.",
            f"{len(batches)} steps of the pl training batches ({args.max_duration:g} s each at most: {utts} utterances,"
            f" {audio:.1f} s of audio), {args.rounds} rounds interleaved in the order of the table, after one"
            f" warm-up pass of each; base `{args.base}`.",
            "",
            "| arm | s/step (median round) | utt/s | pass times (s) | speed-up per round vs float32 | median |",
            "|---|---|---|---|---|---|",
            *rows,
        ]
    )


def score_compare(dirs: list[Path], names: list[str], out: Path) -> str:
    """``lwasr score compare`` of ``dirs`` against the first; returns its markdown table."""
    cmd = ["lwasr", "score", "compare", *map(str, dirs), "--out", str(out), "--baseline", names[0]]
    for name in names:
        cmd += ["--name", name]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return out.read_text()


def bench_decode(args: argparse.Namespace) -> str:
    """The experts decoded in float32 and bfloat16, interleaved; the first round compared for WER."""
    from lwasr.decoding.search import DecodeOptions, decode_cuts
    from lwasr.loaders import load_system

    before = loadavg()
    cuts = sorted(glob.glob(args.test_glob))
    seconds: dict[str, list[float]] = {arm: [] for arm in ARMS}
    summaries: dict[str, dict[str, Any]] = {}
    for r in range(args.rounds):
        for arm in ARMS:
            out = args.work / f"decode_{arm}_r{r}"
            summary = decode_cuts(
                load_system(args.experts), cuts, out, DecodeOptions(batch_size=16, dtype=arm), progress=False
            )
            seconds[arm].append(summary["decode_seconds"])
            summaries[arm] = summary
    ratios = [f / b for f, b in zip(seconds["float32"], seconds["bfloat16"], strict=True)]
    table = score_compare([args.work / f"decode_{arm}_r0" for arm in ARMS], list(ARMS), args.work / "decode_wer.md")
    n = summaries["float32"]["utterances"]
    return "\n".join(
        [
            "### Decoding the experts (language given, batches of 16)",
            "",
            f"Machine: {machine()}. Load (/proc/loadavg) before {before}, after {loadavg()}.",
            f"`{args.experts}` on {len(cuts)} manifests `{args.test_glob}` ({n} utterances), {args.rounds} rounds"
            " interleaved; decode seconds from each `summary.json` (model loading excluded).",
            "",
            "| dtype | decode s per round | utt/s (median) |",
            "|---|---|---|",
            *(
                f"| {arm} | {', '.join(f'{s:.1f}' for s in seconds[arm])} | {n / statistics.median(seconds[arm]):.2f} |"
                for arm in ARMS
            ),
            "",
            f"bfloat16 speed-up per round: {', '.join(f'{r:.2f}' for r in ratios)}; median"
            f" **{statistics.median(ratios):.2f}×**.",
            "",
            "WER/CER, `lwasr score compare` of the first round (paired bootstrap interval against float32):",
            "",
            table.strip(),
        ]
    )


def bench_train(args: argparse.Namespace) -> str:
    """One expert trained in float32 and in bfloat16 with the same config and steps; WER of each."""
    before = loadavg()
    walls: dict[str, float] = {}
    decodes = []
    for arm in ARMS:
        exp = args.work / f"train_{arm}"
        start = time.perf_counter()
        cmd = ["lwasr", "train", "--config", str(args.train_config), "--exp-dir", str(exp), "--precision", arm]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        walls[arm] = time.perf_counter() - start
        meta = json.loads(next(exp.glob("experts/*/lwasr.json")).read_text())
        assert meta["extra"]["precision"] == arm, meta["extra"]
        out = args.work / f"decode_trained_{arm}"
        cmd = ["lwasr", "decode", "--system", str(exp / "experts"), "--out", str(out), "--dtype", "float32"]
        subprocess.run([*cmd, "--cuts", args.train_test], check=True, stdout=subprocess.DEVNULL)
        decodes.append(out)
    table = score_compare(decodes, [f"trained {arm}" for arm in ARMS], args.work / "train_wer.md")
    return "\n".join(
        [
            "### One expert trained in float32 and in bfloat16",
            "",
            f"Machine: {machine()}. Load (/proc/loadavg) before {before}, after {loadavg()}.",
            f"`lwasr train --config {args.train_config} --precision float32|bfloat16` (the same steps), one after the"
            f" other; each decoded in float32 on `{args.train_test}`. Wall time of the whole run (loading, training,"
            " the per-epoch dev WER, export): "
            + ", ".join(f"{arm} {walls[arm]:.0f} s" for arm in ARMS)
            + f" ({walls['float32'] / walls['bfloat16']:.2f}×, not interleaved).",
            "",
            table.strip(),
        ]
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("what", nargs="+", choices=("steps", "decode", "train"))
    p.add_argument("--work", type=Path, required=True, help="Where every output goes.")
    p.add_argument("--base", default="exp/espeak8_base_adapt/base", help="steps: the base model.")
    p.add_argument("--train-cuts", default="data/espeak8_base/manifests/synth_pl_train_cuts.jsonl.gz")
    p.add_argument("--max-duration", type=float, default=20.0)
    p.add_argument("--steps", type=int, default=4, help="steps: optimizer steps per pass.")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--experts", default="exp/espeak8_base_adapted/experts")
    p.add_argument("--test-glob", default="data/espeak8_base/manifests/synth_*_test-first32_cuts.jsonl.gz")
    p.add_argument("--train-config", type=Path, default=Path("exp/espeak8_base_adapted/train_expert_pl/config.yaml"))
    p.add_argument("--train-test", default="data/espeak8_base/manifests/synth_pl_test-first32_cuts.jsonl.gz")
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    args.work.mkdir(parents=True, exist_ok=True)
    sections = {"steps": bench_steps, "decode": bench_decode, "train": bench_train}
    for what in args.what:
        text = sections[what](args)
        (args.work / f"{what}.md").write_text(text + "\n")
        print(text + "\n", flush=True)
    sys.exit(0)


if __name__ == "__main__":
    main()
