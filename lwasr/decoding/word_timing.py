"""Word timestamps from the cross-attention of a decoded text, as openai-whisper's ``whisper/timing.py`` finds them.

It needs no timestamp tokens, so it works for models fine-tuned without them (what lwasr trains):

1. one teacher-forced decoder pass over ``prompt + text tokens + <|endoftext|>`` on the chunk's encoder output,
   with the cross-attention weights of the model's alignment heads (``generation_config.alignment_heads``; without
   them, every head of the second half of the decoder layers, openai-whisper's default) and each text token's
   probability;
2. the weights normalised per head over the tokens, median-filtered over time (width 7) and averaged over heads;
3. dynamic time warping (:func:`dtw`) of the tokens onto the encoder frames (50 per second): a token starts at
   the first frame of its row on the path;
4. tokens grouped into words (:func:`split_words`: a space-prefixed token or a punctuation mark starts a word; in
   languages without word boundaries, zh, ja, th, lo, my, yue, each token, or run of byte tokens that makes a
   whole character, is a word), each from its first token's start to the next word's start, with the mean
   probability of its tokens;
5. words longer than twice the median word duration (at most 0.7 s) shortened where they meet a sentence end,
   and at the clip's start (:func:`shorten_long_words`, openai-whisper's heuristics: DTW stretches a word over
   the silence beside it); then punctuation is merged into its word (:func:`merge_punctuations`).
"""

from __future__ import annotations

import contextlib
import logging
import string
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from lwasr.decoding.greedy import WhisperParts, whisper_of
from lwasr.langcodes import uses_cer

log = logging.getLogger(__name__)

#: Encoder frames per second of audio (Whisper's 10-ms mel frames, halved by its second convolution).
FRAMES_PER_SECOND = 50
MEDIAN_FILTER_WIDTH = 7
#: Punctuation merged into the following word, and into the preceding one (openai-whisper's defaults).
PREPEND_PUNCTUATION = "\"'“¿([{-"
APPEND_PUNCTUATION = "\"'.。,，!！?？:：”)]}、"


@dataclass(frozen=True)
class Word:
    """A word (with its leading space, as decoded), from ``start`` to ``end`` seconds, and the mean probability of
    its tokens."""

    word: str
    start: float
    end: float
    probability: float


