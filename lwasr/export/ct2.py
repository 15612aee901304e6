"""``--format ct2``: a CTranslate2 Whisper directory that ``faster_whisper.WhisperModel(DIR)`` loads, and its decoding.

The merged model is saved as a Hugging Face directory in a temporary place beside the output and converted by
``ctranslate2.converters.TransformersConverter`` (offline), which writes ``model.bin``, ``config.json`` (language
ids, suppressed tokens, alignment heads from the generation config) and ``vocabulary.json``;
``tokenizer.json`` and ``preprocessor_config.json`` are copied beside them, which faster-whisper needs.
Borrowed prompt languages (aliases in ``lang_to_id``) are left out of the conversion: CTranslate2 knows only
language tokens, so a new language is decoded with its prompt language's code.
"""

from __future__ import annotations

import copy
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from transformers import WhisperFeatureExtractor

from lwasr.decoding.systems import System
from lwasr.errors import LwasrError
from lwasr.export.config import QUANTIZATIONS
from lwasr.features import SAMPLE_RATE
from lwasr.units.merge import PREPROCESSOR_FILE, merged_whisper, save_standalone

TOKENIZER_FILE = "tokenizer.json"


def _ctranslate2():
    try:
        import ctranslate2
        import ctranslate2.converters
    except ImportError as e:
        raise LwasrError("--format ct2 needs CTranslate2: pip install ctranslate2 (or faster-whisper)") from e
    return ctranslate2


def check_quantization(quantization: str) -> None:
    """LwasrError unless ``quantization`` is one that faster-whisper runs on CPU and GPU."""
    if quantization not in QUANTIZATIONS:
        raise LwasrError(f"unknown --quantization {quantization!r}; use one of {', '.join(QUANTIZATIONS)}")


def write_ct2(system: System, out: Path, quantization: str) -> None:
    """Convert the system, merged (its model is used up), into the CTranslate2 directory ``out``."""
    ct2 = _ctranslate2()
    model = merged_whisper(system.model)
    gen = copy.deepcopy(model.generation_config)
    gen.lang_to_id = {k: v for k, v in gen.lang_to_id.items() if k.startswith("<|")}
    model.generation_config = gen
    with tempfile.TemporaryDirectory(prefix=f".{out.name}.hf", dir=out.parent) as staging:
        save_standalone(model, system.tokenizer, Path(staging))
        converter = ct2.converters.TransformersConverter(staging, copy_files=[TOKENIZER_FILE, PREPROCESSOR_FILE])
        converter.convert(str(out), quantization=quantization, force=True)  # force: ``out`` is an empty temporary


def ct2_max_length(max_new: int, prompt_len: int) -> int:
    """CTranslate2's ``max_length`` that lets Whisper generate ``max_new`` tokens after a prompt of ``prompt_len``.

    CTranslate2 4.x stops after ``max_length - prompt_len + 1`` new tokens and, like openai-whisper's
    ``sample_len``, after ``max_length // 2`` (measured; tests/test_export.py checks the tokens against lwasr's).
    """
    return max(2 * max_new, max_new + prompt_len - 1)


class Ct2Decoder:
    """Greedy decoding of a CTranslate2 export with ``ctranslate2.models.Whisper`` (the engine of faster-whisper).

    Features come from the exported ``preprocessor_config.json``; ``prompt`` gives a language's decoder prompt
    (ids: aliases of borrowed languages are resolved by lwasr).
    """

    def __init__(self, path: Path, prompt: Callable[[str], list[int]]) -> None:
        ct2 = _ctranslate2()
        self.ct2 = ct2
        self.model = ct2.models.Whisper(str(path), device="cpu", compute_type="default")
        self.features = WhisperFeatureExtractor.from_pretrained(path)
        self.prompt = prompt

    def __call__(self, audio: torch.Tensor, langs: Sequence[str], max_new: int) -> list[list[int]]:
        rows = [a.numpy() for a in audio]
        feats = self.features(rows, sampling_rate=SAMPLE_RATE, return_tensors="np").input_features
        prompts = [self.prompt(lang) for lang in langs]
        results = self.model.generate(
            self.ct2.StorageView.from_array(np.ascontiguousarray(feats, dtype=np.float32)),
            prompts,
            beam_size=1,
            max_length=ct2_max_length(max_new, len(prompts[0])),
        )
        return [list(r.sequences_ids[0]) for r in results]
