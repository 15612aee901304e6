"""Markdown results tables (ESPnet style) and the experiment's RESULTS.md.

The comparison table has one row per system and one column per language (WER, or CER where the
language needs it), then the macro average, its relative change against a named baseline
(negative = better) and, for language-agnostic decodes, the LID accuracy.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lwasr.atomic import write_text
from lwasr.errors import LwasrError
from lwasr.scoring.metrics import metric_name

RESULTS_MD = "RESULTS.md"


def system_names(decode_dirs: Sequence[str | Path], names: Sequence[str] | None = None) -> list[str]:
    """``--name`` values, or names derived from ``exp/<tag>/decode_<set>``.

    The name is ``<tag>``, or ``<tag>/<set>`` when tags alone are not unique.
    """
    if names:
        if len(names) != len(decode_dirs):
            raise LwasrError(f"{len(names)} --name given for {len(decode_dirs)} decode dirs")
        return list(names)
    paths = [Path(d).resolve() for d in decode_dirs]
    short = [p.parent.name or p.name for p in paths]
    if len(set(short)) == len(short):
        return short
    return [f"{p.parent.name}/{p.name.removeprefix('decode_')}" for p in paths]


def relative_change(value: float | None, baseline: float | None) -> str:
    """``-12.3%`` style relative change (empty when undefined)."""
    if value is None or not baseline:
        return ""
    return f"{100.0 * (value - baseline) / baseline:+.1f}%"


def comparison_table(results: dict[str, dict[str, Any]], baseline: str | None = None) -> str:
    """Markdown table: systems x languages, average, relative change vs ``baseline``, LID accuracy."""
    if baseline is not None and baseline not in results:
        raise LwasrError(f"baseline {baseline!r} is not one of the systems: {', '.join(results)}")
    langs = sorted({lang for r in results.values() for lang in r["languages"]})
    with_lid = any(r.get("lid_accuracy") is not None for r in results.values())
    header = ["System", *(f"{lang} ({metric_name(lang)})" for lang in langs), "Avg"]
    if baseline:
        header.append(f"Rel. vs {baseline}")
    if with_lid:
        header.append("LID acc")
    base_avg = results[baseline]["macro_average"] if baseline else None
    rows = []
    for name, r in results.items():
        cells = [name, *(_rate(r["languages"].get(lang)) for lang in langs), _num(r["macro_average"])]
        if baseline:
            cells.append("(baseline)" if name == baseline else relative_change(r["macro_average"], base_avg))
        if with_lid:
            cells.append(_num(r.get("lid_accuracy")))
        rows.append(cells)
    return _markdown([header, *rows])


def detail_table(results: dict[str, Any]) -> str:
    """Markdown table of one decode: per language #utts, #units, Sub, Del, Ins and the error rate."""
    header = ["Lang", "Metric", "#Utt", "#Units", "Sub", "Del", "Ins", "Err"]
    rows = [
        [lang, v["metric"], v["utterances"], v["ref_units"], v["sub"], v["del"], v["ins"], _num(v["rate"])]
        for lang, v in results["languages"].items()
    ]
    return _markdown([header, *rows])


def update_results_md(path: str | Path, key: str, body: str, *, top: bool = False) -> Path:
    """Put ``body`` in ``path`` under a section keyed by ``key``: replaced if present, else appended (or, with
    ``top``, put right after the file's title line)."""
    path = Path(path)
    start, end = f"<!-- lwasr score: {key} -->", f"<!-- end: {key} -->"
    section = f"{start}\n{body.rstrip()}\n{end}\n"
    text = path.read_text(encoding="utf-8") if path.is_file() else "# Results\n"
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end) + r"\n?", re.S)
    if pattern.search(text):
        text = pattern.sub(lambda _: section, text)
    elif top:
        title, _, rest = text.partition("\n")
        text = title + "\n\n" + section + ("\n" + rest.lstrip("\n") if rest.strip() else "")
    else:
        text = text.rstrip("\n") + "\n\n" + section
    write_text(path, text)
    return path


def _rate(entry: dict[str, Any] | None) -> str:
    return _num(entry["rate"]) if entry else "-"


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _markdown(rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(map(str, r)) + " |" for r in rows]
    lines.insert(1, "|" + "|".join("---" if i == 0 else "---:" for i in range(len(rows[0]))) + "|")
    return "\n".join(lines) + "\n"
