"""The ``lwasr`` command line. Each subcommand group lives in its own module and only parses and delegates."""

from __future__ import annotations

import sys

import typer

from lwasr.cli import decode, distill, env, expand, fuse, model, prepare, score, train
from lwasr.errors import LwasrError

app = typer.Typer(
    name="lwasr",
    help=(
        "Multilingual speech recognition with Whisper and per-language LoRA language experts.\n\n"
        "Typical flow: prepare -> train (experts and baselines) -> fuse / distill / expand -> decode -> score.\n"
        "Recipes in egs/<corpus>/run.sh chain these stages."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.command("env")(env.env)
app.command("lid-similarity")(expand.lid_similarity)
for module in (prepare, train, fuse, distill, expand, decode, score, model):
    app.add_typer(module.app)


def main() -> None:
    """Entry point of the ``lwasr`` console script: user errors become one clean line and exit status 2."""
    try:
        app()
    except LwasrError as e:
        typer.secho(f"error: {e}", fg=typer.colors.RED, err=True)
        sys.exit(2)
