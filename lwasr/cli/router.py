"""`lwasr router`: train and evaluate the learned router of language experts (issue #15)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from lwasr.cli.options import config_options, setup_logging
from lwasr.routing.config import RouterConfig

app = typer.Typer(
    name="router",
    help=(
        "A learned router for language-agnostic expert decoding: a small classifier (linear, or a two-layer MLP)"
        " on the mean-pooled states of the FROZEN base encoder, which picks each utterance's expert and prompt"
        " language. The base model's own language ID is often wrong on new speech (59% on espeak8, trimmed);"
        " the router learns the experts' languages from their training data.\n\n"
        "lwasr router train --experts exp/<tag>/experts --train data/<corpus>/manifests --dev"
        " data/<corpus>/manifests --out exp/<tag>/router\n\n"
        "lwasr decode --system exp/<tag>/router --scenario agnostic ...   (hard: the router's top-1 expert)\n\n"
        "lwasr decode --system exp/<tag>/router --scenario agnostic --soft-top-k 2 ...   (soft mixture)\n\n"
        "lwasr router eval --router exp/<tag>/router --cuts data/.../test_cuts.jsonl.gz\n\n"
        "See docs/decoding.md."
    ),
    no_args_is_help=True,
)

#: The settings `lwasr router eval` takes (the others are about training).
EVAL_OPTIONS = ("batch_size", "device")


@app.command("train")
@config_options(RouterConfig)
def train(
    experts: Annotated[Path, typer.Option("--experts", help="The experts dir it routes: <dir>/<lang>/ lora units.")],
    train_cuts: Annotated[
        list[Path],
        typer.Option(
            "--train", help="Training manifest(s), or dirs (their train split); repeat. The experts' languages, pooled."
        ),
    ],
    dev: Annotated[
        list[Path],
        typer.Option("--dev", help="Dev manifest(s), or dirs (their dev split): the step with the best accuracy."),
    ],
    out: Annotated[Path, typer.Option("--out", help="The router unit to write, e.g. exp/<tag>/router.")],
    model: Annotated[
        str | None, typer.Option("--model", help="Base model (default: the one in the experts' lwasr.json).")
    ] = None,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Train again over an earlier `lwasr router train` output.")
    ] = False,
    *,
    config: RouterConfig,
) -> None:
    """Compute the base encoder's pooled states of --train and --dev once (progress bars), train the classifier,
    keep its best step on --dev, and write a router unit (lwasr.json kind router, router.safetensors) that
    `lwasr decode --system` takes. Prints its dev LID accuracy against the base model's, on trimmed and 30-s
    input (also in its lwasr.json)."""
    from lwasr.routing.train import train_router

    setup_logging()
    typer.echo(train_router(experts, train_cuts, dev, out, config, model=model, overwrite=overwrite))


@app.command("eval")
@config_options(RouterConfig, EVAL_OPTIONS)
def evaluate(
    router: Annotated[Path, typer.Option("--router", help="A router unit (`lwasr router train --out`).")],
    cuts: Annotated[
        list[Path], typer.Option("--cuts", help="Manifest(s), or dirs (their test split), to identify; repeat.")
    ],
    out: Annotated[Path | None, typer.Option("--out", help="Also write the accuracies here (JSON).")] = None,
    model: Annotated[
        str | None, typer.Option("--model", help="Base model (default: the one in the router's lwasr.json).")
    ] = None,
    *,
    config: RouterConfig,
) -> None:
    """Language-ID accuracy of the router and of its base model on --cuts (overall and per language), on trimmed
    and on 30-s encoder input."""
    from lwasr.atomic import write_json
    from lwasr.routing.train import evaluate_router, summary_line

    setup_logging()
    accuracy = evaluate_router(router, cuts, config, model=model)
    if out is not None:
        write_json(out, accuracy)
    typer.echo(summary_line(accuracy))
