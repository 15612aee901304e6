"""`lwasr decode`: decode manifests with a base, fine-tuned, shared-LoRA or language-expert system."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from lwasr.cli import decode_options as opt

app = typer.Typer(
    name="decode",
    help=(
        "Decode manifests with a system: `embedded:whisper-base` (zero-shot), a full fine-tune or a LoRA unit"
        " (model dir with lwasr.json), a directory of language experts (exp/<tag>/experts), or a router unit (the"
        " experts, routed by a learned language classifier in the agnostic scenario: `lwasr router`).\n\n"
        "Writes <out>/hyp.jsonl, <out>/text and <out>/summary.json; an interrupted decode resumes."
        " See docs/decoding.md."
    ),
    no_args_is_help=True,
)


@app.callback(invoke_without_command=True)
def decode(
    system: opt.System,
    cuts: Annotated[list[Path], typer.Option("--cuts", help="Lhotse manifest(s) to decode (repeat the option).")],
    out: Annotated[Path, typer.Option("--out", help="Decode dir, e.g. exp/<tag>/decode_<set>.")],
    scenario: Annotated[
        str,
        typer.Option(
            "--scenario",
            help="aware: the manifest's language picks prompt and expert. agnostic: language ID picks them"
            " (experts: the base model's LID; a router unit: its classifier; single models detect the language"
            " themselves; --lid-system: that system's LID). both: the two in"
            " one pass, aware into --out and agnostic into --agnostic-out; only utterances whose detected"
            " language changes the prompt or the expert are decoded twice.",
        ),
    ] = "aware",
    agnostic_out: Annotated[
        Path | None, typer.Option("--agnostic-out", help="--scenario both: the agnostic decode dir.")
    ] = None,
    beam_size: opt.BeamSize = 1,
    model: opt.BaseModel = None,
    max_duration: opt.MaxDuration = None,
    batch_size: opt.BatchSize = 16,
    trim: opt.Trim = None,
    lid_langs: opt.LidLangs = None,
    routing: opt.Routing = "group",
    lid_system: opt.LidSystem = None,
    soft_top_k: opt.SoftTopK = 0,
    dtype: opt.Dtype = "float32",
    device: opt.Device = None,
    num_threads: opt.NumThreads = None,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Discard an existing decode in --out made with other settings.")
    ] = False,
) -> None:
    """Decode --cuts with --system into --out."""
    from lwasr.decoding.search import DecodeOptions, decode_cuts, decode_outputs, default_device
    from lwasr.langcodes import parse_langs
    from lwasr.loaders import load_system

    opt.setup_runtime(num_threads)
    opts = DecodeOptions(
        scenario=scenario,
        beam_size=beam_size,
        trim=trim,
        max_duration=max_duration,
        batch_size=batch_size or None,
        lid_langs=tuple(parse_langs(lid_langs)) if lid_langs else None,
        routing=routing,
        lid_system=lid_system,
        soft_top_k=soft_top_k,
        dtype=dtype,
    )
    decode_outputs(scenario, out, agnostic_out)  # before the system is loaded
    summary = decode_cuts(
        load_system(system, model),
        cuts,
        out,
        opts,
        agnostic_out=agnostic_out,
        lid_system=load_system(lid_system, model) if lid_system else None,
        device=default_device(device),
        overwrite=overwrite,
    )
    where = f"{out}/hyp.jsonl" + (f" and {agnostic_out}/hyp.jsonl" if agnostic_out else "")
    typer.echo(
        f"{summary['utterances']} utterances -> {where}; RTF {summary['real_time_factor']},"
        f" {summary['utterances_per_second']} utt/s"
    )
