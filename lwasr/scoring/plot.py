"""Grouped bar chart of error rates: languages (and the average) on the x axis, one bar per system."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lwasr.atomic import atomic_path
from lwasr.scoring.metrics import metric_name


def plot_comparison(results: dict[str, dict[str, Any]], out: str | Path, title: str = "") -> Path:
    """Write a PNG bar chart of per-language error rates and the macro average for each system."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    langs = sorted({lang for r in results.values() for lang in r["languages"]})
    labels = [f"{lang}\n{metric_name(lang)}" for lang in langs] + ["avg"]
    width = 0.8 / max(len(results), 1)
    fig, ax = plt.subplots(figsize=(max(6.0, 1.1 * len(labels) * max(1, len(results)) ** 0.5), 4.0))
    for k, (name, r) in enumerate(results.items()):
        values = [r["languages"].get(lang, {}).get("rate", 0.0) for lang in langs] + [r["macro_average"] or 0.0]
        ax.bar([i + (k - (len(results) - 1) / 2) * width for i in range(len(labels))], values, width, label=name)
    ax.set_xticks(range(len(labels)), labels)
    ax.set_ylabel("error rate (%)")
    ax.set_title(title or "WER / CER by language")
    ax.legend(fontsize="small")
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    out = Path(out)
    with atomic_path(out) as tmp:
        fig.savefig(tmp, format="png", dpi=120)
    plt.close(fig)
    return out
