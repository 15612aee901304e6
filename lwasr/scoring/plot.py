"""Grouped bar chart of error rates: languages (and the average) on the x axis, one bar per system.

Results of ``score compare`` carry each system's own 95% bootstrap interval (``rate_ci``, ``macro_ci``:
utterances resampled within each language, and seeds when pooled; not paired with another system), drawn
as error bars.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lwasr.atomic import atomic_path
from lwasr.scoring.metrics import metric_name


def plot_comparison(results: dict[str, dict[str, Any]], out: str | Path, title: str = "") -> Path:
    """Write a PNG bar chart of per-language error rates and the macro average for each system, with error bars
    where the results carry intervals."""
    plt = pyplot()
    langs = sorted({lang for r in results.values() for lang in r["languages"]})
    labels = [f"{lang}\n{metric_name(lang)}" for lang in langs] + ["avg"]
    width = 0.8 / max(len(results), 1)
    fig, ax = plt.subplots(figsize=(max(6.0, 1.1 * len(labels) * max(1, len(results)) ** 0.5), 4.0))
    for k, (name, r) in enumerate(results.items()):
        values = [r["languages"].get(lang, {}).get("rate", 0.0) for lang in langs] + [r["macro_average"] or 0.0]
        cis = [r["languages"].get(lang, {}).get("rate_ci") for lang in langs] + [r.get("macro_ci")]
        xs = [i + (k - (len(results) - 1) / 2) * width for i in range(len(labels))]
        ax.bar(xs, values, width, label=name, yerr=_error_bars(values, cis), capsize=2)
    ax.set_xticks(range(len(labels)), labels)
    if any(r.get("macro_ci") for r in results.values()):
        ax.set_xlabel("error bars: each system's own 95% bootstrap interval (utterances, seeds resampled; not paired)")
    ax.set_ylabel("error rate (%)")
    ax.set_title(title or "WER / CER by language")
    return save_chart(fig, ax, out)


def _error_bars(values: list[float], cis: list[list[float] | None]) -> list[list[float]] | None:
    """Matplotlib's ``yerr`` (distances below and above each value) from intervals; None unless all have one."""
    if not all(cis):
        return None
    pairs = list(zip(values, cis, strict=True))
    return [[max(v - ci[0], 0.0) for v, ci in pairs], [max(ci[1] - v, 0.0) for v, ci in pairs]]


def pyplot() -> Any:
    """``matplotlib.pyplot`` on the file-only Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_chart(fig: Any, ax: Any, out: str | Path) -> Path:
    """Finish a chart (small legend, horizontal grid, tight layout) and write it to ``out`` as PNG, atomically."""
    import matplotlib.pyplot as plt

    ax.legend(fontsize="small")
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    out = Path(out)
    with atomic_path(out) as tmp:
        fig.savefig(tmp, format="png", dpi=120)
    plt.close(fig)
    return out
