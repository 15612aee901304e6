"""`lwasr fuse`: fuse LoRA language experts into one adapter (issue #6)."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from lwasr.cli.options import Settings, setup_logging, training_options
from lwasr.fusion import METHODS
from lwasr.fusion.config import FuseConfig

Method = Enum("Method", {m: m for m in METHODS}, type=str)

app = typer.Typer(
    name="fuse",
    subcommand_metavar="",
    help=(
        "Fuse LoRA language experts into ONE adapter for a chosen set of target languages (arXiv 2506.21555).\n\n"
        "Methods (--method):\n\n"
        "  sum        exact weighted sum of the experts' updates, sum_i w_i*s_i*B_i@A_i (rank = sum of ranks);"
        " default weights 1/n.\n\n"
        "  svd        the exact sum truncated to rank --rank per module (best rank-r approximation);"
        " default rank: the experts' rank.\n\n"
        "  ties       peft's TIES merge of the A and B factors (trim to --density, sign election, disjoint mean);"
        " default weights 1. Needs equal ranks and target modules.\n\n"
        "  dare       peft's dare_linear: random drop to --density, rescale, weighted sum; default weights 1/n."
        " Needs equal ranks and target modules.\n\n"
        "  dare_ties  DARE drop followed by TIES sign election; default weights 1.\n\n"
        "  learned    experts frozen; one weight per expert and module (--gate) trained on pooled data (--cuts) for"
        " two passes (defaults: lr 1e-2, 2 epochs, validated after each, the best kept), with or without the"
        " language token (--no-lang-token). The learned weighted sum is folded exactly into one adapter, as sum"
        " does. Working files (checkpoints, log): <out parent>/train_<out name>/; an interrupted run resumes, a"
        " finished one is skipped. The unit gets gate_trajectory.jsonl and .png: the gate weights over the steps.\n\n"
        "Task arithmetic (sum, svd): --lambdas 0.2,0.4,0.6,0.8,1.0 --dev-cuts data/dev gives every expert weight λ"
        " (its whole update, scaled), λ chosen by the lowest dev loss; lwasr.json records the grid.\n\n"
        "Writes a PEFT adapter with lwasr.json to --out (atomically); --merge also writes --out/merged, a standalone"
        " Hugging Face model. --out must be new or an earlier `lwasr fuse` output, which is kept unless --overwrite;"
        " anything else there is refused. See docs/fusion.md.\n\n"
        "lwasr fuse --experts exp/t/experts --langs pl,pt --method learned --cuts data/train --dev-cuts data/dev"
        " --no-lang-token --out exp/t/fused_learned_agnostic"
    ),
)


def _floats(spec: str | None) -> list[float] | None:
    if spec is None:
        return None
    try:
        return [float(x) for x in spec.split(",") if x.strip()]
    except ValueError as e:
        raise typer.BadParameter(f"expected comma-separated numbers, got {spec!r}") from e


#: The training settings of --method learned that are options.
LEARNED_OPTIONS = (
    *("cuts", "dev_cuts", "lang_token", "trim_encoder_input", "max_duration", "lr", "max_steps", "num_epochs"),
    *("accum_grad", "num_workers", "resume", "gate", "gate_fn"),
)


@app.callback(invoke_without_command=True)
@training_options(FuseConfig, LEARNED_OPTIONS)
def fuse(
    experts: Annotated[
        Path, typer.Option("--experts", help="Experts directory: one adapter per language, <dir>/<lang>/.")
    ],
    langs: Annotated[str, typer.Option("--langs", help="Target languages, comma-separated Whisper codes: pl,pt,it.")],
    out: Annotated[
        Path, typer.Option("--out", help="Output directory: new, or an earlier fuse output (kept unless --overwrite).")
    ],
    method: Annotated[Method, typer.Option("--method", help="Fusion method (see above).")] = Method.sum,
    weights: Annotated[
        str | None, typer.Option("--weights", help="One weight per language, comma-separated: 0.5,0.5.")
    ] = None,
    lambdas: Annotated[
        str | None,
        typer.Option(
            "--lambdas",
            help="sum, svd: task arithmetic, weight λ for every expert, λ chosen from this grid (e.g."
            " 0.2,0.4,0.6,0.8,1.0) by the lowest dev loss on --dev-cuts.",
        ),
    ] = None,
    rank: Annotated[int | None, typer.Option("--rank", help="svd: rank of the fused adapter.")] = None,
    density: Annotated[
        float, typer.Option("--density", help="ties/dare: fraction of factor entries kept, in (0, 1].")
    ] = 0.5,
    seed: Annotated[int, typer.Option("--seed", help="dare: seed of the random drops.")] = 0,
    merge: Annotated[
        bool, typer.Option("--merge", help="Also write <out>/merged: base + fused adapter as one HF model.")
    ] = False,
    model: Annotated[
        str | None,
        typer.Option("--model", help="Base model (default: the one recorded in the experts' lwasr.json)."),
    ] = None,
    overwrite: Annotated[
        bool,
        typer.Option("--overwrite", help="Replace an earlier fuse output at --out (once the new one is complete)."),
    ] = False,
    *,
    settings: Settings,
) -> None:
    """Fuse the experts for --langs into one adapter (see `lwasr fuse --help` for the methods)."""
    from lwasr.fusion.run import fuse as run_fuse
    from lwasr.langcodes import parse_langs

    if settings.print_config and method.value != "learned":
        raise typer.BadParameter("--print-config is for --method learned; the other methods train nothing")
    setup_logging()
    settings.run(
        lambda: run_fuse(
            experts,
            parse_langs(langs),
            method.value,
            out,
            weights=_floats(weights),
            lambdas=_floats(lambdas),
            rank=rank,
            density=density,
            seed=seed,
            merge=merge,
            model=model,
            config=settings.config,
            train_overrides=settings.overrides(),
            overwrite=overwrite,
        )
    )
