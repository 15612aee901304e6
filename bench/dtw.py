"""Word timestamps' dynamic time warping: lwasr's anti-diagonal numpy ``dtw`` against the cell-by-cell loop it
replaced (:func:`reference_dtw`, openai-whisper's ``dtw_cpu`` order without numba), on the cost shapes word timing
meets: tokens x encoder frames of a 30-s window (1,500 frames), at 20, 80 and 224 tokens (224: the most a window
decodes). Interleaved (reference, lwasr, reference, ...), the median of ``--reps`` of each; both must give the same
path (tests/test_word_timestamps.py checks that on random and tied costs). Printed: markdown for
docs/performance.md, with the CPU and the load.

Usage: python bench/dtw.py [--reps 5] [--frames 1500] [--tokens 20 80 224]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from agnostic_routing import cpu_model  # noqa: E402

from lwasr.decoding.word_timing import dtw  # noqa: E402


def reference_dtw(cost: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The path of :func:`lwasr.decoding.word_timing.dtw`, filled one cell at a time (the code it replaced)."""
    rows, cols = cost.shape
    total = np.full((rows + 1, cols + 1), np.inf, dtype=np.float64)
    trace = np.full((rows + 1, cols + 1), -1, dtype=np.int8)
    total[0, 0] = 0.0
    for j in range(1, cols + 1):
        for i in range(1, rows + 1):
            diagonal, up, left = total[i - 1, j - 1], total[i - 1, j], total[i, j - 1]
            if diagonal < up and diagonal < left:
                best, move = diagonal, 0
            elif up < diagonal and up < left:
                best, move = up, 1
            else:
                best, move = left, 2
            total[i, j] = cost[i - 1, j - 1] + best
            trace[i, j] = move
    trace[0, :] = 2
    trace[:, 0] = 1
    i, j = rows, cols
    path = []
    while i > 0 or j > 0:
        path.append((i - 1, j - 1))
        move = trace[i, j]
        if move == 0:
            i, j = i - 1, j - 1
        elif move == 1:
            i -= 1
        else:
            j -= 1
    steps = np.array(path[::-1])
    return steps[:, 0], steps[:, 1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--frames", type=int, default=1500)
    ap.add_argument("--tokens", type=int, nargs="+", default=[20, 80, 224])
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    load = os.getloadavg()
    print(f"CPU: {cpu_model()}, {os.cpu_count()} cores; load {load[0]:.2f} at start")
    print("\n| tokens x frames | cell-by-cell loop (s) | lwasr, anti-diagonal (s) | speed-up | same path |")
    print("|---|---:|---:|---:|---|")
    for tokens in args.tokens:
        cost = -rng.random((tokens, args.frames), dtype=np.float32)
        times: dict[str, list[float]] = {"reference": [], "lwasr": []}
        same = True
        for _ in range(args.reps):
            for name, fn in (("reference", reference_dtw), ("lwasr", dtw)):
                t0 = time.perf_counter()
                path = fn(cost)
                times[name].append(time.perf_counter() - t0)
                if name == "reference":
                    want = path
                else:
                    same &= all(np.array_equal(a, b) for a, b in zip(path, want, strict=True))
        ref, new = (statistics.median(times[k]) for k in ("reference", "lwasr"))
        print(f"| {tokens} x {args.frames} | {ref:.3f} | {new:.4f} | {ref / new:.1f}x | {'yes' if same else 'NO'} |")
    print(f"\nload at end {os.getloadavg()[0]:.2f}; median of {args.reps} interleaved runs each")


if __name__ == "__main__":
    main()
