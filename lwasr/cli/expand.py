"""`lwasr expand` and `lwasr lid-similarity`: add a language without forgetting (issue #7)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from lwasr.cli.options import TRAIN_OPTIONS, Settings, field_options, setup_logging, training_options
from lwasr.expansion.config import ExpandConfig, ExpandOptions
from lwasr.expansion.inits import inits_help

HELP = (
    "Add a new language to a set of language experts (base experts stay byte-identical), or to a forgetting"
    " baseline.\n\n"
    "lwasr expand --experts exp/<tag>/experts --new-lang it --cuts data/train --dev-cuts data/dev --init warm\n\n"
    "Inits (--init):\n\n" + inits_help() + "\n\n"
    "Output: --out (default exp/<tag>/expand_<init>/<lang>), a unit with lwasr.json that `lwasr decode --system`"
    " takes; working files in <out>/../train_<lang>/. A finished unit is skipped; an interrupted one resumes."
    " A language outside Whisper's list borrows a language token (--lang-token-from), recorded in lwasr.json"
    " (extra.prompt_lang) and used by decode. See docs/expansion.md."
)

#: The settings of expand that are its own inputs (passed to the plan, not overrides of the training config).
EXPAND_OWN = ("new_lang", "cuts", "dev_cuts", "init", "moe_gate", "source", "overwrite")
#: The training settings that are options of expand (--model is its own: default, the experts' recorded base).
EXPAND_OPTIONS = tuple(n for n in TRAIN_OPTIONS if n not in (*EXPAND_OWN, "model", "exp_dir"))

app = typer.Typer(name="expand", help=HELP, subcommand_metavar="")


#: The settings of expand's own that are options (fields of ExpandOptions), in the order of its help.
OPTIONS = ("experts", "out", "similarity", "moe_k", "lang_token_from", "model", "similarity_max_utts")


@app.callback(invoke_without_command=True)
@training_options(ExpandConfig, EXPAND_OPTIONS, passed=EXPAND_OWN, required=("new_lang", "cuts"))
@field_options(ExpandOptions, OPTIONS)
def expand(
    *,
    values: dict[str, Any],
    new_lang: str,
    cuts: list[str],
    dev_cuts: list[str],
    source: str | None,
    overwrite: bool,
    init: str,
    moe_gate: str,
    settings: Settings,
) -> None:
    """Train the new language's unit (see `lwasr expand --help`)."""
    from lwasr.expansion.expand import plan_expand, run_expand

    setup_logging()
    settings.execute(
        lambda: plan_expand(
            new_lang=new_lang,
            cuts=cuts,
            init=init,
            dev_cuts=dev_cuts,
            moe_gate=moe_gate,
            source=source,
            config=settings.config,
            overrides=settings.overrides(),
            overwrite=overwrite,
            **values,
        ),
        run_expand,
    )


def lid_similarity(
    lang: Annotated[str, typer.Option("--lang", help="The (new) language whose audio is analysed.")],
    cuts: Annotated[list[Path], typer.Option("--cuts", help="Manifest(s) or dirs holding that language's audio.")],
    out: Annotated[Path, typer.Option("--out", help="similarity.json path (or a directory to write it in).")],
    experts: Annotated[
        Path | None,
        typer.Option("--experts", help="Rank only these experts' languages (and use their base model)."),
    ] = None,
    candidates: Annotated[
        str | None,
        typer.Option("--candidates", help="Rank only these Whisper codes (default: the experts', else all)."),
    ] = None,
    model: Annotated[
        str | None,
        typer.Option("--model", help="Base Whisper (default: the experts' base, else embedded:whisper-base)."),
    ] = None,
    heatmap: Annotated[
        Path | None,
        typer.Option("--heatmap", help="Also write a PNG of the LID matrix over --matrix-langs (+ --lang)."),
    ] = None,
    matrix_langs: Annotated[
        str | None,
        typer.Option("--matrix-langs", help="Audio languages of the matrix, e.g. pl,pt,it (default: candidates)."),
    ] = None,
    max_utts: Annotated[int, typer.Option("--max-utts", help="Utterances per language.")] = 100,
    batch_size: Annotated[int, typer.Option("--batch-size", help="Utterances per LID batch.")] = 8,
    trim: Annotated[
        bool,
        typer.Option("--trim/--no-trim", help="Trimmed encoder input (default: padded to 30 s, as Whisper)."),
    ] = False,
    device: Annotated[str, typer.Option("--device", help="cpu, cuda, ...")] = "cpu",
) -> None:
    """Rank base languages by the base Whisper's LID probability on a language's audio (similarity.json)."""
    from lwasr.atomic import write_json
    from lwasr.expansion import similarity as S
    from lwasr.langcodes import parse_langs

    setup_logging()
    base, model = S.experts_base(experts, model)
    if candidates:
        base = parse_langs(candidates)
    rows = parse_langs(matrix_langs) if matrix_langs else ([c for c in base if c != lang] if base else [])
    if heatmap is not None and not rows:
        raise typer.BadParameter("--heatmap needs --matrix-langs (or --experts/--candidates)")
    record, matrix = S.lid_similarity(
        model,
        cuts,
        lang,
        base_langs=base,
        matrix_langs=rows if heatmap is not None else None,
        max_utts=max_utts,
        batch_size=batch_size,
        trim=trim,
        device=device,
    )
    path = S.write_similarity(record, out)
    top = ", ".join(f"{r['lang']} {r['prob']:.3f}" for r in record["ranking"][:5])
    typer.echo(f"{path}: most similar to {lang}: {top}")
    if heatmap is not None and matrix is not None:
        write_json(heatmap.with_suffix(".json"), matrix)
        typer.echo(S.plot_heatmap(matrix["matrix"], matrix["rows"], matrix["cols"], heatmap))
