"""`lwasr fuse`: fuse LoRA language experts into one adapter (issue #6)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from lwasr.cli.options import Settings, setup_logging, training_options
from lwasr.fusion.config import FuseConfig
from lwasr.fusion.methods import method_names, methods_help, systems


def check_method(value: str) -> str:
    """``--method`` must be a registered fusion method (read when the option is parsed, so a method registered
    after this module was imported is a choice too)."""
    if value not in method_names():
        raise typer.BadParameter(f"{value!r} is not one of {', '.join(map(repr, method_names()))}.")
    return value


def list_methods(value: bool) -> None:
    """``--list-methods``: every fusion system name the recipes accept, a tab, and its `lwasr fuse` options."""
    if value:
        for name, opts in systems().items():
            typer.echo(f"{name}\t{' '.join(opts)}")
        raise typer.Exit(0)


app = typer.Typer(
    name="fuse",
    subcommand_metavar="",
    help=(
        "Fuse LoRA language experts into ONE adapter for a chosen set of target languages (arXiv 2506.21555).\n\n"
        "Methods (--method):\n\n" + methods_help() + "\n\n"
        "Task arithmetic (sum, svd): --lambdas 0.2,0.4,0.6,0.8,1.0 --dev-cuts data/dev gives every expert weight λ"
        " (its whole update, scaled), λ chosen by the lowest dev loss; lwasr.json records the grid.\n\n"
        "Writes a PEFT adapter with lwasr.json to --out (atomically); --merge also writes --out/merged, a standalone"
        " Hugging Face model. --out must be new or an earlier `lwasr fuse` output, which is kept unless --overwrite;"
        " anything else there is refused. See docs/fusion.md.\n\n"
        "lwasr fuse --experts exp/t/experts --langs pl,pt --method learned --cuts data/train --dev-cuts data/dev"
        " --no-lang-token --out exp/t/fused_learned_agnostic"
    ),
)


def _floats(spec: str | None) -> list[float] | None:
    if spec is None:
        return None
    try:
        return [float(x) for x in spec.split(",") if x.strip()]
    except ValueError as e:
        raise typer.BadParameter(f"expected comma-separated numbers, got {spec!r}") from e


#: The training settings of --method learned that are options.
LEARNED_OPTIONS = (
    *("cuts", "dev_cuts", "lang_token", "trim_encoder_input", "max_duration", "lr", "max_steps", "num_epochs"),
    *("accum_grad", "num_workers", "resume", "gate", "gate_fn"),
)


@app.callback(invoke_without_command=True)
@training_options(FuseConfig, LEARNED_OPTIONS, passed=("experts", "merge"), required=("experts",))
def fuse(
    langs: Annotated[str, typer.Option("--langs", help="Target languages, comma-separated Whisper codes: pl,pt,it.")],
    out: Annotated[
        Path, typer.Option("--out", help="Output directory: new, or an earlier fuse output (kept unless --overwrite).")
    ],
    method: Annotated[
        str,
        typer.Option(
            "--method",
            callback=check_method,
            metavar=f"<{'|'.join(method_names())}>",
            help="Fusion method (see above).",
        ),
    ] = "sum",
    weights: Annotated[
        str | None, typer.Option("--weights", help="One weight per language, comma-separated: 0.5,0.5.")
    ] = None,
    lambdas: Annotated[
        str | None,
        typer.Option(
            "--lambdas",
            help="sum, svd: task arithmetic, weight λ for every expert, λ chosen from this grid (e.g."
            " 0.2,0.4,0.6,0.8,1.0) by the lowest dev loss on --dev-cuts.",
        ),
    ] = None,
    rank: Annotated[int | None, typer.Option("--rank", help="svd: rank of the fused adapter.")] = None,
    density: Annotated[
        float, typer.Option("--density", help="ties/dare: fraction of factor entries kept, in (0, 1].")
    ] = 0.5,
    seed: Annotated[int, typer.Option("--seed", help="dare: seed of the random drops.")] = 0,
    model: Annotated[
        str | None,
        typer.Option("--model", help="Base model (default: the one recorded in the experts' lwasr.json)."),
    ] = None,
    overwrite: Annotated[
        bool,
        typer.Option("--overwrite", help="Replace an earlier fuse output at --out (once the new one is complete)."),
    ] = False,
    list_methods: Annotated[
        bool,
        typer.Option(
            "--list-methods",
            callback=list_methods,
            is_eager=True,
            help="Print every fusion system name the recipes' --fusion-methods accept, with its lwasr fuse options,"
            " and exit.",
        ),
    ] = False,
    *,
    experts: str,
    merge: bool,
    settings: Settings,
) -> None:
    """Fuse the experts for --langs into one adapter (see `lwasr fuse --help` for the methods)."""
    from lwasr.fusion.run import plan, run
    from lwasr.langcodes import parse_langs

    setup_logging()
    settings.execute(
        lambda: plan(
            experts,
            parse_langs(langs),
            method,
            out,
            weights=_floats(weights),
            lambdas=_floats(lambdas),
            rank=rank,
            density=density,
            seed=seed,
            merge=merge,
            model=model,
            config=settings.config,
            train_overrides=settings.overrides(),
            overwrite=overwrite,
        ),
        run,
    )
