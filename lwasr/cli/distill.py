"""`lwasr distill`: distill LoRA language experts into one student model (issue #6)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from lwasr.cli.train import (
    AccumOpt,
    ConfigOpt,
    CutsOpt,
    DevOpt,
    EpochsOpt,
    ExpOpt,
    LrOpt,
    MaxDurOpt,
    ModelOpt,
    OverwriteOpt,
    RankOpt,
    ResumeOpt,
    SetOpt,
    StepsOpt,
    TrimOpt,
    WorkersOpt,
    _logging,
    _overrides,
)

HELP = (
    "Distill the language experts into ONE student model for a set of target languages (arXiv 2506.21555).\n\n"
    "Teacher of an utterance of language L: base + expert_L, with the language token. Student: one LoRA adapter"
    " (--student lora, default) or the full model (--student full). Loss over the text + end positions, teacher"
    " forced on the reference: alpha*CE(labels) + (1-alpha)*tau^2*KL(teacher || student), defaults alpha 0.5,"
    " tau 2. --no-lang-token trains a language-agnostic student (its prompt has no language token; the teachers'"
    " always has; the two are aligned on the text positions).\n\n"
    "lwasr distill --teachers exp/t/experts --cuts data/train --dev-cuts data/dev --exp-dir exp/t\n\n"
    "lwasr distill --teachers exp/t/experts --cuts data/train --exp-dir exp/t --no-lang-token"
    " --init fused:exp/t/fused_sum --teacher-cache exp/t/teacher_cache\n\n"
    "--init: scratch (a fresh LoRA, or the base weights for --student full), fused:<dir> (a `lwasr fuse` output),"
    " shared:<dir> (the shared/full baseline of `lwasr train`), or any lwasr unit directory. A LoRA student keeps"
    " the rank and target modules of the unit it starts from.\n\n"
    "--teacher-cache DIR: run the teachers once, keep their top --cache-topk logits per text position on disk, and"
    " reuse them (other students, aware and agnostic, other alpha) instead of running the teachers every step."
    " Without it the teachers run on the fly with the full vocabulary.\n\n"
    "Settings as in `lwasr train` (the shipped train_shared.yaml / train_full.yaml, --config, options, --set)."
    " Outputs: <exp-dir>/<name>/ (PEFT adapter or HF model + lwasr.json; lang_token false for agnostic students),"
    " working files in <exp-dir>/train_<name>/. Resumable; a finished student is skipped. See docs/distillation.md."
)

app = typer.Typer(name="distill", help=HELP, invoke_without_command=True)


@app.callback()
def distill_cmd(
    ctx: typer.Context,
    teachers: Annotated[
        Path | None, typer.Option("--teachers", help="Experts directory (<dir>/<lang>/ adapters): the teachers.")
    ] = None,
    cuts: CutsOpt = None,
    dev_cuts: DevOpt = None,
    exp_dir: ExpOpt = None,
    name: Annotated[
        str | None,
        typer.Option(
            "--name", help="Student name: <exp-dir>/<name>/ (default distilled[_full]_aware or ..._agnostic)."
        ),
    ] = None,
    langs: Annotated[
        str | None, typer.Option("--langs", help="Target languages, comma-separated (default: all in --cuts).")
    ] = None,
    student: Annotated[str, typer.Option("--student", help="lora (one LoRA adapter) or full (every weight).")] = "lora",
    init: Annotated[
        str | None, typer.Option("--init", help="scratch (default), fused:<dir>, shared:<dir>, or a unit dir.")
    ] = None,
    alpha: Annotated[
        float | None, typer.Option("--alpha", help="Weight of the CE on the references (default 0.5).")
    ] = None,
    temperature: Annotated[
        float | None, typer.Option("--temperature", help="Softening temperature tau (default 2).")
    ] = None,
    lang_token: Annotated[
        bool,
        typer.Option(
            "--lang-token/--no-lang-token", help="Student prompt with the language token (aware) or without (agnostic)."
        ),
    ] = True,
    teacher_cache: Annotated[
        Path | None, typer.Option("--teacher-cache", help="Directory of cached top-k teacher logits (shared).")
    ] = None,
    cache_topk: Annotated[
        int | None, typer.Option("--cache-topk", help="Teacher logits kept per position in the cache (default 32).")
    ] = None,
    model: ModelOpt = None,
    config: ConfigOpt = None,
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
    """Distill the experts into one student (see `lwasr distill --help`)."""
    if ctx.invoked_subcommand is not None:
        return
    if teachers is None and not cuts:
        typer.echo(ctx.get_help())
        raise typer.Exit(0)
    from lwasr.distill.trainer import distill
    from lwasr.errors import LwasrError
    from lwasr.langcodes import parse_langs

    if student not in ("lora", "full"):
        raise LwasrError(f"--student must be lora or full, not {student!r}")
    _logging()
    default_name = "distilled" + ("_full" if student == "full" else "") + ("_aware" if lang_token else "_agnostic")
    over = _overrides(
        set_items,
        mode="full" if student == "full" else "shared",
        teachers=str(teachers) if teachers else None,
        cuts=cuts,
        dev_cuts=dev_cuts,
        exp_dir=str(exp_dir) if exp_dir else None,
        name=name or default_name,
        langs=parse_langs(langs) if langs else None,
        init=init,
        alpha=alpha,
        temperature=temperature,
        lang_token=lang_token,
        teacher_cache=str(teacher_cache) if teacher_cache else None,
        cache_topk=cache_topk,
        model=model,
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
    typer.echo(distill(config, over))
