"""Language codes: corpus codes -> Whisper codes, and which languages are scored by CER.

The one place that knows this; every other module asks here.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from types import MappingProxyType

from lwasr.errors import LwasrError

#: Languages written without word boundaries: scored by character error rate.
CER_LANGUAGES = frozenset({"zh", "ja", "th", "lo", "my", "yue"})

FLEURS_EXCEPTIONS = {
    "cmn_hans_cn": "zh",
    "nb_no": "no",
    "fil_ph": "tl",
    "jv_id": "jw",
    "yue_hant_hk": "yue",
}

#: Multilingual LibriSpeech directory names (mls_<name>).
MLS_LANGUAGES = {
    "english": "en",
    "german": "de",
    "dutch": "nl",
    "french": "fr",
    "spanish": "es",
    "italian": "it",
    "portuguese": "pt",
    "polish": "pl",
}

#: Common Voice locale codes that differ from Whisper's (others map by the part before "-").
COMMONVOICE_EXCEPTIONS = {
    "zh-CN": "zh",
    "zh-TW": "zh",
    "zh-HK": "yue",
    "yue": "yue",
    "nan-tw": "zh",
    "nb-NO": "no",
    "nn-NO": "nn",
    "pa-IN": "pa",
    "sv-SE": "sv",
    "ga-IE": "ga",
    "hy-AM": "hy",
    "es-ES": "es",
    "fy-NL": "fy",
    "rm-sursilv": "rm",
    "jv": "jw",
    "fil": "tl",
}


@functools.cache
def whisper_languages() -> Mapping[str, str]:
    """Whisper code -> English name, for the 99 (100 with yue) languages Whisper knows: transformers' table, read on
    first use (importing its tokenizer module takes a second, which ``--help`` should not pay). Read-only: it is
    cached, so a caller's edit would change every later answer."""
    from transformers.models.whisper.tokenization_whisper import LANGUAGES

    return MappingProxyType(dict(LANGUAGES))


@functools.cache
def _name_to_code() -> Mapping[str, str]:
    """English name (and alias) -> Whisper code: transformers' table, read on first use (read-only, as cached)."""
    from transformers.models.whisper.tokenization_whisper import TO_LANGUAGE_CODE

    return MappingProxyType(dict(TO_LANGUAGE_CODE))


def is_whisper_code(code: str | None) -> bool:
    """Whether Whisper knows the language ``code``."""
    return code in whisper_languages()


#: The corpora's exceptions, by lower-case code, for codes found in datasets.
_DATASET_EXCEPTIONS = {k.lower(): v for k, v in (FLEURS_EXCEPTIONS | COMMONVOICE_EXCEPTIONS).items()}


def check_whisper_code(code: str) -> str:
    """Return ``code`` if Whisper knows it; otherwise raise LwasrError listing the known codes."""
    if not is_whisper_code(code):
        known = " ".join(sorted(whisper_languages()))
        raise LwasrError(f"unknown language code {code!r}; Whisper's codes are: {known}")
    return code


def fleurs_to_whisper(code: str) -> str:
    """FLEURS code (``pl_pl``, ``cmn_hans_cn``) -> Whisper code (``pl``, ``zh``)."""
    return check_whisper_code(FLEURS_EXCEPTIONS.get(code, code.split("_")[0]))


def mls_to_whisper(name: str) -> str:
    """MLS language name (``polish``) -> Whisper code (``pl``)."""
    key = name.lower().removeprefix("mls_")
    if key not in MLS_LANGUAGES:
        raise LwasrError(f"unknown MLS language {name!r}; MLS has: {', '.join(MLS_LANGUAGES)}")
    return MLS_LANGUAGES[key]


def commonvoice_to_whisper(locale: str) -> str:
    """Common Voice locale (``pl``, ``zh-CN``, ``pt``) -> Whisper code."""
    return check_whisper_code(COMMONVOICE_EXCEPTIONS.get(locale, locale.split("-")[0]))


def dataset_to_whisper(code: str) -> str | None:
    """A language as a dataset labels it -> Whisper code, or None when it is not one Whisper knows.

    Accepts Whisper codes (``pl``), FLEURS codes (``pl_pl``, ``cmn_hans_cn``), Common Voice locales (``pt-BR``,
    ``zh-CN``) and English names (``Polish``, FLEURS's ``Mandarin Chinese``); case does not matter.
    """
    key = code.strip().lower()
    for name in (key, re.split(r"[-_\s]", key)[0]):  # then the part before "-", "_" or a space
        found = _DATASET_EXCEPTIONS.get(name) or _name_to_code().get(name) or name
        if is_whisper_code(found):
            return found
    return None


def uses_cer(lang: str) -> bool:
    """True for languages scored by CER (no word boundaries): zh, ja, th, lo, my, yue."""
    return lang in CER_LANGUAGES


def parse_langs(spec: str | list[str]) -> list[str]:
    """Split a ``pl,pt,zh`` option into a list of validated Whisper codes (order kept, duplicates removed)."""
    items = spec.split(",") if isinstance(spec, str) else spec
    out: list[str] = []
    for item in (s.strip() for s in items):
        if item and item not in out:
            out.append(check_whisper_code(item))
    if not out:
        raise LwasrError("no language given")
    return out
