"""Word timestamps of decoded chunks (``lwasr transcribe --word-timestamps``).

After a batch is decoded, each chunk's text is tokenised again and aligned to its audio
(:func:`lwasr.decoding.word_timing.align_words`) by the model state that decoded it: its language's expert for
expert systems, the model itself otherwise. That costs one more encoder pass per chunk and one decoder pass over
its text. Soft routing (``--soft-top-k``, a mixture per chunk) is not aligned.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from lwasr.decoding.batching import Utt
from lwasr.decoding.decoder import Decoder
from lwasr.decoding.greedy import whisper_of
from lwasr.decoding.word_timing import Word, align_words, alignment_heads, eager_attention
from lwasr.langcodes import uses_cer


class WordAligner:
    """Aligns the words of a decoder's hypotheses to their chunks' audio."""

    def __init__(self, decoder: Decoder) -> None:
        self.decoder = decoder
        self.heads = alignment_heads(decoder.model)
        eos = decoder.model.generation_config.eos_token_id
        self.eos_id = int(eos[0] if isinstance(eos, list) else eos)
        self.max_tokens = whisper_of(decoder.model).config.max_target_positions - 1  # <|endoftext|> follows

    def __call__(self, utts: Sequence[Utt], records: Sequence[dict[str, Any]]) -> dict[str, list[Word]]:
        """Words of each decoded chunk, by utterance id, in seconds from the chunk's start."""
        dec, system = self.decoder, self.decoder.system
        langs = [r["detected_lang"] or u.lang for u, r in zip(utts, records, strict=True)]
        adapters = [system.adapter_for(lang) if lang and system.routes_by_language else None for lang in langs]
        words: dict[str, list[Word]] = {}
        with torch.inference_mode(), eager_attention(dec.model):
            for adapter in dict.fromkeys(adapters):
                idx = [i for i, a in enumerate(adapters) if a == adapter]
                with system.activate(adapter):
                    hidden = dec.parts.encode(dec.features([utts[i] for i in idx]))
                    for row, i in enumerate(idx):
                        words[utts[i].id] = align_words(
                            dec.parts,
                            self.heads,
                            dec.tok,
                            hidden[row : row + 1],
                            dec.prompt(langs[i]),
                            self._tokens(records[i]["hyp"], langs[i]),
                            self.eos_id,
                            utts[i].duration,
                            langs[i],
                        )
        return words

    def _tokens(self, text: str, lang: str | None) -> list[int]:
        """The text tokens of a hypothesis, with the leading space Whisper decodes words with (none where a
        language has no word boundaries)."""
        if not text:
            return []
        spaced = text if lang is not None and uses_cer(lang) else " " + text
        tokens = list(self.decoder.tok.encode(spaced, add_special_tokens=False))
        return tokens[: self.max_tokens - len(self.decoder.prompt(lang))]  # the decoder's positions, as decoded
