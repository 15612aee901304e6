"""``valid_metric: wer``: the greedy dev WER of the model being trained (CER for zh and ja), macro-averaged over
languages, as ``lwasr decode --scenario aware`` and ``lwasr score`` would give it on the dev cuts."""

from __future__ import annotations

from typing import Any

import torch
from lhotse import CutSet
from torch import nn
from transformers import PreTrainedTokenizerBase

from lwasr.decoding.batching import make_batches, utterances
from lwasr.decoding.decoder import Decoder
from lwasr.decoding.options import DecodeOptions
from lwasr.decoding.systems import System
from lwasr.scoring.metrics import ErrorCounts, score_utterances
from lwasr.training.validation import register_dev_metric
from lwasr.units.meta import ModelMeta

#: Utterances per decoding batch (the recipe's decode batch size).
BATCH_SIZE = 16


@register_dev_metric("wer")
def greedy_dev_wer(model: nn.Module, tokenizer: PreTrainedTokenizerBase, cuts: CutSet, cfg: Any) -> float:
    """Macro-average error rate (%) of greedy decoding of ``cuts``, language given, with the run's prompt (with or
    without the language token) and encoder input (trimmed or 30 s); ``model`` is left in eval mode."""
    meta = ModelMeta("full", cfg.model, "", [], lang_token=cfg.lang_token, trim_encoder_input=cfg.trim_encoder_input)
    system = System(model, tokenizer, source=f"{cfg.run_name} (dev)", meta=meta)
    # plain greedy search: no temperature fallback, no no-speech rule (the dev WER of a checkpoint stays comparable)
    opts = DecodeOptions(scenario="aware", trim=cfg.trim_encoder_input, max_duration=cfg.max_duration,
                         batch_size=BATCH_SIZE, temperatures="0", no_speech_threshold=None)  # fmt: skip
    decoder = Decoder(system, opts, next(model.parameters()).device)
    records = []
    with torch.no_grad():
        for batch in make_batches(utterances(cuts), opts, by_language=True):
            records += decoder(batch)["aware"]
    per_lang: dict[str, ErrorCounts] = {}
    for s in score_utterances(records):
        per_lang[s.lang] = per_lang.get(s.lang, ErrorCounts()) + s.counts
    return sum(c.rate for c in per_lang.values()) / max(len(per_lang), 1)
