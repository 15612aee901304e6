"""`lwasr decode`: decode manifests with a base, fine-tuned, shared-LoRA or language-expert system."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(
    name="decode",
    help=(
        "Decode manifests with a system: `embedded:whisper-base` (zero-shot), a full fine-tune or a LoRA unit"
        " (model dir with lwasr.json), or a directory of language experts (exp/<tag>/experts).\n\n"
        "Writes <out>/hyp.jsonl, <out>/text and <out>/summary.json; an interrupted decode resumes."
        " See docs/decoding.md."
    ),
    no_args_is_help=True,
)


@app.callback(invoke_without_command=True)
def decode(
    system: Annotated[str, typer.Option("--system", help="embedded:whisper-base, a model dir, or an experts dir.")],
    cuts: Annotated[list[Path], typer.Option("--cuts", help="Lhotse manifest(s) to decode (repeat the option).")],
    out: Annotated[Path, typer.Option("--out", help="Decode dir, e.g. exp/<tag>/decode_<set>.")],
    scenario: Annotated[
        str,
        typer.Option(
            "--scenario",
            help="aware: the manifest's language picks prompt and expert. agnostic: language ID picks them"
            " (experts: the base model's LID; single models detect the language themselves). both: the two in"
            " one pass, aware into --out and agnostic into --agnostic-out; only utterances whose detected"
            " language changes the prompt or the expert are decoded twice.",
        ),
    ] = "aware",
    agnostic_out: Annotated[
        Path | None, typer.Option("--agnostic-out", help="--scenario both: the agnostic decode dir.")
    ] = None,
    beam_size: Annotated[int, typer.Option("--beam-size", help="1 = greedy search.")] = 1,
    model: Annotated[
        str | None, typer.Option("--model", help="Base model for adapters (default: the one in their lwasr.json).")
    ] = None,
    max_duration: Annotated[
        float | None,
        typer.Option(
            "--max-duration",
            help="At most these seconds of real audio per batch (with --batch-size, whichever fills first).",
        ),
    ] = None,
    batch_size: Annotated[
        int | None,
        typer.Option(
            "--batch-size",
            help="At most this many utterances per batch. 16 suits a CPU: a greedy decoder step costs about"
            " the same for 4 or 16 utterances (docs/performance.md). 0: no limit (then give --max-duration).",
        ),
    ] = 16,
    trim: Annotated[
        bool | None,
        typer.Option(
            "--trim-encoder-input/--no-trim-encoder-input",
            help="Feed the encoder only the batch's real length. Default: as the model was trained (lwasr.json);"
            " untrimmed for a base model.",
        ),
    ] = None,
    lid_langs: Annotated[
        str | None,
        typer.Option("--lid-langs", help="Agnostic: restrict language ID to these codes (e.g. pl,pt,zh)."),
    ] = None,
    routing: Annotated[
        str,
        typer.Option("--routing", help="Experts: group (batches per language) or per-sample (peft adapter_names)."),
    ] = "group",
    device: Annotated[str | None, typer.Option("--device", help="cpu, cuda, cuda:1... (default: cuda if any).")] = None,
    num_threads: Annotated[int | None, typer.Option("--num-threads", help="torch CPU threads.")] = None,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Discard an existing decode in --out made with other settings.")
    ] = False,
) -> None:
    """Decode --cuts with --system into --out."""
    import logging

    import torch

    from lwasr.decoding.search import DecodeOptions, decode_cuts, decode_outputs
    from lwasr.decoding.systems import load_system
    from lwasr.langcodes import parse_langs

    logging.basicConfig(level=logging.INFO, format="[lwasr] %(message)s")
    if num_threads:
        torch.set_num_threads(num_threads)
    opts = DecodeOptions(
        scenario=scenario,
        beam_size=beam_size,
        trim=trim,
        max_duration=max_duration,
        batch_size=batch_size or None,
        lid_langs=tuple(parse_langs(lid_langs)) if lid_langs else None,
        routing=routing,
    )
    dev = device or ("cuda" if torch.cuda.is_available() else "cpu")
    decode_outputs(scenario, out, agnostic_out)  # before the system is loaded
    summary = decode_cuts(
        load_system(system, model), cuts, out, opts, agnostic_out=agnostic_out, device=dev, overwrite=overwrite
    )
    where = f"{out}/hyp.jsonl" + (f" and {agnostic_out}/hyp.jsonl" if agnostic_out else "")
    typer.echo(
        f"{summary['utterances']} utterances -> {where}; RTF {summary['real_time_factor']},"
        f" {summary['utterances_per_second']} utt/s"
    )
