"""Text normalizers applied to reference and hypothesis before they are split into scoring units.

- ``whisper-basic`` (the default): Whisper's language-independent ``BasicTextNormalizer``, what the papers
  and most published tables use. Lower case, bracketed and parenthesised text removed, NFKC, then every
  mark, symbol and punctuation character (Unicode categories M*, S*, P*) becomes a space. Its flaw: the
  combining marks of abugidas (Devanagari, Bengali, Tamil, Thai...) are marks too, so their words fall
  apart into letters ("प्राचीन" -> "प र च न") and their WER is wrong. Precomposed letters (Polish "ż",
  Greek "ά") are single characters after NFKC and are kept.
- ``basic-keep-marks``: the same, but combining marks are kept; only symbols and punctuation become spaces.
- ``none``: the text as written, only whitespace collapsed (case and punctuation count as errors).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from functools import lru_cache

from lwasr.errors import LwasrError

DEFAULT_NORMALIZER = "whisper-basic"
NORMALIZERS = ("whisper-basic", "basic-keep-marks", "none")


def _remove_symbols_keep_marks(text: str) -> str:
    """NFKC, then symbols and punctuation (S*, P*) to spaces; combining marks (M*) stay."""
    return "".join(" " if unicodedata.category(c)[0] in "SP" else c for c in unicodedata.normalize("NFKC", text))


def _whitespace_only(text: str) -> str:
    return " ".join(text.split())


@lru_cache(maxsize=8)
def get_normalizer(name: str) -> Callable[[str], str]:
    """The normalizer called ``name`` (one of :data:`NORMALIZERS`); LwasrError for any other name."""
    if name == "none":
        return _whitespace_only
    if name in ("whisper-basic", "basic-keep-marks"):
        from transformers.models.whisper.english_normalizer import BasicTextNormalizer  # slow to import: on use

        normalizer = BasicTextNormalizer()
        if name == "basic-keep-marks":
            normalizer.clean = _remove_symbols_keep_marks  # the one step that differs: what becomes a space
        return normalizer
    raise LwasrError(f"unknown normalizer {name!r}: use one of {', '.join(NORMALIZERS)}")
