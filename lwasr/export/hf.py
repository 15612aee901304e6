"""``--format hf``: a standalone Hugging Face Whisper directory, and its decoding through transformers.

The directory is what ``WhisperForConditionalGeneration.from_pretrained`` and
``pipeline("automatic-speech-recognition")`` load: merged weights, the tokenizer, the feature extractor, and the
generation config of the base (language ids, suppressed tokens, alignment heads) with the new languages'
borrowed prompt tokens registered as aliases (:mod:`lwasr.units.prompt`). It also carries ``lwasr.json`` (kind
``full``), so ``lwasr decode --system DIR`` decodes it too.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from transformers import WhisperFeatureExtractor, WhisperForConditionalGeneration

from lwasr.decoding.systems import System
from lwasr.export.parity import until_eos
from lwasr.features import SAMPLE_RATE
from lwasr.units.merge import merged_whisper, save_standalone
from lwasr.units.meta import ModelMeta, base_fingerprint


def export_meta(system: System, languages: list[str], info: dict[str, Any]) -> ModelMeta:
    """The exported directory's lwasr.json: kind ``full``, the unit's settings, and ``extra.export`` = ``info``."""
    meta = system.meta
    if meta is None:  # a base model: decoded untrimmed, like any base
        return ModelMeta("full", system.source, base_fingerprint(system.model), languages, trim_encoder_input=False)
    extra = {**meta.extra, "export": info}
    return ModelMeta("full", meta.base_model, meta.base_fingerprint, languages, meta.lang_token,
                     meta.trim_encoder_input, extra)  # fmt: skip


def write_hf(system: System, out: Path, meta: ModelMeta) -> None:
    """Write the system, merged (its model is used up), into ``out`` with lwasr.json ``meta``."""
    save_standalone(merged_whisper(system.model), system.tokenizer, out)
    meta.save(out)


class HfDecoder:
    """Greedy decoding of an exported directory with transformers, as a user runs it (``generate(language=)``).

    ``prompt``: the decoder prompt of a language, used only for a model trained without the language token.
    """

    def __init__(self, path: Path, lang_token: bool, prompt: Callable[[str], list[int]]) -> None:
        self.model = WhisperForConditionalGeneration.from_pretrained(path).eval()
        self.features = WhisperFeatureExtractor.from_pretrained(path)
        self.lang_token, self.prompt = lang_token, prompt

    def __call__(self, audio: torch.Tensor, langs: Sequence[str], max_new: int) -> list[list[int]]:
        rows = [a.numpy() for a in audio]
        inputs = self.features(rows, sampling_rate=SAMPLE_RATE, return_tensors="pt", return_attention_mask=True)
        kwargs: dict[str, Any] = {"language": list(langs), "task": "transcribe"}
        if not self.lang_token:  # the language only stops generate's own language detection
            kwargs["decoder_input_ids"] = torch.tensor([self.prompt(lang) for lang in langs])
        # max_length, not max_new_tokens: Whisper's generate counts it in new tokens (see lwasr.decoding.decoder)
        config = copy.deepcopy(self.model.generation_config)
        config.update(num_beams=1, do_sample=False, max_new_tokens=None, max_length=max_new)
        with torch.inference_mode():
            out = self.model.generate(
                inputs.input_features,
                attention_mask=inputs.attention_mask,
                generation_config=config,
                return_timestamps=False,
                **kwargs,
            )
        return [until_eos(row, int(config.eos_token_id)) for row in out.tolist()]
