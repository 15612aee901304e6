"""What ``lwasr score`` and ``lwasr score compare`` do: score, tabulate, update RESULTS.md, plot."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from lwasr.scoring.metrics import load_results, score_dir, score_dirs
from lwasr.scoring.plot import plot_comparison
from lwasr.scoring.tables import RESULTS_MD, comparison_table, detail_table, system_names, update_results_md


def score_and_report(decode_dir: str | Path, name: str | None = None, baseline_dir: str | Path | None = None) -> str:
    """Score ``decode_dir`` (results.json) and put its tables in ``<decode_dir>/../RESULTS.md``; return them."""
    decode_dir = Path(decode_dir)
    dirs = [decode_dir] if baseline_dir is None else [Path(baseline_dir), decode_dir]
    names = system_names(dirs, None)
    if name:
        names[-1] = name
    results = {names[0]: load_results(dirs[0])} if baseline_dir is not None else {}
    results[names[-1]] = score_dir(decode_dir)
    body = (
        f"## {names[-1]}: {decode_dir.name}\n\n"
        + comparison_table(results, names[0] if baseline_dir is not None else None)
        + "\n"
        + detail_table(results[names[-1]])
    )
    update_results_md(decode_dir.resolve().parent / RESULTS_MD, decode_dir.name, body)
    return body


def compare(
    decode_dirs: Sequence[str | Path],
    out: str | Path,
    *,
    names: Sequence[str] | None = None,
    baseline: str | None = None,
    title: str = "",
) -> tuple[str, Path]:
    """One Markdown table (a section of ``out``; returned) and one PNG bar chart (``out`` with suffix .png).

    Decode dirs given the same name in ``names`` are pooled into one system (e.g. one decode per language).
    """
    labels = system_names(decode_dirs, names)
    groups: dict[str, list[Path]] = {}
    for label, d in zip(labels, decode_dirs, strict=True):
        groups.setdefault(label, []).append(Path(d))
    results = {label: load_results(ds[0]) if len(ds) == 1 else score_dirs(ds) for label, ds in groups.items()}
    out = Path(out)
    table = comparison_table(results, baseline)
    # a section of its own, first in the file: RESULTS.md keeps the per-decode sections `lwasr score` put there
    update_results_md(out, "comparison", (f"## {title}\n\n" if title else "") + table, top=True)
    png = plot_comparison(results, out.with_suffix(".png"), title)
    return table, png
