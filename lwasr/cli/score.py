"""`lwasr score`: WER/CER of decodes, RESULTS.md tables, and comparisons of several systems."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import click
import typer
from typer.core import TyperGroup

from lwasr.scoring.normalizers import DEFAULT_NORMALIZER, NORMALIZERS


class _ScoreGroup(TyperGroup):
    """`lwasr score DIR` runs the default `dir` command; `lwasr score compare ...` the comparison."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ctx.help_option_names:
            args = ["dir", *args]
        return super().parse_args(ctx, args)


app = typer.Typer(
    name="score",
    cls=_ScoreGroup,
    help=(
        "Score decodes: per-language WER, or CER for zh/ja/th/lo/my/yue, after a normalizer (by default Whisper's"
        " BasicTextNormalizer); macro average, and without the worst language; outliers; LID accuracy for"
        " agnostic decodes.\n\n"
        "`lwasr score exp/<tag>/decode_<set>` writes results.json there and a table to exp/<tag>/RESULTS.md.\n"
        "`lwasr score compare DIR... --baseline NAME --out table.md` tabulates and plots several systems, with"
        " paired bootstrap intervals against the baseline (table.json keeps them).\n"
        "`lwasr score sweep A.json B.json --x 4 --x 8 --system experts_aware --out sweep.md` follows systems across"
        " experiments that differ in one setting (their change against the baseline, with intervals), as a table and"
        " a chart.\n"
        "Only finished decodes are scored: an unfinished one, or a damaged or short hyp.jsonl, is an error."
    ),
    no_args_is_help=True,
)

Resamples = Annotated[int, typer.Option("--resamples", help="Bootstrap resamples for the 95% intervals (fixed seed).")]
Normalizer = Annotated[
    str,
    typer.Option(
        "--normalizer",
        help=f"Text normalizer: {' | '.join(NORMALIZERS)}. whisper-basic: Whisper's BasicTextNormalizer, what the"
        " papers use; it turns combining marks into spaces, which splits Devanagari, Thai... words into letters."
        " basic-keep-marks: the same, marks kept. none: the text as written, whitespace collapsed.",
    ),
]


@app.command("dir")
def score(
    decode_dir: Annotated[Path, typer.Argument(help="Decode dir holding hyp.jsonl (exp/<tag>/decode_<set>).")],
    name: Annotated[str | None, typer.Option("--name", help="System name (default: <tag> from the path).")] = None,
    baseline: Annotated[
        Path | None, typer.Option("--baseline", help="Decode dir of a baseline to put in the table, with rel. change.")
    ] = None,
    normalizer: Normalizer = DEFAULT_NORMALIZER,
) -> None:
    """Score one decode dir (the default: `lwasr score DIR` is `lwasr score dir DIR`)."""
    from lwasr.scoring.report import score_and_report

    typer.echo(score_and_report(decode_dir, name, baseline, normalizer))


@app.command("compare")
def compare(
    decode_dirs: Annotated[list[Path], typer.Argument(help="Decode dirs to compare, one system each.")],
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            help="Markdown file for the table (its comparison section is replaced, or added first; other"
            " sections, e.g. those of `lwasr score`, stay); the PNG chart and the JSON (scores and intervals)"
            " go beside it (table.md -> table.png, table.json).",
        ),
    ],
    baseline: Annotated[
        str | None,
        typer.Option(
            "--baseline", help="Name of the system the others are compared with (paired bootstrap intervals)."
        ),
    ] = None,
    names: Annotated[
        list[str] | None,
        typer.Option(
            "--name",
            help="System names, one per decode dir in order (repeat). Dirs given the same name make one system:"
            " dirs with disjoint utterances are its parts (e.g. one decode per new language), dirs with the same"
            " utterances its seeds (pooled: mean, spread, interval over utterances and seeds).",
        ),
    ] = None,
    title: Annotated[str, typer.Option("--title", help="Title of the table and chart.")] = "",
    normalizer: Normalizer = DEFAULT_NORMALIZER,
    resamples: Resamples = 1000,
) -> None:
    """Put several systems in one table (systems x languages, average, rel. change with its interval, LID), a
    table of paired differences and one of outliers, a bar chart with error bars, and a JSON of it all."""
    from lwasr.scoring.report import compare as run_compare

    table, png, data = run_compare(
        decode_dirs, out, names=names, baseline=baseline, title=title, normalizer=normalizer, resamples=resamples
    )
    typer.echo(table)
    typer.echo(f"wrote {out}, {png} and {data}")


@app.command("sweep")
def sweep(
    comparisons: Annotated[
        list[Path],
        typer.Argument(help="The JSON (or .md) of each experiment's `score compare --baseline`, in sweep order."),
    ],
    out: Annotated[
        Path, typer.Option("--out", help="Markdown file for the table; its PNG chart and JSON go beside it.")
    ],
    xs: Annotated[
        list[str],
        typer.Option("--x", help="The swept setting's value of each comparison, in order (repeat), e.g. --x 4 --x 8."),
    ],
    systems: Annotated[
        list[str], typer.Option("--system", help="A system to follow across the sweep (repeat), e.g. experts_aware.")
    ],
    xlabel: Annotated[str, typer.Option("--xlabel", help="What the sweep varies, e.g. 'LoRA rank'.")] = "setting",
    title: Annotated[str, typer.Option("--title", help="Title of the table and chart.")] = "",
) -> None:
    """Follow systems across experiments that differ in one setting: their relative change against the baseline
    (macro average and per language, with the paired 95% intervals each `score compare` stored), as one table and
    one chart against the setting. Example: the capacity study, experts vs shared LoRA at LoRA rank 4, 8 and 32
    (egs/espeak8/local/capacity.sh)."""
    from lwasr.scoring.sweep import sweep as run_sweep

    table, png, data = run_sweep(comparisons, out, xs=xs, systems=systems, xlabel=xlabel, title=title)
    typer.echo(table)
    typer.echo(f"wrote {out}, {png} and {data}")


@app.command("interaction")
def interaction(
    decode_dirs: Annotated[
        list[Path],
        typer.Argument(
            help="Four decode dirs of the same utterances: a system and its baseline under the first condition,"
            " then the same two under the second (e.g. experts and shared LoRA on the original base, then on the"
            " adapted one)."
        ),
    ],
    out: Annotated[Path, typer.Option("--out", help="Markdown file for the table; its JSON goes beside it.")],
    names: Annotated[
        list[str] | None, typer.Option("--name", help="The four systems' names, in order (repeat).")
    ] = None,
    title: Annotated[str, typer.Option("--title", help="Title of the table.")] = "",
    normalizer: Normalizer = DEFAULT_NORMALIZER,
    resamples: Resamples = 1000,
) -> None:
    """The interaction of a 2x2 comparison: each condition's gap (system against its baseline) and how much the
    gap changes from the first condition to the second, with paired bootstrap intervals over the same utterances."""
    from lwasr.scoring.interaction import report_interaction

    table, data = report_interaction(
        decode_dirs, out, names=names, title=title, normalizer=normalizer, resamples=resamples
    )
    typer.echo(table)
    typer.echo(f"wrote {out} and {data}")
