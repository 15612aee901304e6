"""The decode settings, each declared once with its default and help (``lwasr decode`` and ``lwasr transcribe``
generate their options from these fields; lwasr/cli/decode_options.py).

:class:`DecodeOptions` is what changes the hypotheses (recorded in settings.json); :class:`SystemRun` is which
system runs, and where.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lwasr.config_fields import finite_numbers, setting, tagged
from lwasr.errors import LwasrError
from lwasr.langcodes import parse_langs

SCENARIOS = ("aware", "agnostic", "both")
ROUTINGS = ("group", "per-sample")
#: The tag of the fields that only route the agnostic scenario (:data:`AGNOSTIC_ONLY`).
AGNOSTIC = "agnostic-only"


@dataclass(frozen=True)
class DecodeOptions:
    """Everything that changes the hypotheses (recorded in settings.json; a resume must match it).

    Fields tagged agnostic-only route the agnostic scenario alone: an aware decode's hypotheses do not depend on
    them (:func:`lwasr.decoding.io.resume_settings`).
    """

    scenario: str = setting(
        "aware",
        "aware: the manifest's language picks prompt and expert. agnostic: language ID picks them (experts: the base"
        " model's LID; a router unit: its classifier; single models detect the language themselves; --lid-system:"
        " that system's LID). both: the two in one pass, aware into --out and agnostic into --agnostic-out; only"
        " utterances whose detected language changes the prompt or the expert are decoded twice.",
    )
    beam_size: int = setting(1, "1 = greedy search.")
    trim: bool | None = setting(
        None,
        "Feed the encoder only the batch's real length. Default: as the model was trained (lwasr.json); untrimmed"
        " for a base model.",
        flag="trim-encoder-input",
    )
    max_duration: float | None = setting(
        None, "At most these seconds of real audio per batch (with --batch-size, whichever fills first)."
    )
    batch_size: int | None = setting(
        16,
        "At most this many utterances (chunks) per batch. 16 suits a CPU: a greedy decoder step costs about the same"
        " for 4 or 16 (docs/performance.md). 0: no limit (then give --max-duration).",
    )
    lid_langs: tuple[str, ...] | None = setting(
        None, "Restrict language ID to these codes (e.g. pl,pt,zh).", cli_type=str | None, tag=AGNOSTIC
    )
    routing: str = setting("group", "Experts: group (batches per language) or per-sample (peft adapter_names).")
    lid_system: str | None = setting(
        None,
        "Agnostic (and both) scenario, and transcribe without --language: route by this system's language ID instead"
        " (any single model's own LID, e.g. the shared LoRA or the agnostic student, or a router unit), loaded beside"
        " --system (--model applies to both).",
        tag=AGNOSTIC,
    )
    soft_top_k: int = setting(
        0,
        "Agnostic experts (transcribe: with --route-per chunk): decode each utterance with a mixture of the K most"
        " probable languages' experts, weighted by their LID probabilities renormalised over them (per-sample adapter"
        " weights). 0: hard routing to the most probable language's expert.",
        tag=AGNOSTIC,
    )
    dtype: str = setting(
        "float32",
        "float32, bfloat16, int8 (dynamic quantization of the linear layers, CPU; not for experts), or auto"
        " (bfloat16 for a fine-tuned system where the device computes it natively: a CPU with avx512_bf16 or AMX,"
        " a CUDA GPU from Ampere on; float32 otherwise; settings.json records the choice). Reduced precision can"
        " change the hypotheses: docs/performance.md has the measured WER.",
    )
    max_new_tokens: int = setting(
        224, "At most this many new tokens per utterance (Whisper's own cap, half the decoder context)."
    )
    max_tokens_per_second: float = setting(
        15.0,
        "At most this many new tokens per second of a batch's longest clip: stops repetition loops early. Whisper's"
        " own limit is 448 positions per 30 s, ~15 tokens/s; the references of the espeak8 corpus (8 languages)"
        " need at most 11.8/s.",
    )
    temperatures: tuple[float, ...] = setting(
        "0",
        "Temperature fallback (greedy search; docs/decoding.md): an utterance whose hypothesis fails"
        " --compression-ratio-threshold or --logprob-threshold is decoded again by sampling at the next temperature,"
        " until one passes. 0 alone: no fallback (lwasr decode's default, plain search as papers score); lwasr"
        " transcribe's default is openai-whisper's transcribe's, 0,0.2,0.4,0.6,0.8,1.",
        cli_type=str,
    )
    compression_ratio_threshold: float | None = setting(
        2.4, "Fallback when the hypothesis's gzip compression ratio is above this (a loop). none: off.", cli_type=str
    )
    logprob_threshold: float | None = setting(
        -1.0, "Fallback when the hypothesis's average token log-probability is below this. none: off.", cli_type=str
    )
    no_speech_threshold: float | None = setting(
        None,
        "An utterance whose <|nospeech|> probability is above this, and whose average log-probability is below"
        " --logprob-threshold, is silence: an empty hypothesis. none: off (lwasr decode's default); lwasr"
        " transcribe's default is openai-whisper's transcribe's, 0.6.",
        cli_type=str,
    )
    fallback_seed: int = setting(
        0, "Seed of the fallback's sampling (with the hypothesis each sample replaces: reproducible)."
    )

    def __post_init__(self) -> None:
        from lwasr.decoding.precision import check_dtype

        # the command line's forms: "pl,pt" for a tuple of languages, a batch size of 0 for no limit
        if isinstance(self.lid_langs, str):
            object.__setattr__(self, "lid_langs", tuple(parse_langs(self.lid_langs)) if self.lid_langs else None)
        elif self.lid_langs is not None:
            object.__setattr__(self, "lid_langs", tuple(self.lid_langs) or None)
        if self.batch_size == 0:
            object.__setattr__(self, "batch_size", None)
        if self.scenario not in SCENARIOS:
            raise LwasrError(f"unknown scenario {self.scenario!r}; use one of {', '.join(SCENARIOS)}")
        if self.routing not in ROUTINGS:
            raise LwasrError(f"unknown routing {self.routing!r}; use one of {', '.join(ROUTINGS)}")
        check_dtype(self.dtype)
        object.__setattr__(self, "temperatures", _temperatures(self.temperatures))
        for name in ("compression_ratio_threshold", "logprob_threshold", "no_speech_threshold"):
            object.__setattr__(self, name, _threshold(getattr(self, name), name))
        if self.beam_size < 1:
            raise LwasrError("--beam-size must be at least 1")
        if self.batch_size is not None and self.batch_size < 1:
            raise LwasrError("--batch-size must be at least 1")
        if self.batch_size is None and self.max_duration is None:
            raise LwasrError("give --batch-size or --max-duration (or both)")
        if self.soft_top_k < 0:
            raise LwasrError("--soft-top-k must be at least 0 (0: hard routing)")
        if self.soft_top_k and self.scenario == "aware":
            raise LwasrError("--soft-top-k mixes experts by language ID: use --scenario agnostic or both")


def _temperatures(spec: str | Sequence[float]) -> tuple[float, ...]:
    """``--temperatures`` as a tuple: finite, at least 0, rising from the first (``0,0.2,...``)."""
    temps = tuple(finite_numbers(spec, "--temperatures"))
    if not temps or min(temps) < 0 or list(temps) != sorted(temps):
        raise LwasrError(f"--temperatures: expected rising temperatures of at least 0 (e.g. 0,0.2,0.4); got {spec!r}")
    return temps


def _threshold(value: str | float | None, name: str) -> float | None:
    """A threshold setting as a float, or None for ``none`` (the rule off)."""
    if value is None or (isinstance(value, str) and value.strip().lower() == "none"):
        return None
    flag = "--" + name.replace("_", "-")
    numbers = finite_numbers(str(value), flag)
    if len(numbers) != 1:
        raise LwasrError(f"{flag}: expected one number or none; got {value!r}")
    return numbers[0]


#: The options that only route the agnostic scenario: an aware decode does not depend on them.
AGNOSTIC_ONLY = tagged(DecodeOptions, AGNOSTIC)
#: The names of the decode options.
DECODE_FIELDS = frozenset(f.name for f in dataclasses.fields(DecodeOptions))


@dataclass(frozen=True, kw_only=True)
class SystemRun:
    """Which system decodes (``--system``, ``--model``), on which device and with how many CPU threads."""

    system: str = setting(help="embedded:whisper-base, a model dir, or an experts dir.")
    model: str | None = setting(None, "Base model for adapters (default: the one in their lwasr.json).")
    device: str | None = setting(None, "cpu, cuda, cuda:1... (default: cuda if any).")
    num_threads: int | None = setting(None, "torch CPU threads.")
    step_threads: int = setting(
        1,
        "torch CPU threads of greedy search's one-token decoder steps (small matmuls, where threads wait on each"
        " other: 4x faster in 1 thread on a loaded 2-core machine, docs/performance.md); the encoder and the first"
        " decoder call keep --num-threads. 0: --num-threads for the steps too. Hypotheses do not depend on it.",
    )

    def __post_init__(self) -> None:
        if self.step_threads < 0:
            raise LwasrError(f"--step-threads must be 0 (as --num-threads) or more, not {self.step_threads}")


def split_options(
    values: dict[str, Any], options_class: type[DecodeOptions] = DecodeOptions, **fixed: Any
) -> tuple[DecodeOptions, dict[str, Any]]:
    """The decode options (``options_class``: :class:`DecodeOptions`, or a command's class of other defaults) of the
    fields among ``values`` (by name), with ``fixed`` ones set by the command, and the other values: the one place
    where a command's decode options are built."""
    options = options_class(**{k: v for k, v in values.items() if k in DECODE_FIELDS}, **fixed)
    return options, {k: v for k, v in values.items() if k not in DECODE_FIELDS}


def decode_outputs(scenario: str, out_dir: str | Path, agnostic_out: str | Path | None) -> dict[str, Path]:
    """The decode dir of each part of ``scenario``: ``{scenario: out_dir}``, or the aware and agnostic ones of ``both``.

    The two dirs of ``both`` must be separate (neither equal to nor inside the other): one decode would
    otherwise discard or mix with the other.
    """
    if scenario != "both":
        if agnostic_out is not None:
            raise LwasrError("--agnostic-out is for --scenario both")
        return {scenario: Path(out_dir)}
    if agnostic_out is None:
        raise LwasrError("--scenario both writes two decodes: give --agnostic-out as well as --out")
    aware, agnostic = Path(out_dir), Path(agnostic_out)
    a, b = aware.resolve(), agnostic.resolve()
    if a == b or a in b.parents or b in a.parents:
        raise LwasrError(
            f"--out {aware} and --agnostic-out {agnostic} overlap (the same directory, or one inside the other);"
            f" the two decodes need separate directories, e.g. {aware.parent / (aware.name + '_agnostic')}"
        )
    return {"aware": aware, "agnostic": agnostic}


def check_lid_system(opts: DecodeOptions) -> None:
    """LwasrError when ``lid_system`` is given to a scenario that does not identify the language."""
    if opts.lid_system and opts.scenario == "aware":
        raise LwasrError(
            "--lid-system routes by language ID, which the aware scenario does not use: use --scenario agnostic or both"
        )


def use_threads(num_threads: int | None) -> None:
    """torch's CPU threads (``--num-threads``; None: torch's default)."""
    if num_threads:
        import torch

        torch.set_num_threads(num_threads)
