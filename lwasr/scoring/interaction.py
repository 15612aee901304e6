"""What ``lwasr score interaction`` computes: how a gap between two systems changes from one condition to another
(a 2x2 design, e.g. experts against shared LoRA on the original and on an adapted base), with paired bootstrap
intervals over the same test utterances (:func:`lwasr.scoring.bootstrap.interaction`)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lwasr.atomic import write_json, write_text
from lwasr.envinfo import provenance
from lwasr.errors import LwasrError
from lwasr.scoring.bootstrap import SEED, Bootstrap, interaction, paired
from lwasr.scoring.comparison import check_paired, lang_counts, rounded, score_system
from lwasr.scoring.report import decode_devices
from lwasr.scoring.tables import provenance_block

#: The roles of the four decode dirs, in the order they are given.
ROLES = ("first", "first_baseline", "second", "second_baseline")


def score_interaction(
    dirs: Sequence[Path], names: Sequence[str] | None = None, *, normalizer: str, resamples: int = 1000
) -> dict[str, Any]:
    """The two gaps (``first`` against ``first_baseline``, ``second`` against ``second_baseline``) and their
    difference, from four decode dirs of the same test utterances, in :data:`ROLES` order."""
    if len(dirs) != 4:
        raise LwasrError(f"score interaction takes 4 decode dirs ({', '.join(ROLES)}), got {len(dirs)}")
    names = list(names or [Path(d).name for d in dirs])
    if len(names) != 4 or len(set(names)) != 4:
        raise LwasrError(f"score interaction needs 4 distinct --name values, one per decode dir, got {names}")
    boot = Bootstrap(resamples)
    est = [boot.estimate(lang_counts(score_system(n, [Path(d)], normalizer))) for n, d in zip(names, dirs, strict=True)]
    for n, e in zip(names[1:], est[1:], strict=True):
        check_paired(n, e, names[0], est[0])
    return rounded({
        "normalizer": normalizer,
        "bootstrap": {"resamples": resamples, "seed": SEED, "confidence": 95},
        "systems": {n: {"role": r, "decode_dir": str(d), "macro_average": e.macro, "languages": e.rates}
                    for n, r, d, e in zip(names, ROLES, dirs, est, strict=True)},
        "first_gap": {"system": names[0], "baseline": names[1], **paired(est[1], est[0])},
        "second_gap": {"system": names[2], "baseline": names[3], **paired(est[3], est[2])},
        "interaction": interaction(est[1], est[0], est[3], est[2]),
    })  # fmt: skip


def _pct(d: dict[str, Any], key: str, unit: str) -> str:
    value, ci = d.get(key), d.get(f"{key}_ci")
    if value is None:
        return "-"
    span = f" [{ci[0]:+.1f}, {ci[1]:+.1f}]" if ci else ""
    return f"{value:+.1f}{unit}{span}"


def interaction_table(result: dict[str, Any], title: str) -> str:
    """Markdown: the four systems' averages, then each gap and the interaction (macro and per language)."""
    systems = result["systems"]
    langs = sorted(next(iter(systems.values()))["languages"])
    lines = [f"## {title}" if title else "## Interaction", "", "| system | role | " + " | ".join(langs) + " | Avg |",
             "|---|---|" + "---:|" * (len(langs) + 1)]  # fmt: skip
    for name, s in systems.items():
        cells = " | ".join(f"{s['languages'][lang]:.2f}" for lang in langs)
        lines.append(f"| {name} | {s['role']} | {cells} | {s['macro_average']:.2f} |")
    lines += ["", "| gap (relative change, 95% CI) | " + " | ".join(langs) + " | Avg |",
              "|---|" + "---:|" * (len(langs) + 1)]  # fmt: skip
    rows = (
        (f"{result['first_gap']['system']} vs {result['first_gap']['baseline']}", result["first_gap"], "rel", "%"),
        (f"{result['second_gap']['system']} vs {result['second_gap']['baseline']}", result["second_gap"], "rel", "%"),
        ("interaction: second gap minus first (pp of relative change)", result["interaction"], "rel", " pp"),
        ("interaction in absolute error-rate points", result["interaction"], "abs", ""),
    )
    for label, d, key, unit in rows:
        cells = " | ".join(_pct(d["languages"][lang], key, unit) for lang in langs)
        lines.append(f"| {label} | {cells} | **{_pct(d['macro'], key, unit)}** |")
    p = result["interaction"]["macro"]["p_second_smaller"]
    lines += ["", f"Share of bootstrap replicates in which the second gap is the smaller (macro): {p}."]
    return "\n".join(lines) + "\n"


def report_interaction(
    dirs: Sequence[Path], out: Path, *, names: Sequence[str] | None, title: str, normalizer: str, resamples: int
) -> tuple[str, Path]:
    """Write the interaction table to ``out`` (Markdown) and its JSON beside it; return the table and JSON path."""
    if out.suffix == ".json":
        raise LwasrError(f"--out {out}: name the Markdown file (e.g. table.md); its .json goes beside it")
    result = score_interaction(dirs, names, normalizer=normalizer, resamples=resamples)
    result = {"title": title, "provenance": provenance(decode_devices(dirs)), **result}
    table = interaction_table(result, title)
    data = out.with_suffix(".json")
    write_text(out, table + "\n" + provenance_block(result["provenance"], normalizer=normalizer))
    write_json(data, result)
    return table, data
