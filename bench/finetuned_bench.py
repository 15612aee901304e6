"""Benchmark 3 (issue 17): decoding a fine-tuned model, lwasr against faster-whisper on the same weights.

What a user compares after fine-tuning: lwasr decoding its experts (or shared LoRA) as trained, with trimmed
encoder input, against the same weights exported with ``lwasr export --format ct2`` and run by faster-whisper
(``WhisperModel`` on CPU, greedy, language given, no VAD, no timestamps; faster-whisper pads every clip to
30 s), at float32 and at int8 (faster-whisper's usual CPU setting). Same clips, one process, the same thread
count; configurations run in the order listed, each ``--repeats`` times, the fastest counting. Model loading
and export are outside the timings; feature extraction is inside both.

    python bench/finetuned_bench.py --experts egs/espeak8/exp/espeak8_default/experts \
        --shared egs/espeak8/exp/espeak8_default/shared --manifests egs/espeak8/data/espeak8_default/manifests \
        --langs pl,it,pt,da --utts 10 --threads 2 --repeats 2

Prints one JSON line per configuration (seconds, utterances/s, real-time factor, macro WER, hypotheses that
differ from the first configuration's) and a Markdown table with each time's ratio to lwasr's.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch
from decode_bench import measure, run_lwasr  # bench/ is the script's own directory
from faster_whisper_greedy import GREEDY
from lhotse import CutSet

from lwasr.data.cuts import load_cuts
from lwasr.decoding.batching import utterances
from lwasr.decoding.options import DecodeOptions
from lwasr.decoding.systems import load_system
from lwasr.export.run import export


def first_cuts(manifests: Path, langs: list[str], n: int, out: Path) -> Path:
    """The first ``n`` test cuts of each language, as one manifest."""
    cuts = []
    for lang in langs:
        cuts += list(load_cuts([manifests / f"synth_{lang}_test_cuts.jsonl.gz"], split=None))[:n]
    path = out / "cuts.jsonl.gz"
    CutSet.from_cuts(cuts).to_file(path)
    return path


def run_faster_whisper(models: dict[str, Path], cuts: Path, compute_type: str, threads: int) -> tuple[float, list]:
    """faster-whisper on each language's exported model (loaded before the clock starts); (seconds, records)."""
    from faster_whisper import WhisperModel

    utts = utterances(load_cuts([cuts], split=None))
    loaded = {
        lang: WhisperModel(str(d), device="cpu", compute_type=compute_type, cpu_threads=threads, num_workers=1)
        for lang, d in models.items()
    }
    audio = {u.id: u.cut.load_audio()[0] for u in utts}
    records = []
    start = time.perf_counter()
    for u in utts:
        segments, _ = loaded[u.lang].transcribe(
            audio[u.id],
            language=u.lang,
            **GREEDY,
        )
        hyp = "".join(s.text for s in segments).strip()
        records.append({"id": u.id, "lang": u.lang, "ref": u.ref, "hyp": hyp})
    return time.perf_counter() - start, records


def exported(system_dir: Path, out: Path, quantization: str, langs: list[str], per_lang: bool) -> dict[str, Path]:
    """CTranslate2 exports of the system (one per expert, or one shared by every language)."""
    export(str(system_dir), out, "ct2", quantization=quantization, progress=False)
    return {lang: out / lang if per_lang else out for lang in langs}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--experts", type=Path, required=True, help="an experts dir (exp/<tag>/experts)")
    ap.add_argument("--shared", type=Path, help="a shared-LoRA unit (exp/<tag>/shared)")
    ap.add_argument("--manifests", type=Path, required=True, help="dir of synth_<lang>_test_cuts.jsonl.gz")
    ap.add_argument("--langs", default="pl,it,pt,da")
    ap.add_argument("--utts", type=int, default=10, help="test clips per language")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=2, help="runs per configuration; the fastest counts")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    langs = args.langs.split(",")
    tmp = Path(tempfile.mkdtemp(prefix="lwasr_bench_ft_"))
    cuts = first_cuts(args.manifests, langs, args.utts, tmp)
    audio = sum(u.duration for u in utterances(load_cuts([cuts], split=None)))
    opts = DecodeOptions(batch_size=16)
    systems = {"experts": (args.experts, True)}
    if args.shared:
        systems["shared"] = (args.shared, False)
    configs = {}
    for name, (path, per_lang) in systems.items():
        configs[f"lwasr {name} float32 (trimmed)"] = lambda p=path: run_lwasr(load_system(str(p)), cuts, opts, tmp)
        for ct in ("float32", "int8"):
            models = exported(path, tmp / f"{name}_{ct}", ct, langs, per_lang)
            configs[f"faster-whisper {name} {ct}"] = lambda m=models, c=ct: run_faster_whisper(m, cuts, c, args.threads)
        if not per_lang:
            configs[f"lwasr {name} int8 (trimmed)"] = lambda p=path: run_lwasr(  # a fresh load: int8 converts in place
                load_system(str(p)), cuts, DecodeOptions(batch_size=16, dtype="int8"), tmp
            )
    rows, first, lwasr_time = [], None, {}
    for name, fn in configs.items():
        row, first, seconds = measure(name, fn, args.repeats, audio, first)
        system = name.split()[1]
        if name.startswith("lwasr") and "float32" in name:
            lwasr_time[system] = seconds
        row["vs_lwasr_float32"] = round(seconds / lwasr_time[system], 2)
        print(json.dumps(row), flush=True)
        rows.append(row)
    keys = ("config", "seconds", "utt_per_s", "rtf", "wer", "vs_lwasr_float32", "hyps_differing_from_first")
    header = ["Configuration", "Time (s)", "Utt/s", "RTF", "Macro WER", "time / lwasr float32", "hyps differing"]
    print("\n| " + " | ".join(header) + " |\n|---|" + "---:|" * (len(header) - 1))
    for r in rows:
        print("| " + " | ".join(str(r[k]) for k in keys) + " |")


if __name__ == "__main__":
    main()
