"""Benchmark 1 (issue #4): training throughput of `lwasr train` against the usual Hugging Face stack.

Both sides train the same LoRA (rank 32, alpha 64, dropout 0.05, on q/k/v/out_proj/fc1/fc2 of every
encoder and decoder layer) on the same base model (the embedded whisper-base), the same cuts, one epoch
(every cut seen once), the same learning rate, AdamW, clip-norm 1.0, the same number of torch threads:

  lwasr  the real `lwasr train --mode expert --lang pl ...` command (invoked in-process through the
         `lwasr` Typer app, so the real CLI -> config -> Trainer path runs), with its defaults:
         trimmed encoder input, features computed in the loop, DynamicBucketingSampler(max_duration).
  hf     `Seq2SeqTrainer` + PEFT as the Hugging Face "Fine-Tune Whisper" blog writes it:
         WhisperFeatureExtractor features padded to 30 s (computed beforehand, as the blog's
         `dataset.map` does, and not timed), DataCollatorSpeechSeq2SeqWithPadding, a fixed batch size,
         no bucketing, no evaluation, no checkpoints.

Each side runs in its own process (so peak RSS is its own), and the two alternate (lwasr, hf, then
hf, lwasr in the next round...), so machine load that drifts hits both alike; the ratio is taken
within each round. Timed: the training steps only (data loading + forward + backward + optimizer),
from the start of the training loop to the end of the last optimizer step; model loading, the HF
feature pre-computation and the final save are excluded (and reported separately).

Usage:
  python bench/train_throughput.py [--num-cuts 16] [--rounds 1] [--threads 2] [--json-out FILE]
  (bench/train_throughput.sh does the same, regenerating the espeak-ng corpus when it is missing)

`--worker lwasr|hf` is internal: one measured run, printing one `RESULT {json}` line.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

DEFAULT_CUTS = "/tmp/espeak8/manifests/synth_pl_train_cuts.jsonl.gz"
LORA_TARGETS = ["q_proj", "k_proj", "v_proj", "out_proj", "fc1", "fc2"]
T_PROCESS = time.perf_counter()


def rss_mb() -> float:
    """Current resident set size of this process in MB (from /proc/self/status)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def peak_rss_mb() -> float:
    """Peak resident set size of this process in MB (getrusage: kilobytes on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def cpu_s() -> float:
    """User + system CPU seconds of this process so far (all its threads)."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def load_avg() -> float:
    return os.getloadavg()[0]


# ---------------------------------------------------------------------------------------------------------
# worker: lwasr


