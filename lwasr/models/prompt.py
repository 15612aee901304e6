"""Whisper decoder prompts and targets, shared by training, decoding and distillation.

Training sequence: ``<|startoftranscript|> [<|lang|>] <|transcribe|> <|notimestamps|> text <|endoftext|>``.
Without the language token (``lang=None``) the model learns to transcribe without being told the
language, which language-agnostic students need.
"""

from __future__ import annotations

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
