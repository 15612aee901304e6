"""GPU training throughput of a LoRA Whisper expert: tokens/s, MFU estimate and peak memory.

Standalone: needs only torch, transformers and peft (no lwasr, no lhotse, no weights, no data), so it runs
on a GPU machine that has nothing else. The model is a randomly initialised Whisper of a real shape
(large-v3 by default: d_model 1280, 32 + 32 layers, 20 heads, 128 mels, vocab 51866); speed and memory do
not depend on the weights' values. The training step is lwasr's (lwasr/training/loop.py):

- LoRA from lwasr's defaults: rank 32, alpha 64, dropout 0.05, on q_proj, k_proj, v_proj, out_proj, fc1,
  fc2 of every encoder and decoder layer (PEFT), Whisper frozen;
- float32 weights, bf16 autocast (lwasr's ``bf16: true``), SDPA attention, summed cross-entropy in float32
  divided by the token count, AdamW (lr 1e-3), gradient clipping at 1.0;
- ``trimmed`` input: the encoder sees only the batch's frames (clip seconds x 100), its positional
  embedding sliced to match (lwasr.models.trim, copied here); ``untrimmed``: padded to 3000 frames (30 s),
  as stock transformers requires.

Each (input, batch size) is timed over ``--steps`` steps after ``--warmup`` steps. Reported: audio-s/s
(real clip seconds, not padding), decoder tokens/s, encoder positions/s, step time, achieved TFLOP/s and
MFU (achieved / the GPU's dense bf16 peak; the FLOPs are counted analytically: forward 2*params*tokens for
every matmul plus attention, backward once more for the input gradients of the frozen weights and twice
for the LoRA weights), and peak memory (torch.cuda.max_memory_allocated; on CPU the process's max RSS).
An out-of-memory batch size is reported as OOM and the sweep goes on.

Usage (GPU):
  python bench/gpu_train.py                                   # large-v3, batch 8..128, trimmed + untrimmed
  python bench/gpu_train.py --shape small --batch-sizes 16,64,256 --clip-seconds 4 --text-tokens 32
  python bench/gpu_train.py --grad-checkpointing --batch-sizes 64,128,256 --json-out gpu_train.jsonl
Smoke test (CPU, tiny shape, a few seconds):
  python bench/gpu_train.py --smoke
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import sys
import time
import types
from typing import Any

import torch
from torch import nn

SHAPES: dict[str, dict[str, int]] = {
    # d_model, layers (encoder = decoder), heads, ffn, mels, vocab
    "large-v3": dict(d_model=1280, layers=32, heads=20, ffn=5120, mels=128, vocab=51866),
    "medium": dict(d_model=1024, layers=24, heads=16, ffn=4096, mels=80, vocab=51865),
    "small": dict(d_model=768, layers=12, heads=12, ffn=3072, mels=80, vocab=51865),
    "base": dict(d_model=512, layers=6, heads=8, ffn=2048, mels=80, vocab=51865),
    "tiny-test": dict(d_model=64, layers=2, heads=4, ffn=128, mels=80, vocab=51865),
}
LORA_TARGETS = ["q_proj", "k_proj", "v_proj", "out_proj", "fc1", "fc2"]  # lwasr's default
FULL_FRAMES = 3000  # 30 s of 10 ms frames
PEAK_BF16_TFLOPS = {"H100": 989.0, "H200": 989.0, "A100": 312.0, "L40S": 362.0, "A10": 125.0, "L4": 121.0}


def build_model(shape: dict[str, int], device: torch.device) -> nn.Module:
    """A randomly initialised WhisperForConditionalGeneration of ``shape`` (SDPA attention, no cache)."""
    from transformers import WhisperConfig, WhisperForConditionalGeneration

    config = WhisperConfig(
        vocab_size=shape["vocab"],
        num_mel_bins=shape["mels"],
        d_model=shape["d_model"],
        encoder_layers=shape["layers"],
        decoder_layers=shape["layers"],
        encoder_attention_heads=shape["heads"],
        decoder_attention_heads=shape["heads"],
        encoder_ffn_dim=shape["ffn"],
        decoder_ffn_dim=shape["ffn"],
        max_source_positions=1500,
        max_target_positions=448,
        use_cache=False,
    )
    config._attn_implementation = "sdpa"
    with device:
        model = WhisperForConditionalGeneration(config)
    return model


def _trimmed_forward(self: nn.Module, input_features: torch.Tensor, attention_mask: Any = None, **kwargs: Any) -> Any:
    """lwasr.models.trim: WhisperEncoder.forward without the 3000-frame check, positions sliced to the input."""
    from transformers.modeling_outputs import BaseModelOutput

    hidden = nn.functional.gelu(self.conv1(input_features))
    hidden = nn.functional.gelu(self.conv2(hidden)).permute(0, 2, 1)
    hidden = hidden + self.embed_positions.weight[: hidden.shape[1]]
    hidden = nn.functional.dropout(hidden, p=self.dropout, training=self.training)
    for layer in self.layers:
        hidden = layer(hidden, None)
    return BaseModelOutput(last_hidden_state=self.layer_norm(hidden))


def set_trimmed_input(model: nn.Module, enabled: bool) -> None:
    from transformers.models.whisper.modeling_whisper import WhisperEncoder

    encoder = next(m for m in model.modules() if isinstance(m, WhisperEncoder))
    if enabled:
        encoder.forward = types.MethodType(_trimmed_forward, encoder)
    elif "forward" in encoder.__dict__:
        del encoder.forward


def apply_lora(model: nn.Module, rank: int) -> nn.Module:
    from peft import LoraConfig, get_peft_model

    cfg = LoraConfig(r=rank, lora_alpha=2 * rank, lora_dropout=0.05, target_modules=list(LORA_TARGETS), bias="none")
    return get_peft_model(model, cfg)


def step_flops(shape: dict[str, int], batch: int, frames: int, dec_len: int, rank: int) -> float:
    """Analytic FLOPs of one LoRA training step (frozen base: forward + input-gradient backward)."""
    d, n_layers, ffn, mels, vocab = shape["d_model"], shape["layers"], shape["ffn"], shape["mels"], shape["vocab"]
    t_enc = frames // 2

    def lin(n_in: int, n_out: int, tokens: int) -> tuple[float, float]:
        """(frozen forward FLOPs, LoRA forward FLOPs) of one adapted linear layer over ``tokens``."""
        return 2.0 * n_in * n_out * tokens, 2.0 * rank * (n_in + n_out) * tokens

    frozen = lora = 0.0
    # encoder: conv front-end (frozen, below every LoRA layer: forward only), then layers
    conv = 2.0 * frames * mels * 3 * d + 2.0 * t_enc * d * 3 * d
    enc_layer = [lin(d, d, t_enc)] * 4 + [lin(d, ffn, t_enc), lin(ffn, d, t_enc)]
    enc_attn = 4.0 * t_enc * t_enc * d
    dec_layer = (
        [lin(d, d, dec_len)] * 4  # self-attention q, k, v, out
        + [lin(d, d, dec_len), lin(d, d, t_enc), lin(d, d, t_enc), lin(d, d, dec_len)]  # cross q, k, v, out
        + [lin(d, ffn, dec_len), lin(ffn, d, dec_len)]
    )
    dec_attn = 4.0 * dec_len * dec_len * d + 4.0 * dec_len * t_enc * d
    for layers, attn in ((enc_layer, enc_attn), (dec_layer, dec_attn)):
        frozen += n_layers * (sum(f for f, _ in layers) + attn)
        lora += n_layers * sum(lo for _, lo in layers)
    frozen += 2.0 * dec_len * d * vocab  # output projection (tied, frozen)
    # backward: input gradients through everything above the conv front-end; weight gradients for LoRA only
    return batch * (conv + 2.0 * frozen + 3.0 * lora)


def peak_tflops(device: torch.device, given: float | None) -> float | None:
    if given:
        return given
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    return next((v for k, v in PEAK_BF16_TFLOPS.items() if k in name), None)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def peak_mem_gb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**30
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def run_config(
    model: nn.Module, args: argparse.Namespace, shape: dict, device: torch.device, trimmed: bool, batch: int
):
    """Time ``args.steps`` training steps of one (input, batch size); returns a result dict."""
    set_trimmed_input(model, trimmed)
    clip_frames = int(round(args.clip_seconds * 100))
    clip_frames += clip_frames % 2
    frames = clip_frames if trimmed else FULL_FRAMES
    gen = torch.Generator(device="cpu").manual_seed(0)
    feats = torch.randn(batch, shape["mels"], frames, generator=gen).to(device)
    tokens = torch.randint(0, shape["vocab"] - 1000, (batch, args.text_tokens + 1), generator=gen).to(device)
    inputs, labels = tokens[:, :-1], tokens[:, 1:]
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-3, weight_decay=0.0)
    autocast = device.type == "cuda" and not args.no_bf16
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)

    def step() -> torch.Tensor:
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=autocast):
            logits = model(input_features=feats, decoder_input_ids=inputs).logits
        loss = nn.functional.cross_entropy(logits.float().transpose(1, 2), labels, reduction="sum")
        (loss / labels.numel()).backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
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
    flops = step_flops(shape, batch, frames, args.text_tokens, args.lora_rank)
    peak = peak_tflops(device, args.peak_tflops)
    achieved = flops / seconds / 1e12
    return {
        "input": "trimmed" if trimmed else "untrimmed",
        "batch": batch,
        "encoder_frames": frames,
        "step_s": round(seconds, 4),
        "audio_s_per_s": round(batch * args.clip_seconds / seconds, 1),
        "dec_tokens_per_s": round(batch * args.text_tokens / seconds, 1),
        "enc_positions_per_s": round(batch * frames // 2 / seconds, 1),
        "tflops": round(achieved, 2),
        "mfu": round(achieved / peak, 4) if peak else None,
        "peak_mem_gb": round(peak_mem_gb(device), 2),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--shape", choices=sorted(SHAPES), default="large-v3")
    p.add_argument("--batch-sizes", default="8,16,32,64,128")
    p.add_argument("--inputs", default="trimmed,untrimmed", help="trimmed, untrimmed or both (comma-separated)")
    p.add_argument("--clip-seconds", type=float, default=4.0, help="audio per clip (trimmed frames = x 100)")
    p.add_argument("--text-tokens", type=int, default=32, help="decoder length (prompt + text + end)")
    p.add_argument("--lora-rank", type=int, default=32)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--grad-checkpointing", action="store_true", help="non-reentrant activation checkpointing")
    p.add_argument("--no-bf16", action="store_true", help="float32 (no autocast)")
    p.add_argument("--peak-tflops", type=float, default=None, help="dense bf16 peak for MFU (default: by GPU name)")
    p.add_argument("--device", default="auto", choices=["auto", "cuda", "cpu"])
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    p.add_argument("--json-out", default=None, help="append one JSON line per configuration")
    p.add_argument("--smoke", action="store_true", help="tiny shape, batch 2, 2 steps: proves the script runs")
    args = p.parse_args()
    if args.smoke:
        args.shape, args.batch_sizes, args.steps, args.warmup = "tiny-test", "1,2", 2, 1
        args.threads = args.threads or 1
    if args.device == "auto":
        args.device = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    shape = SHAPES[args.shape]
    torch.manual_seed(0)
    t0 = time.perf_counter()
    model = apply_lora(build_model(shape, device), args.lora_rank)
    if args.grad_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    n_all = sum(p.numel() for p in model.parameters())
    n_train = sum(p.numel() for p in model.parameters() if p.requires_grad)
    import peft
    import transformers

    head = {
        "shape": args.shape,
        **shape,
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "peft": peft.__version__,
        "params_m": round(n_all / 1e6, 1),
        "lora_params_m": round(n_train / 1e6, 2),
        "bf16_autocast": device.type == "cuda" and not args.no_bf16,
        "grad_checkpointing": args.grad_checkpointing,
        "clip_seconds": args.clip_seconds,
        "text_tokens": args.text_tokens,
        "build_s": round(time.perf_counter() - t0, 1),
        "peak_tflops": peak_tflops(device, args.peak_tflops),
    }
    print(json.dumps(head), flush=True)
    rows = []
    for inp in [s.strip() for s in args.inputs.split(",") if s.strip()]:
        if inp not in ("trimmed", "untrimmed"):
            sys.exit(f"--inputs: unknown {inp!r}")
        for batch in [int(b) for b in args.batch_sizes.split(",")]:
            try:
                row = run_config(model, args, shape, device, inp == "trimmed", batch)
            except torch.cuda.OutOfMemoryError:
                row = {"input": inp, "batch": batch, "oom": True}
                model.zero_grad(set_to_none=True)
                torch.cuda.empty_cache()
            row = {"shape": args.shape, "grad_checkpointing": args.grad_checkpointing, **row}
            rows.append(row)
            print(json.dumps(row), flush=True)
            if args.json_out:
                with open(args.json_out, "a") as f:
                    f.write(json.dumps({**head, **row}) + "\n")
    print()
    print("| input | batch | step (s) | audio-s/s | dec tokens/s | enc positions/s | TFLOP/s | MFU | peak mem (GB) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        if r.get("oom"):
            print(f"| {r['input']} | {r['batch']} | OOM | | | | | | |")
            continue
        mfu = f"{100 * r['mfu']:.1f}%" if r["mfu"] is not None else "n/a"
        print(
            f"| {r['input']} | {r['batch']} | {r['step_s']:.3f} | {r['audio_s_per_s']:.0f}"
            f" | {r['dec_tokens_per_s']:.0f} | {r['enc_positions_per_s']:.0f} | {r['tflops']:.1f} | {mfu}"
            f" | {r['peak_mem_gb']:.2f} |"
        )


if __name__ == "__main__":
    main()