def dtw(cost: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The cheapest monotone path through ``cost`` ``[rows, cols]`` from ``(0, 0)`` to the last cell, moving one row,
    one column or both at a time: its row and column indices (openai-whisper's ``dtw_cpu``; ties go to a column
    step, then a row step).

    The table is filled one anti-diagonal at a time, in numpy: every cell of ``i + j = k`` needs only diagonals
    ``k - 1`` and ``k - 2``. Stored skewed (``acc[k, i]`` is cell ``(i, k - i)``), each diagonal's three
    neighbours are slices, so the fill takes ``rows + cols`` vector steps instead of ``rows * cols`` Python ones;
    the path is that of the cell-by-cell loop (bench/dtw.py holds it, and times both)."""
    rows, cols = cost.shape
    diagonals = rows + cols + 1
    acc = np.full((diagonals, rows + 1), np.inf)  # acc[k, i]: cost of the best path to cell (i, k - i)
    acc[0, 0] = 0.0
    skewed = np.full((diagonals, rows + 1), np.inf)
    i = np.arange(1, rows + 1)[:, None]
    skewed[i + np.arange(1, cols + 1), i] = cost  # skewed[k, i] = cost[i - 1, k - i - 1]
    moves = np.zeros((diagonals, rows + 1), dtype=np.int8)  # 0 diagonal, 1 row step (up), 2 column step (left)
    for k in range(2, diagonals):
        lo, hi = max(1, k - cols), min(rows, k - 1)
        diagonal, up, left = acc[k - 2, lo - 1 : hi], acc[k - 1, lo - 1 : hi], acc[k - 1, lo : hi + 1]
        move = np.where((diagonal < up) & (diagonal < left), 0, np.where((up < diagonal) & (up < left), 1, 2))
        acc[k, lo : hi + 1] = skewed[k, lo : hi + 1] + np.choose(move, (diagonal, up, left))
        moves[k, lo : hi + 1] = move
    r, c = rows, cols
    path = []
    while r > 0 or c > 0:
        path.append((r - 1, c - 1))
        move = 2 if r == 0 else 1 if c == 0 else moves[r + c, r]  # along the table's edges: straight to (0, 0)
        if move == 0:
            r, c = r - 1, c - 1
        elif move == 1:
            r -= 1
        else:
            c -= 1
    steps = np.array(path[::-1])
    return steps[:, 0], steps[:, 1]


def median_filter(x: torch.Tensor, width: int) -> torch.Tensor:
    """``x`` median-filtered along its last dimension (odd ``width``, edges reflected); unchanged when too short."""
    pad = width // 2
    if x.shape[-1] <= pad:
        return x
    shape = x.shape
    flat = F.pad(x.reshape(-1, 1, shape[-1]), (pad, pad), mode="reflect")
    return flat.unfold(-1, width, 1).median(-1).values.reshape(shape)


def alignment_heads(model: nn.Module) -> list[tuple[int, int]]:
    """``(decoder layer, head)`` pairs whose cross-attention follows the speech: the generation config's
    ``alignment_heads``, else (logged) every head of the second half of the decoder layers, as openai-whisper."""
    heads = getattr(model.generation_config, "alignment_heads", None)
    if heads:
        return [(int(layer), int(head)) for layer, head in heads]
    config = whisper_of(model).config
    layers, per_layer = config.decoder_layers, config.decoder_attention_heads
    log.info(
        "the model names no alignment heads; word timestamps use every head of decoder layers %d-%d",
        layers // 2,
        layers - 1,
    )
    return [(layer, head) for layer in range(layers // 2, layers) for head in range(per_layer)]


@contextlib.contextmanager
def eager_attention(model: nn.Module) -> Iterator[None]:
    """Eager attention while the block runs (SDPA returns no attention weights), the model's own after."""
    whisper = whisper_of(model)
    before = whisper.config._attn_implementation
    if before == "eager":
        yield
        return
    whisper.set_attn_implementation("eager")
    try:
        yield
    finally:
        whisper.set_attn_implementation(before)


def split_words(tokenizer, tokens: Sequence[int], lang: str | None) -> list[list[int]]:
    """``tokens`` grouped into words: in languages without word boundaries each token (or run of byte tokens making
    whole characters) is one, else a token that starts with a space or is punctuation starts a word
    (openai-whisper's ``split_to_word_tokens``)."""
    pieces = _unicode_pieces(tokenizer, tokens)
    if lang is not None and uses_cer(lang):
        return pieces
    words: list[list[int]] = []
    for piece in pieces:
        text = tokenizer.decode(piece)
        if not words or text.startswith(" ") or text.strip() in string.punctuation:
            words.append(list(piece))
        else:
            words[-1] += piece
    return words


def _unicode_pieces(tokenizer, tokens: Sequence[int]) -> list[list[int]]:
    """``tokens`` in runs that each decode to whole characters (a character may take several byte tokens)."""
    pieces: list[list[int]] = []
    current: list[int] = []
    for token in tokens:
        current.append(token)
        if "\ufffd" not in tokenizer.decode(current):
            pieces.append(current)
            current = []
    if current:
        pieces.append(current)
    return pieces


SENTENCE_END_MARKS = ".。!！?？"


def shorten_long_words(words: Sequence[Word]) -> list[Word]:
    """Words over twice the median duration (median capped at 0.7 s) cut to that: a sentence mark at its end, a
    word after a sentence mark at its start, and the clip's first word at its start (openai-whisper's
    ``find_alignment`` and ``add_word_timestamps``, lwasr's clips beginning at 0)."""
    durations = [w.end - w.start for w in words if w.end > w.start]
    if not durations:
        return list(words)
    longest = 2 * min(0.7, float(np.median(durations)))
    out = list(words)
    for i in range(1, len(out)):
        if out[i].end - out[i].start > longest:
            if out[i].word.strip() in SENTENCE_END_MARKS:
                out[i] = replace(out[i], end=round(out[i].start + longest, 3))
            elif out[i - 1].word.strip() in SENTENCE_END_MARKS:
                out[i] = replace(out[i], start=round(out[i].end - longest, 3))
    first = out[0]
    if first.end > 2 * longest and first.end - first.start > longest:
        out[0] = replace(first, start=round(first.end - longest, 3))
    return out


def merge_punctuations(words: Sequence[Word]) -> list[Word]:
    """Opening punctuation joined to the word after it, closing punctuation to the word before it; the joined
    word keeps its own times and probability."""
    merged = list(words)
    i = len(merged) - 2
    while i >= 0:  # opening marks, right to left
        if merged[i].word.startswith(" ") and merged[i].word.strip() in PREPEND_PUNCTUATION:
            merged[i + 1] = replace(merged[i + 1], word=merged[i].word + merged[i + 1].word.lstrip())
            del merged[i]
        i -= 1
    i = 1
    while i < len(merged):  # closing marks, left to right
        if not merged[i - 1].word.endswith(" ") and merged[i].word in APPEND_PUNCTUATION:
            merged[i - 1] = replace(merged[i - 1], word=merged[i - 1].word + merged[i].word)
            del merged[i]
        else:
            i += 1
    return merged


def align_words(
    parts: WhisperParts,
    heads: Sequence[tuple[int, int]],
    tokenizer,
    encoder_hidden: torch.Tensor,
    prompt: Sequence[int],
    tokens: Sequence[int],
    eos_id: int,
    seconds: float,
    lang: str | None,
) -> list[Word]:
    """The words of the text ``tokens`` decoded after ``prompt`` from ``encoder_hidden`` ``[1, frames, d]`` (a clip
    of ``seconds``), with times in seconds from the clip's start. Call under :func:`eager_attention`."""
    if not tokens:
        return []
    ids = torch.tensor([[*prompt, *tokens, eos_id]], device=encoder_hidden.device)
    out = parts.decoder(input_ids=ids, encoder_hidden_states=encoder_hidden, output_attentions=True)
    first = len(prompt) - 1  # the position that predicts the first text token
    logits = parts.proj_out(out.last_hidden_state[0, first : first + len(tokens)]).float()
    token_probs = logits.softmax(-1)[torch.arange(len(tokens)), torch.tensor(tokens)].cpu().numpy()
    frames = max(1, min(encoder_hidden.shape[1], round(seconds * FRAMES_PER_SECOND)))
    weights = torch.stack([out.cross_attentions[layer][0, head] for layer, head in heads]).float()
    weights = weights[:, first : first + len(tokens) + 1, :frames]
    std, mean = torch.std_mean(weights, dim=-2, keepdim=True, unbiased=False)
    weights = median_filter((weights - mean) / std.clamp_min(1e-10), MEDIAN_FILTER_WIDTH)
    rows, cols = dtw(-weights.mean(0).cpu().numpy())
    starts = cols[np.diff(rows, prepend=-1).astype(bool)] / FRAMES_PER_SECOND  # a row's first frame: its start
    groups = split_words(tokenizer, tokens, lang)
    bounds = np.cumsum([0] + [len(g) for g in groups])
    words = [
        Word(
            tokenizer.decode(group),
            round(float(starts[b]), 3),
            round(float(starts[e]), 3),
            round(float(token_probs[b:e].mean()), 4),
        )
        for group, b, e in zip(groups, bounds[:-1], bounds[1:], strict=True)
    ]
    return merge_punctuations(shorten_long_words(words))
