"""Where zero-shot decoding spends its time (issue 29): lwasr's untrimmed float32 decode of whisper-base split into
feature extraction, encoder, decoder calls (the prompt call, which also computes the cross-attention keys and values,
and the one-token steps: self-attention, cross-attention, MLP, the rest of the layers) and the logits projection,
with what is left of the wall time counted as Python between the calls; and CTranslate2's split where its API
allows it (features, ``encode``, ``generate`` on the encoder output).

Usage (a few clips per language of the espeak8 test-first32 manifests, bench/decode_make_data.py --from-manifests):
  python bench/decode_make_data.py /tmp/zs/clips --from-manifests MANIFEST_DIR --per-lang 2 --langs pl,pt,...
  python bench/zeroshot_profile.py /tmp/zs/clips --threads 2 [--step-threads 1]

Timings come from forward hooks (``time.perf_counter``, CPU work is synchronous); the hooks themselves cost a few
microseconds per call, counted in the module they wrap. Prints one JSON line per engine and a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import torch
from decode_bench import ct2_model_dir, run_ct2

from lwasr.data.cuts import load_cuts
from lwasr.decoding.batching import utterances
from lwasr.decoding.search import DecodeOptions, decode_cuts
from lwasr.decoding.systems import load_system


class Timers:
    """Seconds and calls per named part, filled by forward hooks."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)

    def wrap(self, module: torch.nn.Module, name: str | callable) -> None:
        """Time every forward of ``module`` under ``name`` (or ``name(args)``, chosen per call)."""
        starts: list[tuple[str, float]] = []

        def pre(_m, args, kwargs):
            key = name(args, kwargs) if callable(name) else name
            starts.append((key, time.perf_counter()))

        def post(_m, _args, _kwargs, _out):
            key, start = starts.pop()
            self.seconds[key] += time.perf_counter() - start
            self.calls[key] += 1

        module.register_forward_pre_hook(pre, with_kwargs=True)
        module.register_forward_hook(post, with_kwargs=True)


def _call_kind(args, kwargs) -> str:
    ids = kwargs.get("input_ids", args[0] if args else None)
    return "decoder: prompt call" if ids.shape[1] > 1 else "decoder: one-token steps"


def profile_lwasr(cuts: Path, out: Path, step_threads: int | None) -> tuple[dict, list[dict]]:
    """lwasr's untrimmed float32 decode of the clips with every part timed; (row, records)."""
    from lwasr.decoding import decoder as decoder_module
    from lwasr.decoding.greedy import whisper_of
    from lwasr.decoding.io import HYP_FILE, read_hyps

    system = load_system("embedded:whisper-base")
    whisper = whisper_of(system.model)
    timers = Timers()
    timers.wrap(whisper.model.encoder, "encoder")
    timers.wrap(whisper.model.decoder, _call_kind)
    timers.wrap(whisper.proj_out, "logits projection")
    for layer in whisper.model.decoder.layers:
        timers.wrap(layer.self_attn, "  self-attention")
        timers.wrap(layer.encoder_attn, "  cross-attention")
        timers.wrap(layer.fc1, "  MLP")
        timers.wrap(layer.fc2, "  MLP")
    features = decoder_module.Decoder.features

    def timed_features(self, batch):
        start = time.perf_counter()
        try:
            return features(self, batch)
        finally:
            timers.seconds["features (audio + log-mel)"] += time.perf_counter() - start
            timers.calls["features (audio + log-mel)"] += 1

    decoder_module.Decoder.features = timed_features
    try:
        opts = DecodeOptions(trim=False, batch_size=16)
        summary = decode_cuts(system, [cuts], out, opts, step_threads=step_threads, progress=False)
    finally:
        decoder_module.Decoder.features = features
    name = f"lwasr float32, step threads {step_threads or 'as --threads'}"
    return _row(name, summary["decode_seconds"], timers), read_hyps(out / HYP_FILE)


def _row(engine: str, total: float, timers: Timers) -> dict:
    top = [k for k in timers.seconds if not k.startswith("  ")]
    parts = {k: round(timers.seconds[k], 3) for k in timers.seconds}
    parts["python between calls (rest)"] = round(total - sum(timers.seconds[k] for k in top), 3)
    return {"engine": engine, "seconds": round(total, 3), "parts": parts, "calls": dict(timers.calls)}


def profile_ct2(cuts: Path, threads: int, tmp: Path) -> tuple[dict, list[dict]]:
    """CTranslate2 float32, batch 1 (faster-whisper's default): features, ``encode``, ``generate``."""
    timers = Timers()
    total, records = run_ct2(ct2_model_dir(tmp), cuts, threads, 1, parts=timers.seconds)
    return _row("ct2 float32 batch 1", total, timers), records


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data", type=Path, help="dir made by bench/decode_make_data.py")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--step-threads", type=int, help="lwasr decode's --step-threads (default: --threads)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    cuts = args.data / "cuts.jsonl.gz"
    tmp = Path(tempfile.mkdtemp(prefix="lwasr_profile_"))
    audio = sum(u.duration for u in utterances(load_cuts([cuts], split=None)))
    load = [Path("/proc/loadavg").read_text().split()[:3]]
    lw, lw_records = profile_lwasr(cuts, tmp / "lwasr", args.step_threads)
    ct, ct_records = profile_ct2(cuts, args.threads, tmp)
    load.append(Path("/proc/loadavg").read_text().split()[:3])
    same = sum(
        a["hyp"] == b["hyp"]
        for a, b in zip(
            sorted(lw_records, key=lambda r: r["id"]), sorted(ct_records, key=lambda r: r["id"]), strict=True
        )
    )
    for row in (lw, ct):
        print(json.dumps(row))
    print(
        f"\n{len(lw_records)} clips, {audio:.1f} s of audio; load average before/after {load[0]} / {load[1]};"
        f" {same} of {len(lw_records)} hypotheses identical between the engines\n"
    )
    for row in (lw, ct):
        print(f"| {row['engine']} part | seconds | share | calls |\n|---|---:|---:|---:|")
        for part, seconds in row["parts"].items():
            share = 100 * seconds / row["seconds"]
            print(f"| {part} | {seconds:.2f} | {share:.1f}% | {row['calls'].get(part, '')} |")
        print(f"| **total** | {row['seconds']:.2f} | 100% | |\n")


if __name__ == "__main__":
    main()
