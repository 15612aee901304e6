"""One comparison across a sweep: a system against the baseline in several ``score compare`` results.

A sweep is a series of experiments that differ in one setting (LoRA rank, data size, ...), each compared by
``lwasr score compare --baseline``. This module collects, for every experiment, the paired relative change of
the named systems against that experiment's baseline (macro average and per language, with the 95% bootstrap
interval ``score compare`` stored in its JSON), and writes it as one Markdown table and one chart: the relative
difference with its interval against the swept setting.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lwasr.atomic import write_json
from lwasr.errors import LwasrError
from lwasr.scoring.metrics import metric_name
from lwasr.scoring.plot import save_chart
from lwasr.scoring.tables import markdown_table, relative_with_ci, update_results_md


def load_comparison(path: str | Path) -> dict[str, Any]:
    """The JSON ``score compare`` wrote (``table.json`` beside ``table.md``); a clear error for anything else."""
    path = Path(path)
    if path.suffix == ".md":
        path = path.with_suffix(".json")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise LwasrError(f"{path}: no such file; give the .json (or .md) that `lwasr score compare` wrote") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise LwasrError(f"{path}: not a readable `lwasr score compare` JSON ({e})") from None
    if not isinstance(data, dict) or not isinstance(data.get("systems"), dict):
        raise LwasrError(f"{path}: not a `lwasr score compare` JSON (no systems)")
    if not data.get("baseline"):
        raise LwasrError(f"{path}: compared without --baseline, so it holds no paired differences")
    data["path"] = str(path)
    return data


def collect(
    comparisons: Sequence[str | Path], xs: Sequence[str], systems: Sequence[str]
) -> dict[str, list[dict[str, Any]]]:
    """Per system, one point per comparison: ``x``, the baseline, ``macro`` and ``languages`` (the paired
    differences of ``score compare``). Every comparison must hold every system, compared with a baseline that
    has the same name in all of them."""
    if len(xs) != len(comparisons):
        raise LwasrError(f"{len(xs)} --x values given for {len(comparisons)} comparisons; give one per comparison")
    if len(set(xs)) != len(xs):
        raise LwasrError(f"--x values must differ, got {', '.join(xs)}")
    if not systems:
        raise LwasrError("name at least one --system to follow across the sweep")
    loaded = [load_comparison(c) for c in comparisons]
    baselines = {d["baseline"] for d in loaded}
    if len(baselines) > 1:
        raise LwasrError(f"the comparisons have different baselines ({', '.join(sorted(baselines))}); use one")
    series: dict[str, list[dict[str, Any]]] = {}
    for name in systems:
        points = []
        for x, data in zip(xs, loaded, strict=True):
            entry = data["systems"].get(name)
            if entry is None:
                raise LwasrError(f"{data['path']}: no system {name!r} (it has {', '.join(data['systems'])})")
            if "vs_baseline" not in entry:
                raise LwasrError(f"{data['path']}: {name!r} is the baseline; follow another system")
            vs = entry["vs_baseline"]
            points.append(
                {"x": x, "baseline": data["baseline"], "utterances": entry["utterances"], "seeds": entry["seeds"], **vs}
            )
        series[name] = points
    return series


def sweep_table(series: dict[str, list[dict[str, Any]]], xlabel: str) -> str:
    """Markdown table: one row per system and setting, the relative change of the macro average and of each
    language against the baseline, with the 95% intervals."""
    langs = sorted({lang for points in series.values() for p in points for lang in p["languages"]})
    baseline = next(iter(series.values()))[0]["baseline"]
    header = ["System", xlabel, f"Avg: rel. vs {baseline} [95% CI]", "P(better)", "Excludes 0"]
    header += [f"{lang} ({metric_name(lang)})" for lang in langs]
    rows = []
    for name, points in series.items():
        for p in points:
            m = p["macro"]
            cells = [name, p["x"], relative_with_ci(m), f"{m['p_improvement']:.3f}", _excludes_zero(m)]
            cells += [relative_with_ci(p["languages"][lang]) if lang in p["languages"] else "" for lang in langs]
            rows.append(cells)
    return markdown_table([header, *rows])


def plot_sweep(series: dict[str, list[dict[str, Any]]], out: str | Path, xlabel: str, title: str = "") -> Path:
    """PNG chart: the relative change of each system's macro average against the baseline, with its 95%
    interval as error bars, against the swept setting (categorical, in the order given)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.0, 4.0))
    offset = 0.08
    for k, (name, points) in enumerate(series.items()):
        xs = [i + (k - (len(series) - 1) / 2) * offset for i in range(len(points))]
        rels = [_relative(p["macro"]) for p in points]
        lows = [r - p["macro"]["rel_ci"][0] for r, p in zip(rels, points, strict=True)]
        highs = [p["macro"]["rel_ci"][1] - r for r, p in zip(rels, points, strict=True)]
        ax.errorbar(xs, rels, yerr=[lows, highs], marker="o", capsize=4, label=name)
    first = next(iter(series.values()))
    ax.set_xticks(range(len(first)), [p["x"] for p in first])
    ax.axhline(0.0, color="black", linewidth=0.8)
    baseline = first[0]["baseline"]
    ax.set_xlabel(xlabel)
    ax.set_ylabel(f"relative change of the average vs {baseline} (%)\nbelow 0: fewer errors than {baseline}")
    ax.set_title(title or f"against {baseline}, by {xlabel}")
    return save_chart(fig, ax, out)


def sweep(
    comparisons: Sequence[str | Path],
    out: str | Path,
    *,
    xs: Sequence[str],
    systems: Sequence[str],
    xlabel: str,
    title: str = "",
) -> tuple[str, Path, Path]:
    """Write the sweep's Markdown section to ``out`` (returned), its chart and JSON beside it (``.png``,
    ``.json``)."""
    out = Path(out)
    if out.suffix in (".json", ".png"):
        raise LwasrError(f"--out {out}: name the Markdown file (e.g. capacity.md); its .json and .png go beside it")
    series = collect(comparisons, xs, systems)
    sources = "\n".join(f"- {x}: `{c}`" for x, c in zip(xs, comparisons, strict=True))
    body = (f"## {title}\n\n" if title else "") + (
        f"Paired bootstrap intervals (95%) of each comparison, by {xlabel}; negative = fewer errors than the"
        " baseline. Languages: relative change.\n\n" + sweep_table(series, xlabel) + "\nComparisons:\n" + sources + "\n"
    )
    json_path = out.with_suffix(".json")
    write_json(
        json_path, {"title": title, "xlabel": xlabel, "comparisons": [str(c) for c in comparisons], "series": series}
    )
    update_results_md(out, "sweep", body, top=True)
    png = plot_sweep(series, out.with_suffix(".png"), xlabel, title)
    return body, png, json_path


def _relative(diff: dict[str, Any]) -> float:
    if diff.get("rel") is None:
        raise LwasrError("a baseline with no errors has no relative change; a sweep chart needs one")
    return float(diff["rel"])


def _excludes_zero(diff: dict[str, Any]) -> str:
    low, high = diff["rel_ci"] if diff.get("rel_ci") else diff["abs_ci"]
    if low > 0:
        return "yes: worse"
    if high < 0:
        return "yes: better"
    return "no"
