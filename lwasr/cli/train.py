"""`lwasr train`: language experts and the shared-LoRA / full fine-tuning baselines."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated, Any

import typer

HELP = (
    "Train language experts (one LoRA adapter per language, Whisper frozen) and the shared-LoRA and full"
    " fine-tuning baselines.\n\n"
    "lwasr train --mode expert --lang pl --cuts data/train --dev-cuts data/dev --exp-dir exp/base\n\n"
    "lwasr train experts --langs pl,pt,it --cuts data/train --dev-cuts data/dev --exp-dir exp/base\n\n"
    "lwasr train --mode shared --cuts data/train --exp-dir exp/base   (one LoRA on the pooled languages)\n\n"
    "lwasr train --mode full --cuts data/train --exp-dir exp/base   (full fine-tuning)\n\n"
    "Settings: a YAML file (--config; default: the shipped lwasr/conf/train_<mode>.yaml), overridden by the"
    " options below, and --set key=value for any other setting (docs/training.md lists them).\n\n"
    "Outputs: exp/<tag>/experts/<lang>/ (PEFT adapter), exp/<tag>/shared/ (PEFT adapter), exp/<tag>/full/ (HF"
    " model dir), each with lwasr.json. Working files: exp/<tag>/train_<mode>[_<lang>]/ (config.yaml, train.log,"
    " checkpoints/, tensorboard/). An interrupted run resumes from its last checkpoint (with the same settings;"
    " --overwrite starts over); a finished model is skipped (--overwrite trains it again).\n\n"
    "Several GPUs: torchrun --nproc-per-node N -m lwasr train ... (DDP), or `train experts --jobs N`."
)

app = typer.Typer(name="train", help=HELP, invoke_without_command=True)

Manifests = list[Path] | None
CutsOpt = Annotated[
    Manifests,
    typer.Option(
        "--cuts", help="Training CutSet manifest(s) (.jsonl.gz) or directories of *cuts*.jsonl.gz; repeat for several."
    ),
]
DevOpt = Annotated[
    Manifests,
    typer.Option("--dev-cuts", help="Dev manifest(s) or directories: dev loss, best checkpoint, early stopping."),
]
ModelOpt = Annotated[
    str | None, typer.Option("--model", help="Base Whisper: embedded:whisper-base, a local HF model dir, or a hub id.")
]
ExpOpt = Annotated[Path | None, typer.Option("--exp-dir", help="Experiment directory exp/<tag>.")]
ConfigOpt = Annotated[Path | None, typer.Option("--config", help="YAML config (ESPnet style conf/*.yaml).")]
LangTokOpt = Annotated[
    bool | None,
    typer.Option(
        "--lang-token/--no-lang-token", help="Put <|lang|> in the decoder prompt (off: language-agnostic training)."
    ),
]
TrimOpt = Annotated[
    bool | None,
    typer.Option(
        "--trim-encoder-input/--no-trim-encoder-input",
        help="Feed the encoder only the batch's length instead of 30 s (default on).",
    ),
]
MaxDurOpt = Annotated[float | None, typer.Option("--max-duration", help="Seconds of audio per batch.")]
LrOpt = Annotated[float | None, typer.Option("--lr", help="Peak learning rate.")]
StepsOpt = Annotated[int | None, typer.Option("--max-steps", help="Optimizer steps (0: --num-epochs decide).")]
EpochsOpt = Annotated[int | None, typer.Option("--num-epochs", help="Epochs when --max-steps is 0.")]
AccumOpt = Annotated[int | None, typer.Option("--accum-grad", help="Batches per optimizer step.")]
RankOpt = Annotated[int | None, typer.Option("--lora-rank", help="LoRA rank (default 32).")]
WorkersOpt = Annotated[int | None, typer.Option("--num-workers", help="Data-loader worker processes.")]
ResumeOpt = Annotated[
    bool | None,
    typer.Option(
        "--resume/--no-resume",
        help="Continue from the last checkpoint (default), or discard checkpoints and start over (a finished"
        " model is still skipped). A resume with other settings than the checkpoint's is refused.",
    ),
]
OverwriteOpt = Annotated[
    bool | None,
    typer.Option(
        "--overwrite",
        help="Start over: discard the checkpoints and train again even if the model is finished (replaced at the end).",
    ),
]
SetOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--set", help="Any other setting as key=value (YAML value), e.g. --set speed_perturb=[0.9,1.1]; repeatable."
    ),
]


def _overrides(set_items: list[str] | None, **given: Any) -> dict[str, Any]:
    from lwasr.training.config import parse_override

    out = dict(parse_override(item) for item in set_items or [])
    out.update({k: (list(map(str, v)) if k in ("cuts", "dev_cuts") else v) for k, v in given.items() if v is not None})
    return out


def _logging() -> None:
    logging.basicConfig(level=logging.INFO, format="[lwasr] %(message)s")


@app.callback()
def train_cmd(
    ctx: typer.Context,
    mode: Annotated[
        str | None,
        typer.Option(
            "--mode",
            help="expert (one LoRA on one language, Whisper frozen),"
            " shared (one LoRA on the pooled languages) or full.",
        ),
    ] = None,
    lang: Annotated[str | None, typer.Option("--lang", help="The expert's language (mode expert).")] = None,
    langs: Annotated[
        str | None,
        typer.Option("--langs", help="shared/full: comma-separated languages to pool (default: all in the manifests)."),
    ] = None,
    cuts: CutsOpt = None,
    dev_cuts: DevOpt = None,
    model: ModelOpt = None,
    exp_dir: ExpOpt = None,
    config: ConfigOpt = None,
    lang_token: LangTokOpt = None,
    trim_encoder_input: TrimOpt = None,
    max_duration: MaxDurOpt = None,
    lr: LrOpt = None,
    max_steps: StepsOpt = None,
    num_epochs: EpochsOpt = None,
    accum_grad: AccumOpt = None,
    lora_rank: RankOpt = None,
    num_workers: WorkersOpt = None,
    resume: ResumeOpt = None,
    overwrite: OverwriteOpt = None,
    set_items: SetOpt = None,
) -> None:
    """Train one model: an expert (--mode expert --lang xx), the shared LoRA or a full fine-tune."""
    if ctx.invoked_subcommand is not None:
        return
    if not cuts and mode is None and config is None:
        typer.echo(ctx.get_help())
        raise typer.Exit(0)
    from lwasr.langcodes import parse_langs
    from lwasr.training.config import load_config
    from lwasr.training.loop import train

    _logging()
    over = _overrides(
        set_items,
        mode=mode,
        lang=lang,
        langs=parse_langs(langs) if langs else None,
        cuts=cuts,
        dev_cuts=dev_cuts,
        model=model,
        exp_dir=str(exp_dir) if exp_dir else None,
        lang_token=lang_token,
        trim_encoder_input=trim_encoder_input,
        max_duration=max_duration,
        lr=lr,
        max_steps=max_steps,
        num_epochs=num_epochs,
        accum_grad=accum_grad,
        lora_rank=lora_rank,
        num_workers=num_workers,
        resume=resume,
        overwrite=overwrite,
    )
    typer.echo(train(load_config(config, over)))


@app.command("experts")
def experts_cmd(
    langs: Annotated[str, typer.Option("--langs", help="Comma-separated languages, one expert each.")],
    cuts: CutsOpt = None,
    dev_cuts: DevOpt = None,
    model: ModelOpt = None,
    exp_dir: ExpOpt = None,
    config: ConfigOpt = None,
    lang_token: LangTokOpt = None,
    trim_encoder_input: TrimOpt = None,
    max_duration: MaxDurOpt = None,
    lr: LrOpt = None,
    max_steps: StepsOpt = None,
    num_epochs: EpochsOpt = None,
    accum_grad: AccumOpt = None,
    lora_rank: RankOpt = None,
    num_workers: WorkersOpt = None,
    resume: ResumeOpt = None,
    overwrite: OverwriteOpt = None,
    jobs: Annotated[
        int | None,
        typer.Option(
            "--jobs",
            help="Experts trained at once (default: one per visible GPU, 1 on CPU); each job gets its own GPU.",
        ),
    ] = None,
    set_items: SetOpt = None,
) -> None:
    """Train the expert of every language in --langs (finished experts are skipped)."""
    import os

    from lwasr.errors import LwasrError
    from lwasr.langcodes import parse_langs
    from lwasr.training.config import load_config
    from lwasr.training.experts import default_jobs, train_experts

    _logging()
    codes = parse_langs(langs)
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and (jobs or 1) > 1:
        raise LwasrError("--jobs > 1 cannot be combined with torchrun; under torchrun experts train one after another")
    over = _overrides(
        set_items,
        mode="expert",
        lang=codes[0],
        cuts=cuts,
        dev_cuts=dev_cuts,
        model=model,
        exp_dir=str(exp_dir) if exp_dir else None,
        lang_token=lang_token,
        trim_encoder_input=trim_encoder_input,
        max_duration=max_duration,
        lr=lr,
        max_steps=max_steps,
        num_epochs=num_epochs,
        accum_grad=accum_grad,
        lora_rank=lora_rank,
        num_workers=num_workers,
        resume=resume,
        overwrite=overwrite,
    )
    jobs = 1 if int(os.environ.get("WORLD_SIZE", "1")) > 1 else (jobs or default_jobs())
    for unit in train_experts(load_config(config, over), codes, jobs=jobs):
        typer.echo(unit)
