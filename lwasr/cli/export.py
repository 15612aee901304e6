"""`lwasr export`: a trained system as a standalone Hugging Face model or a CTranslate2 (faster-whisper) one."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from lwasr.cli.plan_options import plan_options, plan_then_run
from lwasr.config_fields import help_of
from lwasr.export.config import ExportConfig

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
        " new or an earlier export, which is kept if made with the same settings (refused if not) unless"
        " --overwrite. See docs/models.md.\n\n"
        "lwasr export exp/t/experts --lang pl --format ct2 --quantization int8 --cuts data/t/manifests"
        " --out exp/t/export/pl_ct2"
    ),
)


#: The generated options of `lwasr export`, in the order of its help (fields of ExportConfig); SYSTEM is below.
EXPORT_OPTIONS = ("out", "lang", "fmt", "quantization", "cuts", "parity_cuts_per_lang", "model", "overwrite")


@app.callback(invoke_without_command=True)
@plan_options(EXPORT_OPTIONS, ExportConfig)
def export(
    system: Annotated[str, typer.Argument(help=help_of(ExportConfig, "system"), show_default=False)],
    values: dict[str, Any],
    print_config: bool,
) -> None:
    """Export SYSTEM to --out (see `lwasr export --help`)."""
    from lwasr.export.run import plan, run

    for line in plan_then_run(plan, run, print_config, system=system, **values) or []:
        typer.echo(line)