def worker_lwasr(args: argparse.Namespace) -> dict[str, Any]:
    """`lwasr train --mode expert --lang pl ...` through the CLI app; timestamps taken by thin wrappers."""
    import torch

    torch.set_num_threads(args.threads)
    from lwasr.cli import app
    from lwasr.training import loop

    marks: dict[str, Any] = {"seconds": 0.0, "utts": 0, "steps": 0, "batches": 0}
    run, backward, opt_step = loop.Trainer.run, loop.Trainer._backward, loop.Trainer._optimizer_step

    def timed_run(self: loop.Trainer) -> Path:
        marks["t_start"], marks["cpu_start"] = time.perf_counter(), cpu_s()
        marks["rss_before_train_mb"] = rss_mb()
        return run(self)

    def counted_backward(self: loop.Trainer, batch: dict[str, Any], micro: int) -> None:
        backward(self, batch, micro)
        marks["seconds"] += batch["seconds"]
        marks["utts"] += len(batch["ids"])
        marks["batches"] += 1
        marks["max_frames"] = max(marks.get("max_frames", 0), batch["audio"].shape[-1] // 160)

    def timed_step(self: loop.Trainer, bar: Any) -> None:
        opt_step(self, bar)
        marks["t_end"], marks["cpu_end"] = time.perf_counter(), cpu_s()
        marks.setdefault("step_ends", []).append(marks["t_end"])
        marks["steps"] += 1

    loop.Trainer.run, loop.Trainer._backward, loop.Trainer._optimizer_step = timed_run, counted_backward, timed_step
    with tempfile.TemporaryDirectory(prefix="lwasr_bench_train_") as exp:
        argv = [
            "train", "--mode", "expert", "--lang", "pl", "--model", args.model, "--cuts", args.cuts,
            "--exp-dir", exp, "--num-epochs", "1", "--lr", str(args.lr), "--set", "warmup_steps=0",
        ]  # fmt: skip
        if args.max_duration:
            argv += ["--max-duration", str(args.max_duration)]
        marks["command"] = "lwasr " + " ".join(argv).replace(exp, "EXP")
        try:
            app(argv, standalone_mode=False)
        finally:
            loop.Trainer.run, loop.Trainer._backward, loop.Trainer._optimizer_step = run, backward, opt_step
    return marks


# ---------------------------------------------------------------------------------------------------------
# worker: Hugging Face Seq2SeqTrainer + PEFT, as in the "Fine-Tune Whisper" blog


@dataclass
class DataCollatorSpeechSeq2SeqWithPadding:
    """The collator of the Hugging Face "Fine-Tune Whisper For Multilingual ASR" blog, verbatim."""

    processor: Any
    decoder_start_token_id: int

    def __call__(self, features: list[dict[str, Any]]) -> dict[str, Any]:
        input_features = [{"input_features": feature["input_features"]} for feature in features]
        batch = self.processor.feature_extractor.pad(input_features, return_tensors="pt")
        label_features = [{"input_ids": feature["labels"]} for feature in features]
        labels_batch = self.processor.tokenizer.pad(label_features, return_tensors="pt")
        labels = labels_batch["input_ids"].masked_fill(labels_batch.attention_mask.ne(1), -100)
        if (labels[:, 0] == self.decoder_start_token_id).all().cpu().item():
            labels = labels[:, 1:]
        batch["labels"] = labels
        return batch


def worker_hf(args: argparse.Namespace) -> dict[str, Any]:
    import torch

    torch.set_num_threads(args.threads)
    from lhotse import CutSet
    from peft import LoraConfig, get_peft_model
    from transformers import (
        Seq2SeqTrainer,
        Seq2SeqTrainingArguments,
        TrainerCallback,
        WhisperForConditionalGeneration,
        WhisperProcessor,
    )

    marks: dict[str, Any] = {"steps": 0}
    processor = WhisperProcessor.from_pretrained(args.model_path, language="polish", task="transcribe")

    # the blog's prepare_dataset (dataset.map): log-mel padded to 30 s, and the tokenized transcript
    t_prep = time.perf_counter()
    rows, seconds = [], 0.0
    for cut in CutSet.from_file(args.cuts):
        audio = cut.load_audio()[0]
        feats = processor.feature_extractor(audio, sampling_rate=cut.sampling_rate).input_features[0]
        text = " ".join(s.text.strip() for s in cut.supervisions if s.text)
        rows.append({"input_features": feats, "labels": processor.tokenizer(text).input_ids})
        seconds += cut.duration
    marks["prep_s"] = time.perf_counter() - t_prep

    model = WhisperForConditionalGeneration.from_pretrained(args.model_path)
    model.config.forced_decoder_ids = None
    model.config.suppress_tokens = []
    model.config.use_cache = False
    lora = LoraConfig(r=32, lora_alpha=64, lora_dropout=0.05, target_modules=LORA_TARGETS, bias="none")
    model = get_peft_model(model, lora)

    class Rows(torch.utils.data.Dataset):
        def __len__(self) -> int:
            return len(rows)

        def __getitem__(self, i: int) -> dict[str, Any]:
            return rows[i]

    class Timer(TrainerCallback):
        def on_train_begin(self, *a: Any, **k: Any) -> None:
            marks["t_start"], marks["cpu_start"] = time.perf_counter(), cpu_s()
            marks["rss_before_train_mb"] = rss_mb()

        def on_step_end(self, *a: Any, **k: Any) -> None:
            marks["t_end"], marks["cpu_end"] = time.perf_counter(), cpu_s()
            marks.setdefault("step_ends", []).append(marks["t_end"])
            marks["steps"] += 1

    with tempfile.TemporaryDirectory(prefix="hf_bench_train_") as out:
        training_args = Seq2SeqTrainingArguments(
            output_dir=out,
            per_device_train_batch_size=args.batch_size,
            gradient_accumulation_steps=1,
            learning_rate=args.lr,
            lr_scheduler_type="linear",
            warmup_steps=0,
            weight_decay=0.0,
            max_grad_norm=1.0,
            num_train_epochs=1,
            fp16=False,
            bf16=False,
            eval_strategy="no",
            save_strategy="no",
            logging_steps=10_000,
            report_to=[],
            use_cpu=True,
            dataloader_num_workers=0,
            remove_unused_columns=False,
            label_names=["labels"],
            disable_tqdm=True,
            seed=42,
        )
        trainer = Seq2SeqTrainer(
            model=model,
            args=training_args,
            train_dataset=Rows(),
            data_collator=DataCollatorSpeechSeq2SeqWithPadding(processor, model.config.decoder_start_token_id),
            callbacks=[Timer()],
        )
        trainer.train()
    marks.update(seconds=seconds, utts=len(rows), batches=marks["steps"], max_frames=3000)
    marks["command"] = (
        f"Seq2SeqTrainer(per_device_train_batch_size={args.batch_size}, learning_rate={args.lr},"
        " num_train_epochs=1, warmup_steps=0) + PEFT LoraConfig(r=32, lora_alpha=64, lora_dropout=0.05)"
    )
    return marks


def run_worker(args: argparse.Namespace) -> None:
    marks = worker_lwasr(args) if args.worker == "lwasr" else worker_hf(args)
    train_s = marks["t_end"] - marks["t_start"]
    train_cpu = marks["cpu_end"] - marks["cpu_start"]
    ends = [marks["t_start"], *marks["step_ends"]]
    result = {
        "system": args.worker,
        "utts": marks["utts"],
        "audio_s": round(marks["seconds"], 2),
        "steps": marks["steps"],
        "batches": marks["batches"],
        "max_encoder_frames": marks.get("max_frames"),
        "train_s": round(train_s, 2),
        "audio_s_per_s": round(marks["seconds"] / train_s, 3),
        "utt_per_s": round(marks["utts"] / train_s, 3),
        "cpu_s": round(train_cpu, 2),
        "cpu_s_per_audio_s": round(train_cpu / marks["seconds"], 3),
        "step_s": [round(b - a, 2) for a, b in zip(ends, ends[1:], strict=False)],
        "load_s": round(marks["t_start"] - T_PROCESS - marks.get("prep_s", 0.0), 2),
        "prep_s": round(marks.get("prep_s", 0.0), 2),
        "process_s": round(time.perf_counter() - T_PROCESS, 2),
        "rss_before_train_mb": round(marks["rss_before_train_mb"], 1),
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "threads": args.threads,
        "command": marks["command"],
    }
    print("RESULT " + json.dumps(result), flush=True)


# ---------------------------------------------------------------------------------------------------------
# driver


def subset_manifest(src: str, n: int, out: Path) -> Path:
    from lhotse import CutSet

    cuts = CutSet.from_file(src).subset(first=n)
    if len(cuts) < n:
        sys.exit(f"{src} has only {len(cuts)} cuts, {n} asked")
    path = out / f"cuts_{n}.jsonl.gz"
    cuts.to_file(path)
    return path


def launch(system: str, args: argparse.Namespace, cuts: Path, model_path: str, logdir: Path, tag: str) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), MKL_NUM_THREADS=str(args.threads))
    env["TOKENIZERS_PARALLELISM"] = "false"
    cmd = [
        sys.executable, __file__, "--worker", system, "--cuts", str(cuts), "--model", args.model,
        "--model-path", model_path, "--threads", str(args.threads), "--lr", str(args.lr),
        "--batch-size", str(args.batch_size), "--max-duration", str(args.max_duration or 0),
    ]  # fmt: skip
    log = logdir / f"{tag}_{system}.log"
    load0 = load_avg()
    with open(log, "w") as f:
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=f, text=True, env=env)
    lines = [x for x in proc.stdout.splitlines() if x.startswith("RESULT ")]
    if proc.returncode or not lines:
        sys.exit(f"{system} worker failed (exit {proc.returncode}); see {log}\n{proc.stdout[-2000:]}")
    result = json.loads(lines[-1][len("RESULT ") :])
    result["load_avg_before"] = round(load0, 2)
    result["load_avg_after"] = round(load_avg(), 2)
    return result


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cuts", default=DEFAULT_CUTS, help="Polish training CutSet manifest (the first --num-cuts)")
    p.add_argument("--num-cuts", type=int, default=16, help="use 64 or more on a quiet machine")
    p.add_argument("--model", default="embedded:whisper-base")
    p.add_argument("--threads", type=int, default=2, help="torch threads, both systems")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--batch-size", type=int, default=8, help="HF fixed batch size")
    p.add_argument("--max-duration", type=float, default=0, help="lwasr --max-duration (0: lwasr's default)")
    p.add_argument("--rounds", type=int, default=1, help="lwasr/hf pairs; the order alternates per round")
    p.add_argument("--workdir", type=Path, default=None)
    p.add_argument("--json-out", type=Path, default=None)
    p.add_argument("--worker", choices=["lwasr", "hf"], help=argparse.SUPPRESS)
    p.add_argument("--model-path", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        run_worker(args)
        return

    from lwasr.models.resolve import resolve_model

    model_path = str(resolve_model(args.model))
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="lwasr_train_bench_"))
    workdir.mkdir(parents=True, exist_ok=True)
    cuts = subset_manifest(args.cuts, args.num_cuts, workdir)
    print(f"cuts {cuts} ({args.num_cuts}), model {args.model} ({model_path}), threads {args.threads}, logs {workdir}")
    rounds = []
    for r in range(args.rounds):
        order = ["lwasr", "hf"] if r % 2 == 0 else ["hf", "lwasr"]
        res = {}
        for system in order:
            res[system] = launch(system, args, cuts, model_path, workdir, f"round{r}")
            x = res[system]
            print(
                f"round {r} {system:5s}: {x['audio_s']:.1f} audio-s, {x['utts']} utts in {x['batches']} batches,"
                f" {x['train_s']:.1f} s -> {x['audio_s_per_s']:.2f} audio-s/s ({x['utt_per_s']:.2f} utt/s);"
                f" {x['cpu_s_per_audio_s']:.2f} CPU-s per audio-s;"
                f" peak RSS {x['peak_rss_mb']:.0f} MB; load avg {x['load_avg_before']}->{x['load_avg_after']}",
                flush=True,
            )
        res["ratio"] = round(res["lwasr"]["audio_s_per_s"] / res["hf"]["audio_s_per_s"], 2)
        res["cpu_ratio"] = round(res["hf"]["cpu_s_per_audio_s"] / res["lwasr"]["cpu_s_per_audio_s"], 2)
        print(f"round {r} ratio lwasr/hf: {res['ratio']:.2f}x wall, {res['cpu_ratio']:.2f}x CPU time", flush=True)
        rounds.append(res)

    def med(system: str, key: str) -> float:
        return statistics.median(r[system][key] for r in rounds)

    summary = {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "threads": args.threads,
        "num_cuts": args.num_cuts,
        "audio_s": rounds[0]["lwasr"]["audio_s"],
        "rounds": rounds,
        "lwasr_audio_s_per_s": med("lwasr", "audio_s_per_s"),
        "hf_audio_s_per_s": med("hf", "audio_s_per_s"),
        "ratio_median": statistics.median(r["ratio"] for r in rounds),
        "cpu_ratio_median": statistics.median(r["cpu_ratio"] for r in rounds),
        "lwasr_peak_rss_mb": med("lwasr", "peak_rss_mb"),
        "hf_peak_rss_mb": med("hf", "peak_rss_mb"),
    }
    print()
    print(f"| system | audio-s/s (median of {len(rounds)}) | utt/s | CPU-s per audio-s | peak RSS (MB) |")
    print("|---|---|---|---|---|")
    for system in ("lwasr", "hf"):
        print(
            f"| {system} | {med(system, 'audio_s_per_s'):.2f} | {med(system, 'utt_per_s'):.2f} |"
            f" {med(system, 'cpu_s_per_audio_s'):.2f} | {med(system, 'peak_rss_mb'):.0f} |"
        )
    print(
        f"ratio lwasr/hf (median of per-round ratios): {summary['ratio_median']:.2f}x wall,"
        f" {summary['cpu_ratio_median']:.2f}x CPU time"
    )
    if args.json_out:
        args.json_out.write_text(json.dumps(summary, indent=1))
        print(f"wrote {args.json_out}")


if __name__ == "__main__":
    main()
