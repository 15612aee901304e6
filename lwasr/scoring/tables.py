"""Markdown results tables (ESPnet style) and the experiment's RESULTS.md.

The comparison table has one row per system and one column per language (WER, or CER where the
language needs it), then the macro average, the robust summary (the macro average without the system's
worst language), its relative change against a named baseline (negative = better; with ``score compare``,
with its 95% bootstrap interval) and, for language-agnostic decodes, the LID accuracy. ``score compare``
adds a table of paired differences per language and one of outliers. Every section starts with its
provenance (:func:`provenance_block`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lwasr.atomic import write_text
from lwasr.envinfo import PROVENANCE_PACKAGES
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
    """Markdown table: systems x languages, average (over a system's own languages: named where they are not all
    the table's), average without the worst language, relative change vs ``baseline`` (with its interval where a
    result carries ``vs_baseline``), LID accuracy; a seeds column (count and min-max of the average) when a
    system pools several seeds."""
    if baseline is not None and baseline not in results:
        raise LwasrError(f"baseline {baseline!r} is not one of the systems: {', '.join(results)}")
    langs = sorted({lang for r in results.values() for lang in r["languages"]})
    with_lid = any(r.get("lid_accuracy") is not None for r in results.values())
    with_seeds = any(r.get("seeds", 1) > 1 for r in results.values())
    header = ["System", *(["Seeds (avg min-max)"] if with_seeds else [])]
    header += [*(f"{lang} ({metric_name(lang)})" for lang in langs), "Avg", "Avg w/o worst"]
    if baseline:
        header.append(
            f"Rel. vs {baseline}" + (" [95% CI]" if any("vs_baseline" in r for r in results.values()) else "")
        )
    if with_lid:
        header.append("LID acc")
    base_avg = results[baseline]["macro_average"] if baseline else None
    rows = []
    for name, r in results.items():
        cells = [name, *([_seeds(r)] if with_seeds else [])]
        cells += [*(_rate(r["languages"].get(lang)) for lang in langs), _average(r, langs), _without_worst(r)]
        if baseline:
            if name == baseline:
                cells.append("(baseline)")
            elif "vs_baseline" in r:
                cells.append(relative_with_ci(r["vs_baseline"]["macro"]))
            else:
                cells.append(relative_change(r["macro_average"], base_avg))
        if with_lid:
            cells.append(_num(r.get("lid_accuracy")))
        rows.append(cells)
    return markdown_table([header, *rows])


def relative_with_ci(diff: dict[str, Any]) -> str:
    """``-5.2% [-11.0, +0.4]``: a relative change and its interval; the absolute one (``+1.20 [...] abs.``) when
    the baseline's error is 0 and a relative change is undefined."""
    if diff.get("rel") is None or diff.get("rel_ci") is None:
        return absolute_with_ci(diff) + " abs."
    low, high = diff["rel_ci"]
    return f"{diff['rel']:+.1f}% [{low:+.1f}, {high:+.1f}]"


def absolute_with_ci(diff: dict[str, Any]) -> str:
    """``-1.52 [-3.10, +0.08]``: an absolute change in points and its interval."""
    low, high = diff["abs_ci"]
    return f"{diff['abs']:+.2f} [{low:+.2f}, {high:+.2f}]"


def paired_table(systems: dict[str, dict[str, Any]], baseline: str) -> str:
    """Markdown table of each system against ``baseline`` (``score compare``'s ``vs_baseline``): the absolute
    change of the average, the probability of improvement, and the relative change per language."""
    langs = sorted(systems[baseline]["languages"])
    header = ["Comparison", "Avg: abs. [95% CI]", "P(better)", *(f"{lang} ({metric_name(lang)})" for lang in langs)]
    rows = []
    for name, r in systems.items():
        if "vs_baseline" in r:
            vs = r["vs_baseline"]
            cells = [f"{name} vs {baseline}", absolute_with_ci(vs["macro"]), f"{vs['macro']['p_improvement']:.3f}"]
            rows.append([*cells, *(relative_with_ci(vs["languages"][lang]) for lang in langs)])
    return markdown_table([header, *rows])


def outlier_table(systems: dict[str, dict[str, Any]]) -> str:
    """Markdown table, languages x systems: utterances above 100% error / ending in a repetition loop."""
    langs = sorted({lang for r in systems.values() for lang in r["languages"]})
    header = ["Lang", *systems]
    rows = [
        [lang, *(_outliers([r["languages"][lang]] if lang in r["languages"] else []) for r in systems.values())]
        for lang in langs
    ]
    rows.append(["all", *(_outliers(list(r["languages"].values())) for r in systems.values())])
    return markdown_table([header, *rows])


def provenance_block(info: dict[str, str], **extra: str) -> str:
    """Markdown list of what produced a section (:func:`lwasr.envinfo.provenance`, plus ``extra`` facts such
    as the normalizer)."""
    versions = ", ".join(f"{pkg} {info[pkg]}" for pkg in PROVENANCE_PACKAGES)
    facts = "; ".join(f"{k}: {v}" for k, v in {"device": info["device"], "date": info["date"], **extra}.items())
    lines = [f"- lwasr {info['lwasr']}, git {info['git']}; {versions}", f"- {facts}", f"- command: `{info['command']}`"]
    if info.get("recipe"):
        lines.append(f"- recipe: `{info['recipe']}`")
    return "\n".join(lines) + "\n"


def detail_table(results: dict[str, Any]) -> str:
    """Markdown table of one decode: per language #utts, #units, Sub, Del, Ins, the error rate, and the
    outliers (utterances above 100% error, utterances ending in a repetition loop)."""
    header = ["Lang", "Metric", "#Utt", "#Units", "Sub", "Del", "Ins", "Err", ">100%", "Loops"]
    rows = [
        [lang, v["metric"], v["utterances"], v["ref_units"], v["sub"], v["del"], v["ins"], _num(v["rate"])]
        + [v["over_100"], v["loops"]]
        for lang, v in results["languages"].items()
    ]
    return markdown_table([header, *rows])


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


def _seeds(r: dict[str, Any]) -> str:
    spread = r.get("seed_spread")
    return f"{r.get('seeds', 1)} ({spread['min']:.2f}-{spread['max']:.2f})" if spread else str(r.get("seeds", 1))


def _average(r: dict[str, Any], langs: Sequence[str]) -> str:
    """The macro average, with its languages named where they are not all of ``langs`` (``12.34 (pl only)``):
    averages over different languages are not comparable."""
    own = sorted(r["languages"])
    return _num(r["macro_average"]) + ("" if own == list(langs) else f" ({', '.join(own)} only)")


def _without_worst(r: dict[str, Any]) -> str:
    value = r.get("macro_without_worst")
    return "-" if value is None else f"{value:.2f} ({r['worst_language']})"


def _outliers(entries: list[dict[str, Any]]) -> str:
    if not entries:
        return "-"
    return f"{sum(e['over_100'] for e in entries)} / {sum(e['loops'] for e in entries)}"


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def markdown_table(rows: list[list[Any]]) -> str:
    """A Markdown table: the first row is the header; columns after the first are right-aligned."""
    lines = ["| " + " | ".join(map(str, r)) + " |" for r in rows]
    lines.insert(1, "|" + "|".join("---" if i == 0 else "---:" for i in range(len(rows[0]))) + "|")
    return "\n".join(lines) + "\n"
