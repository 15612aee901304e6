"""The prepared GPU benchmark (at most ~10 minutes on one GPU): LoRA training throughput, MFU and peak memory of
Whisper models in bfloat16, then decoding of a fine-tuned system by lwasr against faster-whisper on its CT2 export.

Needs torch, transformers and peft, plus lwasr's source tree (it imports only ``lwasr.models.trim``,
``lwasr.features``, ``lwasr.decoding.greedy`` and ``lwasr.training.scaler``, which need nothing more), so that it
runs on a GPU machine that has no lhotse, no data and no weights; faster-whisper is optional (its arm is skipped,
and says so, without it).

1. Training, per model of ``--models``: a shape name of bench/flops.py (``small``, ``large-v3``...: random weights
   of that shape, which is all that speed and memory depend on) or a local Hugging Face Whisper directory. lwasr's
   step (lwasr/training/loop.py): LoRA rank 32, alpha 64, on q, k, v, out, fc1, fc2 of every layer; float32
   weights and AdamW, bfloat16 autocast (``--precision``; float16 with lwasr's loss scaler on V100 or T4); trimmed
   encoder input (``lwasr.models.trim``); summed cross-entropy per token; clipping at 1.0. Per batch size: step
   time, audio-s/s, samples/s, achieved TFLOP/s, MFU (the FLOPs of bench/flops.py against the card's dense 16-bit
   peak, :data:`PEAK_TFLOPS` by device name, or ``--peak-tflops``) and peak memory
   (``torch.cuda.max_memory_allocated``; max RSS on CPU). An out-of-memory batch size is reported as OOM and the
   sweep goes on.
2. Decoding (``--decode-system DIR --decode-ct2 DIR``): a fine-tuned system as one Hugging Face model (``lwasr
   export --format hf``) and its CTranslate2 export (``lwasr export --format ct2``). The same clips (``--audio``
   wavs, or generated tone and noise) are decoded greedily with the language given, by lwasr's batched greedy
   search (trimmed input, KV cache) and by faster-whisper (``WhisperModel.transcribe``, one clip at a time, beam 1,
   no VAD, no timestamps), each loaded before the clock starts. Reported: seconds, audio-s/s, tokens/s, and the
   ratio.

Prints markdown for docs/performance.md (with the device's name and the versions).

GPU:  python bench/gpu_train.py --models small,large-v3 --decode-system exp/hf --decode-ct2 exp/ct2
CPU check (tests/test_bench_gpu_train.py): python bench/gpu_train.py --device cpu --models TINY_DIR --batch-sizes 1
      --steps 1 --warmup 0 --decode-system TINY_DIR --decode-ct2 TINY_CT2
"""

from __future__ import annotations

import argparse
import math
import resource
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parents[1]))
from faster_whisper_greedy import GREEDY  # noqa: E402
from flops import FRAMES_PER_SECOND, SHAPES, Shape, train_flops  # noqa: E402

from lwasr.decoding.greedy import GreedyRules, WhisperParts, forced_prompt, search  # noqa: E402
from lwasr.features import LogMel  # noqa: E402
from lwasr.models.trim import set_trimmed_input  # noqa: E402
from lwasr.precision_support import autocast_dtype  # noqa: E402
from lwasr.training.scaler import loss_scaler, optimizer_step  # noqa: E402

LORA_TARGETS = ["q_proj", "k_proj", "v_proj", "out_proj", "fc1", "fc2"]  # lwasr's default
#: Dense 16-bit tensor peaks (TFLOP/s, no sparsity) by a part of the device name; the SXM parts' figures. bfloat16
#: from Ampere on; V100 and T4 have float16 only.
PEAK_TFLOPS = {
    "H100": 989.0,
    "H200": 989.0,
    "A100": 312.0,
    "L40S": 362.0,
    "A10": 125.0,
    "L4": 121.0,
    "V100": 125.0,
    "T4": 65.0,
}
PRECISIONS = {name: autocast_dtype(name) for name in ("bfloat16", "float16", "float32")}  # lwasr train's precisions
SAMPLE_RATE = 16000


def build_model(spec: str, device: torch.device) -> nn.Module:
    """A Whisper of ``spec``: a bench/flops.py shape name (random weights) or a local Hugging Face directory."""
    from transformers import WhisperConfig, WhisperForConditionalGeneration

    if spec not in SHAPES:
        return WhisperForConditionalGeneration.from_pretrained(spec, attn_implementation="sdpa").to(device)
    config = WhisperConfig(**SHAPES[spec].config_kwargs(), use_cache=False, attn_implementation="sdpa")
    with device:
        return WhisperForConditionalGeneration(config)


def with_lora(model: nn.Module, rank: int) -> nn.Module:
    from peft import LoraConfig, get_peft_model

    config = LoraConfig(r=rank, lora_alpha=2 * rank, lora_dropout=0.05, target_modules=LORA_TARGETS, bias="none")
    return get_peft_model(model, config)


def device_name(device: torch.device) -> str:
    return torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"


