"""The registry of ``lwasr expand --init``: how a new language's unit starts, one :class:`ExpansionInit` each.

Everything that lists or checks the inits reads it: the CLI's choices and help, :class:`ExpandConfig`'s
validation, the plan of :func:`lwasr.expansion.expand.plan_expand` and the trainer's model. A new init is one
module plus one :func:`register_init` call; one that starts its model in a new way gives ``build``. This module
imports nothing heavy, for the CLI.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lwasr.registry import Registry

#: ``start`` values: a fresh LoRA with the experts' settings; a copy of the most similar base expert; a fresh LoRA
#: mixed with the most similar base experts (frozen); the continued unit itself.
STARTS = ("fresh", "similar", "mixture", "continued")


@dataclass(frozen=True)
class ExpansionInit:
    """One init: ``start`` (see :data:`STARTS`); ``continues``: the baseline unit it continues, ``exp/<tag>/<name>``
    (``full``: the whole model is trained; else its LoRA); ``build(trainer, base)``: the model of a new kind of
    start (default: by ``start``)."""

    name: str
    help: str
    start: str = "fresh"
    continues: str | None = None
    build: Callable[[Any, Any], Any] | None = None

    @property
    def mode(self) -> str:
        """The training mode: full when it continues the full fine-tune, else expert (one LoRA)."""
        return "full" if self.continues == "full" else "expert"

    @property
    def unit_kind(self) -> str:
        """The kind of unit it continues (full or lora)."""
        return "full" if self.mode == "full" else "lora"

    @property
    def similar(self) -> bool:
        """Whether it needs the base languages ranked by LID similarity."""
        return self.start in ("similar", "mixture")

    @property
    def warm(self) -> bool:
        """Whether its LoRA starts from an adapter unit (``source``), whose LoRA settings it keeps."""
        return self.start == "similar" or (self.start == "continued" and self.mode != "full")

    @property
    def mixes(self) -> bool:
        """Whether base experts are mixed in (``--moe-k``, ``--moe-gate``): a unit of kind moe."""
        return self.start == "mixture"


_INITS: Registry[ExpansionInit] = Registry("unknown --init {name}; use one of {known}")


def register_init(init: ExpansionInit) -> ExpansionInit:
    """Make ``init`` a choice of ``lwasr expand --init``."""
    if init.start not in STARTS:
        raise ValueError(f"expansion init {init.name!r}: start must be one of {', '.join(STARTS)}")
    return _INITS.register(init.name, init)


init_names = _INITS.names
get_init = _INITS.get


def inits_help() -> str:
    """The ``Inits (--init)`` paragraphs of ``lwasr expand --help``."""
    return "\n\n".join(f"  {i.name:<16} {i.help}" for i in _INITS.items())


register_init(ExpansionInit("random", "a fresh LoRA with the experts' settings (new expert from scratch)."))
register_init(
    ExpansionInit(
        "warm",
        "copy the expert of the most similar base language (base Whisper LID on the new audio, or --similarity),"
        " then train it on the new language.",
        start="similar",
    )
)
register_init(
    ExpansionInit(
        "moe",
        "a fresh LoRA mixed with the --moe-k most similar base experts (frozen); --moe-gate fixed (similarity"
        " weights) or learned (per-module softmax over new + base_1..k). Writes a unit of kind moe.",
        start="mixture",
    )
)
register_init(
    ExpansionInit(
        "continue-full",
        "forgetting baseline: fine-tune exp/<tag>/full on the new language.",
        start="continued",
        continues="full",
    )
)
register_init(
    ExpansionInit(
        "continue-shared",
        "forgetting baseline: keep training exp/<tag>/shared on the new language.",
        start="continued",
        continues="shared",
    )
)
