"""The non-weight parts of a Whisper model directory: tokenizer, feature extractor, generation config.

Shared by the CTranslate2 import and by the tiny test models, so both produce directories that
``from_pretrained`` loads and that ``generate(language=..., task="transcribe")`` understands.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from transformers import AddedToken, GenerationConfig, WhisperFeatureExtractor, WhisperTokenizerFast

from lwasr.errors import LwasrError

N_TIMESTAMPS = 1501  # <|0.00|> ... <|30.00|> in steps of 0.02 s


def load_tokenizer(tokenizer_json: str | Path, vocab_size: int | None = None) -> WhisperTokenizerFast:
    """A Whisper tokenizer from a ``tokenizer.json`` (as shipped with faster-whisper checkpoints).

    Timestamp tokens are appended when the file lacks them and ``vocab_size`` says the model has them,
    so that every id the model can emit decodes.
    """
    tokenizer_json = Path(tokenizer_json)
    if not tokenizer_json.is_file():
        raise LwasrError(f"tokenizer file not found: {tokenizer_json}")
    tok = WhisperTokenizerFast(tokenizer_file=str(tokenizer_json))
    if tok.convert_tokens_to_ids("<|startoftranscript|>") in (None, tok.unk_token_id):
        raise LwasrError(f"{tokenizer_json} is not a Whisper tokenizer (no <|startoftranscript|> token)")
    tok.pad_token = tok.eos_token
    if vocab_size is not None and len(tok) < vocab_size:
        missing = vocab_size - len(tok)
        if missing != N_TIMESTAMPS:
            raise LwasrError(
                f"tokenizer has {len(tok)} tokens but the model has {vocab_size}; expected a difference of"
                f" {N_TIMESTAMPS} timestamp tokens"
            )
        tok.add_tokens([AddedToken(f"<|{i * 0.02:.2f}|>", lstrip=False, rstrip=False) for i in range(missing)])
    return tok


def language_tokens(tok: WhisperTokenizerFast, lang_ids: Sequence[int] | None = None) -> dict[str, int]:
    """Map ``<|xx|>`` language tokens to ids: the given ``lang_ids``, or every language token the tokenizer has."""
    from transformers.models.whisper.tokenization_whisper import LANGUAGES

    if lang_ids is not None:
        return {tok.convert_ids_to_tokens(i): int(i) for i in lang_ids}
    out = {}
    for code in LANGUAGES:
        tid = tok.convert_tokens_to_ids(f"<|{code}|>")
        if tid is not None and tid != tok.unk_token_id:
            out[f"<|{code}|>"] = tid
    return out


def generation_config(
    tok: WhisperTokenizerFast,
    *,
    lang_ids: Sequence[int] | None = None,
    suppress_tokens: Sequence[int] = (),
    begin_suppress_tokens: Sequence[int] = (220, 50257),
    alignment_heads: Sequence[Sequence[int]] | None = None,
    max_length: int = 448,
) -> GenerationConfig:
    """A GenerationConfig with everything Whisper's ``generate`` needs for language and task handling."""
    ids = tok.convert_tokens_to_ids
    return GenerationConfig(
        decoder_start_token_id=ids("<|startoftranscript|>"),
        bos_token_id=tok.eos_token_id,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.eos_token_id,
        lang_to_id=language_tokens(tok, lang_ids),
        task_to_id={"transcribe": ids("<|transcribe|>"), "translate": ids("<|translate|>")},
        no_timestamps_token_id=ids("<|notimestamps|>"),
        prev_sot_token_id=ids("<|startofprev|>"),
        is_multilingual=True,
        suppress_tokens=[int(i) for i in suppress_tokens],
        begin_suppress_tokens=[int(i) for i in begin_suppress_tokens],
        alignment_heads=[list(map(int, h)) for h in alignment_heads] if alignment_heads else None,
        max_initial_timestamp_index=50,
        max_length=max_length,
        forced_decoder_ids=None,
    )


def feature_extractor(num_mel_bins: int) -> WhisperFeatureExtractor:
    """Whisper's log-mel feature extractor (80 bins up to large-v2, 128 for large-v3)."""
    return WhisperFeatureExtractor(feature_size=num_mel_bins)