def peak_tflops(device: torch.device, given: float | None) -> float | None:
    if given or device.type != "cuda":
        return given
    return next((v for k, v in PEAK_TFLOPS.items() if k in device_name(device)), None)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def peak_mem_gb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**30
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def time_training(model: nn.Module, args: argparse.Namespace, device: torch.device, batch: int) -> dict[str, Any]:
    """Time ``args.steps`` LoRA training steps at ``batch`` clips of ``args.clip_seconds``."""
    shape = Shape.of_config(model.config)
    frames = round(args.clip_seconds * FRAMES_PER_SECOND) // 2 * 2
    gen = torch.Generator().manual_seed(0)
    feats = torch.randn(batch, shape.mels, frames, generator=gen).to(device)
    tokens = torch.randint(0, shape.vocab - 1000, (batch, args.dec_len + 1), generator=gen).to(device)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=1e-4)
    autocast = PRECISIONS[args.precision]
    scaler = loss_scaler(autocast, device)  # float16 (GPUs without bfloat16): lwasr's loss scaling
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)

    def step() -> torch.Tensor:
        with torch.autocast(device.type, dtype=autocast or torch.bfloat16, enabled=autocast is not None):
            logits = model(input_features=feats, decoder_input_ids=tokens[:, :-1]).logits
        loss = nn.functional.cross_entropy(logits.float().transpose(1, 2), tokens[:, 1:], reduction="sum")
        scaler.scale(loss / tokens[:, 1:].numel()).backward()
        optimizer_step(scaler, optimizer, params, max_grad_norm=1.0)
        optimizer.zero_grad(set_to_none=True)
        return loss.detach()

    model.train()
    for _ in range(args.warmup):
        step()
    sync(device)
    start = time.perf_counter()
    for _ in range(args.steps):
        loss = step()
    sync(device)
    seconds = (time.perf_counter() - start) / args.steps
    if not math.isfinite(loss.item()):
        raise RuntimeError(f"loss is not finite: {loss.item()}")
    achieved = batch * train_flops(shape, frames, args.dec_len, args.lora_rank) / seconds / 1e12
    peak = peak_tflops(device, args.peak_tflops)
    return {
        "batch": batch,
        "step_s": seconds,
        "audio_s_per_s": batch * args.clip_seconds / seconds,
        "samples_per_s": batch / seconds,
        "tflops": achieved,
        "mfu": achieved / peak if peak else None,
        "peak_mem_gb": peak_mem_gb(device),
    }


