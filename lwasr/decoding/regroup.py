"""Language-agnostic decoding of experts without split batches.

Hard routing to experts (``--routing group``, no ``--soft-top-k``) in the agnostic scenario runs in two passes: the
first identifies the language of every batch (and, with ``--scenario both``, decodes it aware), the second regroups
the utterances still to decode by the expert their detected language routes to, across the first pass's batches,
and decodes full single-expert batches (:func:`regroup`). A batch of mixed languages is no longer split into one
small sub-batch per detected expert, and each expert is merged once.

Untrimmed input, each hypothesis is the one its utterance gets decoded alone with its routed expert (and the
prompt of its detected language): tests/test_regroup.py. Trimmed input, a hypothesis depends slightly on its
batch's padding, so on the other utterances its regrouped batch holds.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from lwasr.decoding.batching import Utt, make_batches
from lwasr.decoding.options import DecodeOptions


@dataclass(frozen=True)
class Routed:
    """An utterance and what language ID found for it: its language and that language's probability."""

    utt: Utt
    lang: str
    prob: float

    @property
    def detected(self) -> tuple[str, float]:
        """``(detected_lang, lid_prob)`` as ``hyp.jsonl`` records them."""
        return self.lang, self.prob


def regroup(
    routed: Sequence[Routed], opts: DecodeOptions, expert_of: Callable[[str], str | None]
) -> list[list[Routed]]:
    """Batches that each hold the utterances of one expert (``expert_of``: the adapter a language routes to; None,
    the base model), cut as :func:`lwasr.decoding.batching.make_batches` cuts them: longest first, at most
    ``batch_size`` utterances and ``max_duration`` seconds of audio."""
    by_id = {r.utt.id: r for r in routed}
    batches = make_batches([r.utt for r in routed], opts, key=lambda u: expert_of(by_id[u.id].lang))
    return [[by_id[u.id] for u in batch] for batch in batches]
