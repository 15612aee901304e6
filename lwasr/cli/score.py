"""`lwasr score`: WER/CER of decodes, RESULTS.md tables, and comparisons of several systems."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import click
import typer
from typer.core import TyperGroup


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
        "Score decodes: per-language WER, or CER for zh/ja/th/lo/my/yue, after Whisper's BasicTextNormalizer;"
        " macro average; LID accuracy for agnostic decodes.\n\n"
        "`lwasr score exp/<tag>/decode_<set>` writes results.json there and a table to exp/<tag>/RESULTS.md.\n"
        "`lwasr score compare DIR... --baseline NAME --out table.md` tabulates and plots several systems."
    ),
    no_args_is_help=True,
)


@app.command("dir")
def score(
    decode_dir: Annotated[Path, typer.Argument(help="Decode dir holding hyp.jsonl (exp/<tag>/decode_<set>).")],
    name: Annotated[str | None, typer.Option("--name", help="System name (default: <tag> from the path).")] = None,
    baseline: Annotated[
        Path | None, typer.Option("--baseline", help="Decode dir of a baseline to put in the table, with rel. change.")
    ] = None,
) -> None:
    """Score one decode dir (the default: `lwasr score DIR` is `lwasr score dir DIR`)."""
    from lwasr.scoring.report import score_and_report

    typer.echo(score_and_report(decode_dir, name, baseline))


@app.command("compare")
def compare(
    decode_dirs: Annotated[list[Path], typer.Argument(help="Decode dirs to compare, one system each.")],
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            help="Markdown file for the table (its comparison section is replaced, or added first; other"
            " sections, e.g. those of `lwasr score`, stay); the PNG chart goes beside it.",
        ),
    ],
    baseline: Annotated[
        str | None, typer.Option("--baseline", help="Name of the system the relative change is taken against.")
    ] = None,
    names: Annotated[
        list[str] | None,
        typer.Option(
            "--name",
            help="System names, one per decode dir in order (repeat). Dirs given the same name are pooled into one"
            " system, e.g. one decode per new language.",
        ),
    ] = None,
    title: Annotated[str, typer.Option("--title", help="Title of the table and chart.")] = "",
) -> None:
    """Put several systems in one table (systems x languages, average, rel. change, LID) and one bar chart."""
    from lwasr.scoring.report import compare as run_compare

    table, png = run_compare(decode_dirs, out, names=names, baseline=baseline, title=title)
    typer.echo(table)
    typer.echo(f"wrote {out} and {png}")
