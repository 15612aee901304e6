"""`lwasr distill`: distill LoRA language experts into one student model (issue #6)."""

from __future__ import annotations

from typing import Annotated

import typer

from lwasr.cli.options import TRAIN_OPTIONS, Settings, setup_logging, training_options
from lwasr.distill.config import STUDENT_HELP, DistillConfig
from lwasr.training.config import help_of

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

app = typer.Typer(name="distill", help=HELP, invoke_without_command=True, subcommand_metavar="")


#: The options of ``lwasr distill``: the training options and the distillation's own settings.
DISTILL_OPTIONS = (*TRAIN_OPTIONS, "teachers", "init", "alpha", "temperature", "teacher_cache", "cache_topk", "name")


@app.callback()
@training_options(DistillConfig, DISTILL_OPTIONS)
def distill_cmd(
    ctx: typer.Context,
    langs: Annotated[str | None, typer.Option("--langs", help=help_of(DistillConfig, "langs"))] = None,
    student: Annotated[str, typer.Option("--student", help=STUDENT_HELP)] = "lora",
    *,
    settings: Settings,
) -> None:
    """Distill the experts into one student (see `lwasr distill --help`)."""
    if ctx.invoked_subcommand is not None:
        return
    if not settings.given.get("teachers") and not settings.given.get("cuts"):
        typer.echo(ctx.get_help())
        raise typer.Exit(0)
    from lwasr.distill.config import student_mode
    from lwasr.distill.trainer import plan_distill, run_distill
    from lwasr.langcodes import parse_langs

    setup_logging()
    over = settings.overrides(mode=student_mode(student), langs=parse_langs(langs) if langs else None)
    settings.execute(lambda: plan_distill(settings.config, over), run_distill)
