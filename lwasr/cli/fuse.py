"""`lwasr fuse`: fuse LoRA language experts into one adapter (issue #6)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from lwasr.cli.options import Settings, field_options, setup_logging, training_options
from lwasr.fusion.config import FuseConfig, FuseOptions
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


#: The training settings of --method learned that are options.
LEARNED_OPTIONS = (
    *("cuts", "dev_cuts", "lang_token", "trim_encoder_input", "max_duration", "lr", "max_steps", "num_epochs"),
    *("accum_grad", "num_workers", "resume", "gate", "gate_fn"),
)


#: The settings of fuse's own that are options (fields of FuseOptions), in the order of its help.
FUSE_OPTIONS = ("langs", "out", "method", "weights", "lambdas", "rank", "density", "seed", "model", "overwrite")


@app.callback(invoke_without_command=True)
@training_options(FuseConfig, LEARNED_OPTIONS, passed=("experts", "merge"), required=("experts",))
@field_options(FuseOptions, FUSE_OPTIONS, method={"callback": check_method, "metavar": f"<{'|'.join(method_names())}>"})
def fuse(
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
    values: dict[str, Any],
    experts: str,
    merge: bool,
    settings: Settings,
) -> None:
    """Fuse the experts for --langs into one adapter (see `lwasr fuse --help` for the methods)."""
    from lwasr.fusion.run import plan, run

    setup_logging()
    settings.execute(
        lambda: plan(experts, merge=merge, config=settings.config, train_overrides=settings.overrides(), **values),
        run,
    )
