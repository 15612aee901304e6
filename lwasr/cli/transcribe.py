"""`lwasr transcribe`: any audio files, of any length, with any system; and `lwasr prepare longform`'s options."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from lwasr.cli import decode_options as opt

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


@app.callback(invoke_without_command=True)
def transcribe(
    paths: Annotated[list[Path], typer.Argument(help="Audio files, directories and list files.", metavar="PATHS")],
    system: opt.System,
    out: Annotated[Path, typer.Option("--out", help="Output directory, e.g. exp/<tag>/transcripts.")],
    formats: Annotated[
        str, typer.Option("--format", help="Comma-separated output formats: txt, jsonl, srt, vtt, tsv.")
    ] = "txt,jsonl",
    language: Annotated[
        str | None,
        typer.Option("--language", help="Decode every file in this language (its expert); no language ID."),
    ] = None,
    route_per: Annotated[
        str,
        typer.Option(
            "--route-per",
            help="Without --language: file (language ID over a file's first 3 chunks picks one language and expert"
            " for the file) or chunk (each chunk identified and routed on its own).",
        ),
    ] = "file",
    lid_langs: opt.LidLangs = None,
    beam_size: opt.BeamSize = 1,
    batch_size: opt.BatchSize = 16,
    max_duration: opt.MaxDuration = None,
    trim: opt.Trim = None,
    routing: opt.Routing = "group",
    lid_system: opt.LidSystem = None,
    soft_top_k: opt.SoftTopK = 0,
    dtype: opt.Dtype = "float32",
    chunking: Annotated[
        str,
        typer.Option(
            "--chunking",
            help="How audio longer than --max-chunk-seconds is cut: auto (Silero VAD if installed, else fixed"
            " windows, with a warning), vad (an error without silero-vad) or fixed (windows of --max-chunk-seconds"
            " with overlap: 5 s for 30-s windows).",
        ),
    ] = "auto",
    max_chunk_seconds: Annotated[
        float,
        typer.Option(
            "--max-chunk-seconds",
            help="Longest chunk, 1 to 30 s (Whisper's window). A model fine-tuned on short utterances often stops"
            " after the first sentence of a long chunk: give it about its training length (docs/results.md).",
        ),
    ] = 30.0,
    reference: Annotated[
        Path | None,
        typer.Option(
            "--reference",
            help="A manifest whose recordings are the inputs (`lwasr prepare longform`'s longform_cuts.jsonl.gz):"
            " its texts go into hyp.jsonl, so that `lwasr score OUT` scores the transcripts.",
        ),
    ] = None,
    model: opt.BaseModel = None,
    device: opt.Device = None,
    num_threads: opt.NumThreads = None,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Discard an output in --out made with other settings.")
    ] = False,
) -> None:
    """Transcribe PATHS with --system into --out."""
    from lwasr.langcodes import parse_langs
    from lwasr.transcribe.run import transcribe as run

    opt.setup_runtime(num_threads)
    result = run(
        paths,
        system,
        out=out,
        formats=[f.strip() for f in formats.split(",") if f.strip()],
        language=language,
        route_per=route_per,
        lid_langs=parse_langs(lid_langs) if lid_langs else None,
        beam_size=beam_size,
        batch_size=batch_size or None,
        max_duration=max_duration,
        trim=trim,
        routing=routing,
        lid_system=lid_system,
        soft_top_k=soft_top_k,
        dtype=dtype,
        chunking=chunking,
        max_chunk_seconds=max_chunk_seconds,
        reference=reference,
        model=model,
        device=device,
        overwrite=overwrite,
    )
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
