"""Whisper decoder prompts and targets (training, decoding, distillation), and prompt languages of new languages.

Training sequence: ``<|startoftranscript|> [<|lang|>] <|transcribe|> <|notimestamps|> text <|endoftext|>``.
Without the language token (``lang=None``) the model learns to transcribe without being told the
language, which language-agnostic students need.

New languages outside Whisper's list borrow another language's token. ``lwasr expand`` records the borrowed
token in the unit's ``lwasr.json`` (``extra.prompt_lang``, and the new language in ``extra.expansion.new_lang``).
Decoding registers the new code as an alias of that token in the model's ``generation_config.lang_to_id``:
transformers looks a bare code up there first, so ``generate(language="szl")`` emits ``<|pl|>`` without any
change to the decode loop.

Caveat (language-agnostic decoding): language ID then lists the alias as a candidate with the same logit as
its token; ties go to the first (the real Whisper language). Restrict ``--lid-langs`` to avoid it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from transformers import PreTrainedTokenizerBase

from lwasr.errors import LwasrError


def _token_id(tokenizer: PreTrainedTokenizerBase, token: str) -> int:
    tid = tokenizer.convert_tokens_to_ids(token)
    if tid is None or (tid == tokenizer.unk_token_id and token != tokenizer.unk_token):
        raise LwasrError(f"the model's tokenizer has no {token} token")
    return int(tid)


def prompt_ids(tokenizer: PreTrainedTokenizerBase, lang: str | None, task: str = "transcribe") -> list[int]:
    """Decoder prompt ids: start-of-transcript, the language token (unless ``lang`` is None), task, no timestamps."""
    tokens = ["<|startoftranscript|>"] + ([f"<|{lang}|>"] if lang is not None else [])
    tokens += [f"<|{task}|>", "<|notimestamps|>"]
    return [_token_id(tokenizer, t) for t in tokens]


def text_ids(tokenizer: PreTrainedTokenizerBase, text: str) -> list[int]:
    """Token ids of a transcript as Whisper emits it: a leading space, no special tokens, no end token."""
    return list(tokenizer(" " + text.strip(), add_special_tokens=False).input_ids)


def eot_id(tokenizer: PreTrainedTokenizerBase) -> int:
    """The end-of-transcript id (``<|endoftext|>``)."""
    return _token_id(tokenizer, "<|endoftext|>")


def prompt_language(meta: Any) -> tuple[str, str] | None:
    """``(new language, prompt language)`` recorded in an lwasr.json (ModelMeta), or None."""
    prompt = meta.extra.get("prompt_lang") if meta is not None else None
    if not prompt:
        return None
    lang = meta.extra.get("expansion", {}).get("new_lang") or (meta.languages[0] if len(meta.languages) == 1 else None)
    return (lang, prompt) if lang else None


def alias_prompt_languages(model: Any, metas: Iterable[Any]) -> None:
    """Register every unit's new language as an alias of its prompt token in ``model.generation_config``."""
    for meta in metas:
        pair = prompt_language(meta)
        if pair is None:
            continue
        lang, prompt = pair
        gen = model.generation_config
        table = dict(getattr(gen, "lang_to_id", None) or {})
        if lang == prompt or f"<|{lang}|>" in table:
            continue
        if f"<|{prompt}|>" not in table:
            raise LwasrError(f"the model has no language token <|{prompt}|> (the prompt language of {lang})")
        gen.lang_to_id = {**table, lang: table[f"<|{prompt}|>"]}
