"""Benchmark: language-agnostic decoding of experts against aware decoding, before and after the regrouping of
utterances by routed expert across batches (issue 29, item 2).

Two worker processes, one per source tree (``--before``: lwasr as it was, e.g. ``git archive b95419a lwasr``
unpacked; ``--after``: this tree), each load the systems once; the parent sends them the configurations in turn,
interleaved (before, after, before, after...), so that a load drift hits both arms. Each timing is that of
``decode_cuts`` alone (models loaded, manifests read), into a fresh decode dir.

Configurations, all on the experts dir (hard routing, ``--routing group``, the experts' own trimmed input):

- ``aware``: the language given (the reference of the ratio);
- ``agnostic base LID``: the experts' base model identifies the language among the experts' (``--lid-langs``);
- ``agnostic --lid-system``: another model's LID (``--lid-system``, e.g. ``embedded:whisper-base``).

Usage (from the recipe dir, whose lwasr.json paths are relative; outputs under --work):

  mkdir -p /tmp/wt-route/before && git archive b95419a lwasr | tar -x -C /tmp/wt-route/before
  cd egs/espeak8 && python ../../bench/agnostic_routing.py --before /tmp/wt-route/before --after ../.. \\
      --work /tmp/wt-route/bench --experts exp/espeak8_base_adapted/experts --lid-system embedded:whisper-base \\
      --manifests data/espeak8_base/manifests --per-lang 8 --repeats 2 --threads 1

Prints one JSON line per run and a Markdown table (machine, load before and after, seconds per arm, ratio to
aware); the decode dirs of the last repeat stay under --work for ``lwasr score compare``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

LANGS = ("pl", "pt", "it", "zh", "da", "el", "cy", "ja")


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``)."""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown"


def loadavg() -> str:
    """The 1-, 5- and 15-minute load averages."""
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def first_cuts(manifests: Path, per_lang: int, out: Path) -> Path:
    """One manifest of the first ``per_lang`` cuts of each language's test-first32 manifest."""
    from lhotse import CutSet

    cuts = []
    for lang in LANGS:
        cuts += list(CutSet.from_file(manifests / f"synth_{lang}_test-first32_cuts.jsonl.gz"))[:per_lang]
    out.parent.mkdir(parents=True, exist_ok=True)
    CutSet.from_cuts(cuts).to_file(out)
    return out


def worker(args: argparse.Namespace) -> None:
    """Load the systems once, then decode each configuration named on stdin (one JSON line each)."""
    import torch

    from lwasr.decoding.search import DecodeOptions, decode_cuts
    from lwasr.loaders import load_system

    torch.set_num_threads(args.threads)
    experts = load_system(args.experts)
    lid = load_system(args.lid_system)
    langs = tuple(experts.languages)
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        job = json.loads(line)
        opts = DecodeOptions(scenario=job["scenario"], lid_langs=langs, lid_system=job.get("lid_system"))
        lid_system = lid if job.get("lid_system") else None
        start = time.perf_counter()
        summary = decode_cuts(experts, [job["cuts"]], job["out"], opts, lid_system=lid_system, progress=False)
        seconds = time.perf_counter() - start
        print(json.dumps({"seconds": round(seconds, 2), "utterances": summary["utterances"]}), flush=True)


class Worker:
    """A worker process on one source tree."""

    def __init__(self, tree: Path, args: argparse.Namespace) -> None:
        env = {**os.environ, "PYTHONPATH": str(tree), "OMP_NUM_THREADS": str(args.threads)}
        cmd = [sys.executable, __file__, "--worker", "--experts", args.experts, "--lid-system", args.lid_system]
        cmd += ["--threads", str(args.threads)]
        self.proc = subprocess.Popen(cmd, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self._read()

    def _read(self) -> dict[str, Any]:
        line = self.proc.stdout.readline()
        if not line:
            raise SystemExit(f"worker exited with {self.proc.wait()}")
        return json.loads(line)

    def run(self, **job: Any) -> dict[str, Any]:
        self.proc.stdin.write(json.dumps(job) + "\n")
        self.proc.stdin.flush()
        return self._read()

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait()


CONFIGS = {
    "aware": {"scenario": "aware"},
    "agnostic base LID": {"scenario": "agnostic"},
    "agnostic --lid-system": {"scenario": "agnostic", "lid_system": True},
}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--before", type=Path)
    p.add_argument("--after", type=Path)
    p.add_argument("--work", type=Path, default=Path("/tmp/wt-route/bench"))
    p.add_argument("--experts", default="exp/espeak8_base_adapted/experts")
    p.add_argument("--lid-system", default="embedded:whisper-base")
    p.add_argument("--manifests", type=Path, default=Path("data/espeak8_base/manifests"))
    p.add_argument("--per-lang", type=int, default=16)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    if args.worker:
        worker(args)
        return
    cuts = first_cuts(args.manifests, args.per_lang, args.work / "cuts.jsonl.gz")
    load_before = loadavg()
    arms = {"before": Worker(args.before, args), "after": Worker(args.after, args)}
    times: dict[tuple[str, str], list[float]] = {}
    try:
        for r in range(args.repeats):
            for name, config in CONFIGS.items():
                for arm, w in arms.items():
                    out = args.work / f"r{r}" / arm / name.replace(" ", "_").replace("-", "")
                    job = {"cuts": str(cuts), "out": str(out), "scenario": config["scenario"]}
                    if config.get("lid_system"):
                        job["lid_system"] = args.lid_system
                    res = w.run(**job)
                    times.setdefault((name, arm), []).append(res["seconds"])
                    print(json.dumps({"repeat": r, "config": name, "arm": arm, **res, "load": loadavg()}), flush=True)
    finally:
        for w in arms.values():
            w.close()
    load_after = loadavg()
    print(
        f"\n{cpu_model()}, {os.cpu_count()} cores, torch threads {args.threads}; load average (1, 5, 15 min)"
        f" {load_before} before, {load_after} after; {8 * args.per_lang} utterances ({args.per_lang} per language),"
        f" mean of {args.repeats} interleaved runs per arm\n"
    )
    print("| configuration | before (s) | after (s) | after: ratio to aware | before: ratio to aware | speed-up |")
    print("|---|---:|---:|---:|---:|---:|")
    mean = {k: sum(v) / len(v) for k, v in times.items()}
    for name in CONFIGS:
        b, a = mean[(name, "before")], mean[(name, "after")]
        ra, rb = a / mean[("aware", "after")], b / mean[("aware", "before")]
        print(f"| {name} | {b:.1f} | {a:.1f} | {ra:.2f} | {rb:.2f} | {b / a:.2f}x |")


if __name__ == "__main__":
    main()
