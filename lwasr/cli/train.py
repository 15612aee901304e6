"""`lwasr train`: language experts and the shared-LoRA / full fine-tuning baselines."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Annotated

import typer

from lwasr.cli.options import TRAIN_OPTIONS, Settings, setup_logging, training_options
from lwasr.training.config import TrainConfig, help_of

HELP = (
    "Train language experts (one LoRA adapter per language, Whisper frozen) and the shared-LoRA and full"
    " fine-tuning baselines.\n\n"
    "lwasr train --mode expert --lang pl --cuts data/train --dev-cuts data/dev --exp-dir exp/base\n\n"
    "lwasr train experts --langs pl,pt,it --cuts data/train --dev-cuts data/dev --exp-dir exp/base\n\n"
    "lwasr train --mode shared --cuts data/train --exp-dir exp/base   (one LoRA on the pooled languages)\n\n"
    "lwasr train --mode full --cuts data/train --exp-dir exp/base   (full fine-tuning)\n\n"
    "lwasr train --mode shared --init-adapter exp/base/fused_svd --cuts data/train --exp-dir exp/base/fused_svd_ft"
    "   (fuse-then-fine-tune: the shared LoRA starts from a fused adapter)\n\n"
    "Settings: a YAML file (--config; default: the shipped lwasr/conf/train_<mode>.yaml), overridden by the"
    " options below, and --set key=value for any other setting (docs/training.md lists them).\n\n"
    "Outputs: exp/<tag>/experts/<lang>/ (PEFT adapter), exp/<tag>/shared/ (PEFT adapter), exp/<tag>/full/ (HF"
    " model dir), each with lwasr.json. Working files: exp/<tag>/train_<mode>[_<lang>]/ (config.yaml, train.log,"
    " checkpoints/, tensorboard/). An interrupted run resumes from its last checkpoint (with the same settings;"
    " --overwrite starts over); a finished model is skipped (--overwrite trains it again).\n\n"
    "Several GPUs: torchrun --nproc-per-node N -m lwasr train ... (DDP), or `train experts --jobs N`."
)

app = typer.Typer(name="train", help=HELP, invoke_without_command=True)

#: The options of ``lwasr train`` (one model): the mode and language, the training options and the warm start.
TRAIN_ONE_OPTIONS = ("mode", "lang", *TRAIN_OPTIONS, "init_adapter")


@app.callback()
@training_options(TrainConfig, TRAIN_ONE_OPTIONS)
def train_cmd(
    ctx: typer.Context,
    langs: Annotated[
        str | None,
        typer.Option("--langs", help=help_of(TrainConfig, "langs")),
    ] = None,
    *,
    settings: Settings,
) -> None:
    """Train one model: an expert (--mode expert --lang xx), the shared LoRA or a full fine-tune."""
    if ctx.invoked_subcommand is not None:
        return
    if not settings.given.get("cuts") and "mode" not in settings.given and settings.config is None:
        typer.echo(ctx.get_help())
        raise typer.Exit(0)
    from lwasr.langcodes import parse_langs
    from lwasr.training.loop import plan_train, train

    setup_logging()
    over = settings.overrides(langs=parse_langs(langs) if langs else None)
    settings.execute(lambda: plan_train(settings.config, over), train)


@app.command("experts")
@training_options(TrainConfig)
def experts_cmd(
    langs: Annotated[str, typer.Option("--langs", help="Comma-separated languages, one expert each.")],
    jobs: Annotated[
        int | None,
        typer.Option(
            "--jobs",
            help="Experts trained at once (default: one per visible GPU, 1 on CPU); each job gets its own GPU.",
        ),
    ] = None,
    *,
    settings: Settings,
) -> None:
    """Train the expert of every language in --langs (finished experts are skipped)."""
    from lwasr.langcodes import parse_langs
    from lwasr.loaders import register_all
    from lwasr.training.experts import train_experts
    from lwasr.training.loop import plan_train

    setup_logging()
    codes = parse_langs(langs)
    over = settings.overrides(mode="expert", lang=codes[0])
    run = functools.partial(train_experts, langs=codes, jobs=jobs, setup=register_all)
    settings.execute(lambda: plan_train(settings.config, over), run)


@app.command("pick")
def pick_cmd(
    candidates: Annotated[
        list[Path], typer.Argument(help="Trained units of one system (dirs with lwasr.json), e.g. one per lr.")
    ],
    out: Annotated[Path, typer.Option("--out", help="The link to write, e.g. exp/<tag>/shared.")],
) -> None:
    """Choose on dev: link --out to the candidate with the lowest best dev loss (lwasr.json's best_dev_loss).

    Writes <out>.selection.json with every candidate's dev loss. --out must be new or an earlier selection.
    The recipes' --lrs use it: lwasr train pick exp/t/lr1e-4/shared exp/t/lr1e-3/shared --out exp/t/shared
    """
    from lwasr.training.select import pick_lowest_dev_loss

    setup_logging()
    typer.echo(f"{out} -> {pick_lowest_dev_loss(candidates, out)}")
