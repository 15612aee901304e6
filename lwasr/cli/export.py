"""`lwasr export`: a trained system as a standalone Hugging Face model or a CTranslate2 (faster-whisper) one."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from lwasr.cli.decode_options import BaseModel
from lwasr.cli.options import setup_logging


class Format(str, Enum):
    hf = "hf"
    ct2 = "ct2"


class Quantization(str, Enum):
    float32 = "float32"
    float16 = "float16"
    int8 = "int8"
    int8_float16 = "int8_float16"


app = typer.Typer(
    name="export",
    subcommand_metavar="",
    # a command group (lwasr add_typer's every command module) with a positional: options may follow it
    context_settings={"allow_interspersed_args": True},
    help=(
        "Export a system (anything `lwasr decode --system` takes) as a standalone model, adapters merged into"
        " the weights, with a model card (README.md) and a parity report (parity.json).\n\n"
        "Formats: hf writes a Hugging Face Whisper directory that WhisperForConditionalGeneration.from_pretrained"
        ' and pipeline("automatic-speech-recognition") load (tokenizer, feature extractor, generation config with'
        " language ids, suppressed tokens and alignment heads); ct2 writes a CTranslate2 directory (--quantization)"
        " that faster_whisper.WhisperModel(DIR) loads.\n\n"
        "An experts directory gives one model per language, OUT/<lang>/ (or only --lang). The parity check"
        " decodes the first --parity-cuts cuts of each language of --cuts with lwasr and with the export and"
        " reports the share of token-identical cuts and both error rates. OUT is written atomically; it must be"
        " new or an earlier export, which is kept unless --overwrite. See docs/models.md.\n\n"
        "lwasr export exp/t/experts --lang pl --format ct2 --quantization int8 --cuts data/t/manifests"
        " --out exp/t/export/pl_ct2"
    ),
)


@app.callback(invoke_without_command=True)
def export(
    system: Annotated[
        str,
        typer.Argument(
            help="What to export: an experts dir, a unit dir with lwasr.json (lora, full, fused, distilled, moe),"
            " a Hugging Face model dir or embedded:whisper-base.",
            show_default=False,
        ),
    ],
    out: Annotated[
        Path, typer.Option("--out", help="Output directory: new, or an earlier export (kept unless --overwrite).")
    ],
    lang: Annotated[
        str | None, typer.Option("--lang", help="Experts dir: export only this language's expert (default: all).")
    ] = None,
    fmt: Annotated[
        Format, typer.Option("--format", help="hf (transformers) or ct2 (CTranslate2, for faster-whisper).")
    ] = Format.hf,
    quantization: Annotated[
        Quantization | None,
        typer.Option(
            "--quantization",
            help="ct2: weight type. float16 (default) runs as float32 on CPU; int8 is faster-whisper's usual CPU"
            " setting and changes some tokens.",
        ),
    ] = None,
    cuts: Annotated[
        list[Path] | None,
        typer.Option("--cuts", help="Manifest(s), or a manifests dir (its test split), for the parity check."),
    ] = None,
    parity_cuts: Annotated[
        int, typer.Option("--parity-cuts", help="Cuts per language decoded by the parity check (0: no check).")
    ] = 20,
    model: BaseModel = None,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace an earlier export at --out (once the new one is complete).")
    ] = False,
) -> None:
    """Export SYSTEM to --out (see `lwasr export --help`)."""
    from lwasr.export.run import export as run_export

    setup_logging()
    lines = run_export(
        system,
        out,
        fmt.value,
        lang=lang,
        quantization=quantization.value if quantization else None,
        cuts=cuts or [],
        parity_cuts_per_lang=parity_cuts,
        model=model,
        overwrite=overwrite,
    )
    for line in lines:
        typer.echo(line)
