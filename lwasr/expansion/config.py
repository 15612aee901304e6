"""The expansion run's configuration (``lwasr expand``); imports nothing heavy, for the CLI."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from lwasr.errors import LwasrError
from lwasr.expansion import MOE_GATES
from lwasr.expansion.inits import get_init, init_names
from lwasr.training.config import TrainConfig, setting


def check_moe_gate(moe_gate: str) -> None:
    """Refuse an unknown ``--moe-gate``."""
    if moe_gate not in MOE_GATES:
        raise LwasrError(f"unknown --moe-gate {moe_gate!r}; use one of {', '.join(MOE_GATES)}")


def check_choices(init: str, moe_gate: str) -> None:
    """Refuse an unknown ``--init`` or ``--moe-gate``."""
    get_init(init)
    check_moe_gate(moe_gate)


@dataclass
class ExpandConfig(TrainConfig):
    """A :class:`TrainConfig` for one expansion run; the unit goes to ``out_dir``, the run dir beside it.

    ``lang`` (mode expert) / ``langs`` (mode full) hold ``prompt_lang``: the new language's cuts are read
    relabelled to it (``ExpandTrainer.read_cuts``), so the standard data pipeline prompts with that token.
    :func:`lwasr.expansion.expand.expand` fills these fields in from its options.
    """

    takes_init_adapter: ClassVar[bool] = False
    takes_lean_base: ClassVar[bool] = False
    init: str = setting("random", f"How the new language's unit starts: {' | '.join(init_names())} (see above).")
    cuts: list[str] = setting([], "Training manifest(s) or dirs; only the new language's cuts are used.")
    overwrite: bool = setting(
        False, "Start over: discard the run's checkpoints and train even if --out or an expert of --new-lang exists."
    )
    new_lang: str = setting("", "Code of the new language (Whisper's or not: it, szl, ...).")
    prompt_lang: str = setting("", "The Whisper language whose token prompts the new language.")
    out_dir: str = setting("", "The unit's directory.")
    experts_dir: str | None = setting(None, "The base experts' directory.")
    source: str | None = setting(
        None,
        "continue-*: the unit to continue (default exp/<tag>/full or /shared); warm: the copied expert (the run"
        " chooses it).",
    )
    moe_langs: list[str] = setting([], "moe: the base experts mixed in, most similar first.")
    moe_weights: list[float] = setting([], "moe: their fixed (or initial) weights.")
    moe_gate: str = setting("fixed", "moe: fixed (renormalised similarity) or learned (per-module softmax gate).")

    def _validate(self) -> None:
        super()._validate()
        check_choices(self.init, self.moe_gate)
        if not self.out_dir or not self.new_lang:
            raise LwasrError("an expansion run needs new_lang and out_dir")

    @property
    def run_name(self) -> str:
        return f"train_{Path(self.out_dir).name}"

    @property
    def unit_dir(self) -> Path:
        return Path(self.out_dir)


@dataclass(kw_only=True)
class ExpandOptions:
    """The settings of one ``lwasr expand`` of its own, beside the run's :class:`ExpandConfig` fields."""

    experts: Path = setting(help="The base experts, exp/<tag>/experts (never modified).")
    out: Path | None = setting(None, "Unit directory (default: exp/<tag>/expand_<init>/<lang>).")
    similarity: Path | None = setting(
        None, "similarity.json from `lwasr lid-similarity` (default: computed on the fly into the run dir)."
    )
    moe_k: int = setting(2, "moe: number of similar base experts mixed in.")
    lang_token_from: str | None = setting(
        None,
        "Prompt token of the new language: most-similar (the most similar base language's token) or a Whisper code."
        " Default: its own token if Whisper knows the language, else most-similar.",
    )
    model: str | None = setting(None, "Base Whisper (default: the one in the experts' lwasr.json); also runs LID.")
    similarity_max_utts: int = setting(
        100, "Utterances of the new language used for LID similarity.", flag="sim-max-utts"
    )
