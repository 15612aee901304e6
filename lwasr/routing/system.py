"""The decodable ``router`` unit: its experts, routed by the router's language ID in the agnostic scenario.

``lwasr decode --system <router unit>`` loads the experts dir the unit references (checked against the router's
base fingerprint) and identifies each utterance's language with the router, on the decode's own encoder input
(the base model's encoder, adapters off; the features of :func:`lwasr.routing.model.pool`). That language picks
the prompt and the expert (hard), or the router's top-k probabilities weigh a mixture of experts (soft,
``--soft-top-k``). In the aware scenario the router is not used: the given language routes, as for the experts.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import torch
from torch import nn

from lwasr.decoding.greedy import WhisperParts
from lwasr.decoding.lid import LanguageSet
from lwasr.decoding.systems import ExpertSystem, load_experts
from lwasr.errors import LwasrError
from lwasr.models.trim import is_trimmed
from lwasr.routing.model import RouterHead, experts_dir_of, load_router, pool
from lwasr.units.kinds import register_loader
from lwasr.units.meta import ModelMeta

log = logging.getLogger(__name__)


def input_name(trimmed: bool) -> str:
    """How an encoder input is named in settings and logs."""
    return "trimmed" if trimmed else "30-s"


class RouterLid:
    """The router's language ID: its head on the pooled states of the base encoder (run in ``context``)."""

    def __init__(
        self,
        head: RouterHead,
        model: nn.Module,
        context: Callable[[], AbstractContextManager],
        langs: LanguageSet,
        head_langs: Sequence[str],
    ) -> None:
        self.head, self.model, self.context, self.langs = head, model, context, langs
        self.columns = [list(head_langs).index(c) for c in langs.codes]

    def __call__(self, feats: torch.Tensor, seconds: Sequence[float]) -> tuple[torch.Tensor, None]:
        with self.context():
            hidden = WhisperParts.of(self.model).encode(feats)
        logits = self.head.to(hidden.device)(pool(hidden, seconds))
        return logits[:, self.columns].softmax(-1), None


class RouterSystem(ExpertSystem):
    """Experts whose agnostic routing is the router's language ID (the unit :mod:`lwasr.routing.model` writes)."""

    kind = "router"
    closed_lid = True

    def __init__(self, experts: ExpertSystem, head: RouterHead, router_meta: ModelMeta, *, source: str) -> None:
        super().__init__(
            experts.model, experts.tokenizer, source=source, meta=experts.meta, languages=experts.languages
        )
        self.head = head.eval()
        self.router_meta = router_meta
        self.experts_source = experts.source

    def identifier(self, langs: Sequence[str] | None = None) -> RouterLid:
        """The router's LID over its languages (``langs``: a subset of them)."""
        known = self.router_meta.languages
        codes = list(langs) if langs else list(known)
        other = [c for c in codes if c not in known]
        if other:
            raise LwasrError(
                f"the router {self.source} identifies only {', '.join(known)}; --lid-langs asks for {', '.join(other)}"
            )
        trained = self.router_meta.trim_encoder_input
        if is_trimmed(self.model) != trained:
            log.warning(
                "the router %s was trained on %s input and now reads %s input (the decode's): expect a lower accuracy",
                self.source,
                input_name(trained),
                input_name(is_trimmed(self.model)),
            )
        langs_set = LanguageSet.build(self.model.generation_config.lang_to_id, codes)
        return RouterLid(self.head, self.model, self.lid_context, langs_set, known)

    def describe(self) -> dict[str, Any]:
        trained = input_name(self.router_meta.trim_encoder_input)
        return {**super().describe(), "experts": self.experts_source, "router_trained_on": trained}


@register_loader("router")
def load_router_system(spec: str, meta: ModelMeta | None, model_override: str | None) -> RouterSystem:
    """The decode loader of kind ``router``: its experts (only the router's languages) and its head."""
    router_meta, head = load_router(spec)
    experts_dir = experts_dir_of(spec, router_meta)
    experts = load_experts(experts_dir, model_override, languages=router_meta.languages)
    if experts.meta.base_fingerprint != router_meta.base_fingerprint:
        raise LwasrError(
            f"the router {spec} was trained on a base model with fingerprint {router_meta.base_fingerprint}, but"
            f" its experts {experts_dir} on one with fingerprint {experts.meta.base_fingerprint}; train the router"
            " again on these experts"
        )
    missing = [lang for lang in router_meta.languages if lang not in experts.languages]
    if missing:
        raise LwasrError(f"the router {spec} routes to {', '.join(missing)}, which have no expert in {experts_dir}")
    return RouterSystem(experts, head, router_meta, source=str(Path(spec)))