def training_table(args: argparse.Namespace, device: torch.device) -> list[str]:
    lines = [
        "| model | batch | step (s) | audio-s/s | samples/s | achieved TFLOP/s | MFU | peak memory (GB) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for spec in args.models.split(","):
        torch.manual_seed(0)
        model = with_lora(build_model(spec, device), args.lora_rank)
        set_trimmed_input(model)
        name = spec if spec in SHAPES else Path(spec).name
        for batch in [int(b) for b in args.batch_sizes.split(",")]:
            try:
                r = time_training(model, args, device, batch)
            except torch.cuda.OutOfMemoryError:
                model.zero_grad(set_to_none=True)
                torch.cuda.empty_cache()
                lines.append(f"| {name} | {batch} | OOM | | | | | |")
                continue
            mfu = f"{r['mfu']:.1%}" if r["mfu"] is not None else "n/a"
            lines.append(
                f"| {name} | {batch} | {r['step_s']:.3f} | {r['audio_s_per_s']:.1f} | {r['samples_per_s']:.1f}"
                f" | {r['tflops']:.3g} | {mfu} | {r['peak_mem_gb']:.2f} |"
            )
            print(lines[-1], file=sys.stderr, flush=True)  # progress; the table comes at the end
        del model
        if device.type == "cuda":
            torch.cuda.empty_cache()
    return lines


def clips(args: argparse.Namespace) -> list[np.ndarray]:
    """The ``--audio`` wavs (16 kHz mono), or ``--clips`` generated tones in noise of ``--clip-seconds``."""
    if args.audio:
        import soundfile

        return [soundfile.read(p, dtype="float32")[0] for p in sorted(Path(args.audio).glob("*.wav"))]
    rng = np.random.default_rng(0)
    t = np.arange(int(args.clip_seconds * SAMPLE_RATE)) / SAMPLE_RATE
    return [
        (0.3 * np.sin(2 * np.pi * rng.uniform(150, 600) * t) + 0.05 * rng.standard_normal(t.size)).astype(np.float32)
        for _ in range(args.clips)
    ]


def lwasr_decode(args: argparse.Namespace, device: torch.device, audio: list[np.ndarray]) -> tuple[float, int]:
    """lwasr's batched greedy search on ``audio``; (seconds, tokens chosen)."""
    from transformers import WhisperForConditionalGeneration

    dtype = PRECISIONS[args.precision] if device.type == "cuda" else None
    model = WhisperForConditionalGeneration.from_pretrained(args.decode_system, attn_implementation="sdpa")
    model = model.to(device, dtype or torch.float32).eval()
    set_trimmed_input(model)
    parts, rules = WhisperParts.of(model), GreedyRules.of(model)
    logmel = LogMel(model.config.num_mel_bins).to(device)
    prompt = torch.tensor(forced_prompt(model.generation_config, args.lang), device=device)
    sync(device)
    start = time.perf_counter()
    tokens = 0
    with torch.inference_mode():
        for i in range(0, len(audio), args.decode_batch):
            chunk = audio[i : i + args.decode_batch]
            padded = torch.zeros(len(chunk), max(a.size for a in chunk))
            for row, a in enumerate(chunk):
                padded[row, : a.size] = torch.from_numpy(a)
            feats = logmel(padded.to(device), trim=True).to(dtype or torch.float32)
            prompts = prompt.expand(len(chunk), -1)
            found = search(parts, parts.encode(feats), prompts, rules, args.max_new_tokens)
            tokens += sum(len(f.tokens) for f in found)
    sync(device)
    return time.perf_counter() - start, tokens


def faster_whisper_decode(args: argparse.Namespace, device: torch.device, audio: list[np.ndarray]) -> tuple[float, int]:
    """faster-whisper on the CT2 export, one clip at a time; (seconds, tokens chosen)."""
    from faster_whisper import WhisperModel

    compute = args.precision if device.type == "cuda" else "float32"
    model = WhisperModel(args.decode_ct2, device=device.type, compute_type=compute)
    start = time.perf_counter()
    tokens = 0
    for a in audio:
        segments, _ = model.transcribe(
            a,
            language=args.lang,
            max_new_tokens=args.max_new_tokens,
            **GREEDY,
        )
        tokens += sum(len(s.tokens) for s in segments)
    return time.perf_counter() - start, tokens


def decoding_table(args: argparse.Namespace, device: torch.device) -> list[str]:
    audio = clips(args)
    seconds = sum(a.size for a in audio) / SAMPLE_RATE
    runs = {"lwasr (batched greedy, trimmed)": lwasr_decode(args, device, audio)}
    try:
        runs["faster-whisper (CT2 export)"] = faster_whisper_decode(args, device, audio)
    except ImportError:
        print("faster-whisper is not installed: its arm is skipped", file=sys.stderr)
    lines = [
        f"{len(audio)} clips, {seconds:.1f} s of audio, language {args.lang}, {args.precision} on"
        f" {device_name(device)}",
        "",
        "| decoder | seconds | audio-s/s | tokens/s | time / lwasr's |",
        "|---|---|---|---|---|",
    ]
    base = next(iter(runs.values()))[0]
    for name, (t, n) in runs.items():
        lines.append(f"| {name} | {t:.2f} | {seconds / t:.1f} | {n / t:.1f} | {t / base:.2f}× |")
    return lines


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", default="small,large-v3", help="shape names of bench/flops.py or local HF dirs")
    p.add_argument("--batch-sizes", default="8,32,64")
    p.add_argument("--clip-seconds", type=float, default=4.0, help="audio per training clip (and generated clip)")
    p.add_argument("--dec-len", type=int, default=32, help="decoder positions per training clip")
    p.add_argument("--lora-rank", type=int, default=32)
    p.add_argument("--precision", choices=sorted(PRECISIONS), default="bfloat16", help="CUDA; CPU trains float32")
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--peak-tflops", type=float, default=None, help="dense 16-bit peak for MFU (default: by GPU name)")
    p.add_argument("--device", default="auto", choices=["auto", "cuda", "cpu"])
    p.add_argument("--decode-system", default=None, help="a fine-tuned system as one HF model (lwasr export)")
    p.add_argument("--decode-ct2", default=None, help="its CTranslate2 export (lwasr export --format ct2)")
    p.add_argument("--audio", default=None, help="a directory of 16-kHz wavs to decode (default: generated clips)")
    p.add_argument("--clips", type=int, default=64, help="generated clips to decode")
    p.add_argument("--decode-batch", type=int, default=16)
    p.add_argument("--max-new-tokens", type=int, default=64)
    p.add_argument("--lang", default="pl")
    args = p.parse_args()
    device = torch.device(("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device)
    if device.type == "cpu":
        args.precision = "float32"  # bfloat16 on CPU is bench/machine_fraction.py's subject
    import peft
    import transformers

    print(f"## GPU benchmark: {device_name(device)}\n")
    print(f"torch {torch.__version__}, transformers {transformers.__version__}, peft {peft.__version__};", end=" ")
    print(f"{args.precision}, LoRA rank {args.lora_rank}, {args.clip_seconds} s clips, {args.dec_len} decoder", end="")
    print(f" positions, trimmed input; MFU against {peak_tflops(device, args.peak_tflops) or 'n/a'} TFLOP/s.\n")
    print("\n".join(training_table(args, device)))
    if args.decode_system:
        if not args.decode_ct2:
            sys.exit("--decode-system needs --decode-ct2 (its lwasr export --format ct2)")
        print()
        print("\n".join(decoding_table(args, device)))


if __name__ == "__main__":
    main()
