"""The options of the commands that run a system (decode, transcribe, export), declared once.

Each alias carries the flag and its help; the commands give the defaults, which are those of
:class:`lwasr.decoding.search.DecodeOptions` (Typer does not take a default inside ``Annotated``).
"""

from __future__ import annotations

from typing import Annotated

import typer

System = Annotated[str, typer.Option("--system", help="embedded:whisper-base, a model dir, or an experts dir.")]
BaseModel = Annotated[
    str | None, typer.Option("--model", help="Base model for adapters (default: the one in their lwasr.json).")
]
BeamSize = Annotated[int, typer.Option("--beam-size", help="1 = greedy search.")]
BatchSize = Annotated[
    int,
    typer.Option(
        "--batch-size",
        help="At most this many utterances (chunks) per batch. 16 suits a CPU: a greedy decoder step costs about"
        " the same for 4 or 16 (docs/performance.md). 0: no limit (then give --max-duration).",
    ),
]
MaxDuration = Annotated[
    float | None,
    typer.Option(
        "--max-duration",
        help="At most these seconds of real audio per batch (with --batch-size, whichever fills first).",
    ),
]
Trim = Annotated[
    bool | None,
    typer.Option(
        "--trim-encoder-input/--no-trim-encoder-input",
        help="Feed the encoder only the batch's real length. Default: as the model was trained (lwasr.json);"
        " untrimmed for a base model.",
    ),
]
LidLangs = Annotated[
    str | None, typer.Option("--lid-langs", help="Restrict language ID to these codes (e.g. pl,pt,zh).")
]
LidSystem = Annotated[
    str | None,
    typer.Option(
        "--lid-system",
        help="Agnostic (and both) scenario, and transcribe without --language: route by this system's language ID"
        " instead (any single model's own LID,"
        " e.g. the shared LoRA or the agnostic student, or a router unit), loaded beside --system (--model applies"
        " to both).",
    ),
]
SoftTopK = Annotated[
    int,
    typer.Option(
        "--soft-top-k",
        help="Agnostic experts (transcribe: with --route-per chunk): decode each utterance with a mixture of the K"
        " most probable languages' experts,"
        " weighted by their LID probabilities renormalised over them (per-sample adapter weights). 0: hard"
        " routing to the most probable language's expert.",
    ),
]
Routing = Annotated[
    str, typer.Option("--routing", help="Experts: group (batches per language) or per-sample (peft adapter_names).")
]
Dtype = Annotated[
    str,
    typer.Option(
        "--dtype",
        help="float32, bfloat16, or int8 (dynamic quantization of the linear layers, CPU; not for experts)."
        " Reduced precision can change the hypotheses: docs/performance.md has the measured WER.",
    ),
]
Device = Annotated[str | None, typer.Option("--device", help="cpu, cuda, cuda:1... (default: cuda if any).")]
NumThreads = Annotated[int | None, typer.Option("--num-threads", help="torch CPU threads.")]


def setup_runtime(num_threads: int | None) -> None:
    """Progress lines on stderr and torch's CPU threads (``--num-threads``)."""
    import torch

    from lwasr.cli.options import setup_logging

    setup_logging()
    if num_threads:
        torch.set_num_threads(num_threads)
