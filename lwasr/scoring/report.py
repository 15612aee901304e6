"""What ``lwasr score`` and ``lwasr score compare`` do: score, tabulate, update RESULTS.md, plot."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from lwasr.atomic import write_json, write_text
from lwasr.decoding.io import ERRORS_FILE
from lwasr.envinfo import provenance
from lwasr.errors import LwasrError
from lwasr.scoring.comparison import compare_systems
from lwasr.scoring.error_report import error_report
from lwasr.scoring.metrics import check_distinct, read_records, score_dir, score_dirs
from lwasr.scoring.normalizers import DEFAULT_NORMALIZER, get_normalizer
from lwasr.scoring.plot import plot_comparison
from lwasr.scoring.tables import (
    RESULTS_MD,
    comparison_table,
    detail_table,
    outlier_table,
    paired_table,
    provenance_block,
    system_names,
    update_results_md,
)


def score_and_report(
    decode_dir: str | Path,
    name: str | None = None,
    baseline_dir: str | Path | None = None,
    normalizer: str = DEFAULT_NORMALIZER,
) -> str:
    """Score ``decode_dir`` (results.json, and each utterance's alignment in errors.txt) and put its tables in
    ``<decode_dir>/../RESULTS.md``; return them."""
    get_normalizer(normalizer)  # an unknown name fails before any work
    decode_dir = Path(decode_dir)
    dirs = [decode_dir] if baseline_dir is None else [Path(baseline_dir), decode_dir]
    names = system_names(dirs, None)
    if name:
        names[-1] = name
    results = {names[0]: score_dirs(dirs[:1], normalizer)} if baseline_dir is not None else {}
    results[names[-1]] = score_dir(decode_dir, normalizer)
    write_text(decode_dir / ERRORS_FILE, error_report(read_records([decode_dir]), normalizer))
    body = (
        f"## {names[-1]}: {decode_dir.name}\n\n"
        + provenance_block(provenance(decode_devices(dirs)), normalizer=normalizer)
        + "\n"
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
    normalizer: str = DEFAULT_NORMALIZER,
    resamples: int = 1000,
) -> tuple[str, Path, Path]:
    """A comparison section of the Markdown file ``out`` (returned), with its PNG chart and JSON (``out`` with
    suffix .png and .json) beside it.

    Decode dirs given the same name in ``names`` make one system: its parts, or its seeds
    (:mod:`lwasr.scoring.comparison`). Every dir is scored afresh; one that is unfinished or damaged, or given
    twice, is an error.
    """
    get_normalizer(normalizer)
    out = Path(out)
    if out.suffix in (".json", ".png"):
        raise LwasrError(f"--out {out}: name the Markdown file (e.g. table.md); its .json and .png go beside it")
    check_distinct(decode_dirs)
    labels = system_names(decode_dirs, names)
    groups: dict[str, list[Path]] = {}
    for label, d in zip(labels, decode_dirs, strict=True):
        groups.setdefault(label, []).append(Path(d))
    data = compare_systems(groups, baseline=baseline, normalizer=normalizer, resamples=resamples)
    data = {"title": title, "provenance": provenance(decode_devices(decode_dirs)), **data}
    systems = data["systems"]
    sections = [
        provenance_block(data["provenance"], normalizer=normalizer),
        comparison_table(systems, baseline),
        "Robust summary: Avg w/o worst is the macro average without the system's worst language (named).",
    ]
    if baseline is not None and len(systems) > 1:
        sections.append(
            f"Against {baseline}: paired bootstrap over utterances within each language (and over seeds),"
            f" {resamples} resamples, 95% intervals; negative = fewer errors; P(better) = probability of"
            " improvement. Languages: relative change.\n\n" + paired_table(systems, baseline)
        )
    pooled = ", summed over seeds" if any(r["seeds"] > 1 for r in systems.values()) else ""
    sections.append(
        f"Outliers per language{pooled}: utterances above 100% error / ending in a repetition loop"
        " (an n-gram repeated 4 times or more).\n\n" + outlier_table(systems)
    )
    body = (f"## {title}\n\n" if title else "") + "\n".join(s.rstrip("\n") + "\n" for s in sections)
    json_path = out.with_suffix(".json")
    write_json(json_path, data)
    # a section of its own, first in the file: RESULTS.md keeps the per-decode sections `lwasr score` put there
    update_results_md(out, "comparison", body, top=True)
    png = plot_comparison(systems, out.with_suffix(".png"), title)
    return body, png, json_path


def decode_devices(decode_dirs: Sequence[str | Path]) -> str:
    """The devices the decodes ran on (their ``summary.json``), e.g. ``cuda`` or ``cpu, cuda``."""
    from lwasr.decoding.io import read_summary

    return ", ".join(sorted({str(read_summary(d).get("device") or "unknown") for d in decode_dirs}))
