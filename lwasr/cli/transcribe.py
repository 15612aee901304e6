"""`lwasr transcribe`: any audio files, of any length, with any system; and `lwasr prepare longform`'s options."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from lwasr.cli.plan_options import plan_options, plan_then_run
from lwasr.config_fields import help_of
from lwasr.transcribe.config import TranscribeConfig, TranscribeOptions

app = typer.Typer(
    name="transcribe",
    help=(
        "Transcribe audio files, directories (recursively) or list files (.txt/.lst/.list, one path per line):"
        " wav, flac, ogg, mp3, any sampling rate and channel count, any length (over 30 s: cut at pauses by Silero"
        " VAD, or fixed windows with overlap without it), with any system `lwasr decode` takes.\n\n"
        "Writes <out>/<name>.<format> per file (name: its path under the directory given, without the suffix),"
        " <out>/hyp.jsonl and <out>/summary.json; a rerun skips finished files. A file that cannot be read is"
        " listed with its reason and the others carry on; the exit status is then 1.\n\n"
        "Example: lwasr transcribe recordings/ talk.mp3 --system exp/espeak8/experts --out exp/espeak8/transcripts"
        " --format srt,txt\n\nSee docs/decoding.md (Transcribing any audio)."
    ),
    no_args_is_help=True,
    subcommand_metavar="",
    context_settings={"allow_interspersed_args": True},
)


#: The generated options of `lwasr transcribe`, in the order of its help (fields of TranscribeConfig or
#: TranscribeOptions); PATHS and --out (required here, optional in the Python API) are declared below.
TRANSCRIBE_OPTIONS = (
    "system",
    "formats",
    "language",
    "route_per",
    "lid_langs",
    "beam_size",
    "batch_size",
    "max_duration",
    "trim",
    "routing",
    "lid_system",
    "soft_top_k",
    "dtype",
    "temperatures",
    "compression_ratio_threshold",
    "logprob_threshold",
    "no_speech_threshold",
    "fallback_seed",
    "chunking",
    "max_chunk_seconds",
    "word_timestamps",
    "split_pause_seconds",
    "max_cue_seconds",
    "max_line_chars",
    "reference",
    "model",
    "device",
    "num_threads",
    "step_threads",
    "overwrite",
)


@app.callback(invoke_without_command=True)
@plan_options(TRANSCRIBE_OPTIONS, TranscribeConfig, TranscribeOptions)
def transcribe(
    paths: Annotated[list[Path], typer.Argument(help=help_of(TranscribeConfig, "paths"), metavar="PATHS")],
    out: Annotated[Path, typer.Option("--out", help=help_of(TranscribeConfig, "out"))],
    values: dict[str, Any],
    print_config: bool,
) -> None:
    """Transcribe PATHS with --system into --out."""
    from lwasr.transcribe.run import plan, run

    result = plan_then_run(plan, run, print_config, paths=paths, out=out, **values)
    if result is None:
        return
    s = result.summary
    typer.echo(
        f"{s['transcribed_this_run']} files transcribed, {s['already_done']} already done, {s['failed']} failed ->"
        f" {out}; {s['audio_seconds']} s of audio, RTF {s['real_time_factor']}; summary: {out}/summary.json"
    )
    for f in result.failures:
        typer.echo(f"failed: {f.input}: {f.reason}: {f.detail}", err=True)
    if result.failures:
        raise typer.Exit(1)


def longform(
    cuts: Annotated[list[Path], typer.Option("--cuts", help="Test manifest(s) to build from (repeat the option).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output directory, e.g. data/espeak8/longform.")],
    langs: Annotated[str | None, typer.Option("--langs", help="Only these languages (e.g. pl,zh).")] = None,
    min_seconds: Annotated[float, typer.Option("--min-seconds", help="Shortest recording kept.")] = 60.0,
    max_seconds: Annotated[float, typer.Option("--max-seconds", help="Longest recording.")] = 180.0,
    pause: Annotated[float, typer.Option("--pause", help="Seconds of silence between two cuts.")] = 1.0,
    force: Annotated[bool, typer.Option("--force", help="Rebuild even when complete.")] = False,
) -> None:
    """Concatenate each language's test cuts, with pauses, into 1-3 minute recordings with their reference.

    Writes <out>/wav/, <out>/longform_cuts.jsonl.gz (the references), <out>/parts_cuts.jsonl.gz (the cuts used)
    and <out>/longform.json. Example: lwasr prepare longform --cuts data/espeak8/manifests/espeak8_pl_test_cuts.jsonl.gz
    --out data/espeak8/longform, then lwasr transcribe data/espeak8/longform/wav --system SYSTEM --out DIR
    --reference data/espeak8/longform/longform_cuts.jsonl.gz and lwasr score DIR. See docs/decoding.md.
    """
    from lwasr.langcodes import parse_langs
    from lwasr.transcribe.longform import build_longform_set

    info = build_longform_set(
        cuts,
        out,
        langs=parse_langs(langs) if langs else None,
        min_seconds=min_seconds,
        max_seconds=max_seconds,
        pause_seconds=pause,
        force=force,
    )
    for lang, s in info["languages"].items():
        left = f", {s['left_out_cuts']} cuts ({s['left_out_seconds']} s) left out" if s["left_out_cuts"] else ""
        typer.echo(f"{lang}: {s['recordings']} recordings, {s['cuts']} cuts, {s['seconds']} s{left}")
    typer.echo(f"-> {out}/longform_cuts.jsonl.gz, {out}/parts_cuts.jsonl.gz")
