"""`lwasr decode`: decode manifests with a base, fine-tuned, shared-LoRA or language-expert system."""

from __future__ import annotations

import functools
from typing import Any

import typer

from lwasr.cli.plan_options import plan_options, plan_then_run
from lwasr.decoding.command import DecodeConfig
from lwasr.decoding.options import DecodeOptions

app = typer.Typer(
    name="decode",
    subcommand_metavar="",
    help=(
        "Decode manifests with a system: `embedded:whisper-base` (zero-shot), a full fine-tune or a LoRA unit"
        " (model dir with lwasr.json), a directory of language experts (exp/<tag>/experts), or a router unit (the"
        " experts, routed by a learned language classifier in the agnostic scenario: `lwasr router`).\n\n"
        "Writes <out>/hyp.jsonl, <out>/text and <out>/summary.json; an interrupted decode resumes."
        " See docs/decoding.md."
    ),
    no_args_is_help=True,
)


#: The options of `lwasr decode`, in the order of its help (fields of DecodeConfig or DecodeOptions).
DECODE_OPTIONS = (
    "system",
    "cuts",
    "out",
    "scenario",
    "agnostic_out",
    "beam_size",
    "model",
    "max_duration",
    "batch_size",
    "trim",
    "lid_langs",
    "routing",
    "lid_system",
    "soft_top_k",
    "dtype",
    "temperatures",
    "compression_ratio_threshold",
    "logprob_threshold",
    "no_speech_threshold",
    "fallback_seed",
    "device",
    "num_threads",
    "step_threads",
    "overwrite",
)


@app.callback(invoke_without_command=True)
@plan_options(DECODE_OPTIONS, DecodeConfig, DecodeOptions)
def decode(values: dict[str, Any], print_config: bool) -> None:
    """Decode --cuts with --system into --out."""
    from lwasr.decoding.command import plan, run
    from lwasr.loaders import load_system

    line = plan_then_run(plan, functools.partial(run, load_system=load_system), print_config, **values)
    if line is not None:
        typer.echo(line)
