"""The parity check of an export: the same cuts decoded greedily by lwasr and by the exported model.

lwasr decodes with its own greedy search (:func:`lwasr.decoding.greedy.greedy_search`, what ``lwasr decode``
runs) on the loaded system, before it is merged; the export decodes the same audio, in the same batches with
the same token budget, through transformers (``hf``) or CTranslate2 (``ct2``), reading the exported files
(feature extractor, generation config). Reported: the share of cuts whose tokens are identical, and the error
rates of both (:mod:`lwasr.scoring.metrics`) per language.

Both backends pad every clip to 30 s (transformers' Whisper encoder accepts nothing else, CTranslate2 pads).
The identity is measured against lwasr on padded (untrimmed) input too. A model trained on trimmed input
(lwasr.json ``trim_encoder_input``) is decoded by lwasr trimmed by default, so the report adds that decode and
what padding costs against it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from transformers import PreTrainedTokenizerBase

from lwasr.data.cuts import cut_lang, load_cuts
from lwasr.decoding.audio import load_audio
from lwasr.decoding.batching import MAX_SECONDS, Utt, make_batches, token_budget, utterances
from lwasr.decoding.greedy import GreedyRules, WhisperParts, forced_prompt, greedy_search
from lwasr.decoding.options import DecodeOptions
from lwasr.decoding.systems import System
from lwasr.errors import LwasrError
from lwasr.features import LogMel
from lwasr.models.trim import set_trimmed_input
from lwasr.progress import tqdm
from lwasr.scoring.metrics import score_records
from lwasr.units.prompt import prompt_ids

PARITY_FILE = "parity.json"
#: Budget rules (tokens per second of audio, Whisper's cap) and batch size of the parity decodes.
OPTS = DecodeOptions()
#: ``decode(audio [batch, samples], langs, max_new_tokens) -> new tokens per row, without the end token``.
Backend = Callable[[torch.Tensor, Sequence[str], int], list[list[int]]]


@dataclass
class Batch:
    """A parity batch: its utterances (one language), their audio and the token budget both sides get."""

    utts: list[Utt]
    audio: torch.Tensor
    max_new: int


def parity_cuts(cuts: Sequence[Path], langs: Sequence[str], n: int) -> list[Utt]:
    """The first ``n`` cuts (of at most 30 s) of each of ``langs`` (empty: of any labelled language) in ``cuts``:
    manifest files, or manifest directories (their test manifests).

    Raises LwasrError when the manifests have none, so that the export stops before any work.
    """
    wanted = set(langs)
    counts: dict[str, int] = {}
    picked = []
    for cut in load_cuts(list(cuts), split="test"):
        lang = cut_lang(cut, required=False)
        if lang is None or (wanted and lang not in wanted) or cut.duration > MAX_SECONDS + 1e-3:
            continue
        if counts.get(lang, 0) < n:
            counts[lang] = counts.get(lang, 0) + 1
            picked.append(cut)
    if not picked:
        which = f" of {', '.join(langs)}" if langs else " with a language"
        raise LwasrError(
            f"--cuts {', '.join(map(str, cuts))} has no cut{which} of at most 30 s for the parity check;"
            " give a manifest of the model's languages, or --parity-cuts 0 to skip the check"
        )
    return utterances(picked)


def batches_of(utts: Sequence[Utt]) -> list[Batch]:
    """Batches of one language each, with their audio loaded (kept in memory for both decodes)."""
    return [
        Batch(b, load_audio(b), token_budget(max(u.duration for u in b), OPTS))
        for b in make_batches(utts, OPTS, by_language=True)
    ]


def prompt_of(system: System) -> Callable[[str], list[int]]:
    """``lang -> decoder prompt`` as lwasr decodes: with the language token (aliases resolved) or without."""
    tokenizer, gen = system.tokenizer, system.model.generation_config
    if not system.lang_token:
        return lambda lang: prompt_ids(tokenizer, None)
    return lambda lang: forced_prompt(gen, lang)


def until_eos(tokens: Sequence[int], eos: int) -> list[int]:
    """``tokens`` up to (without) the first end token."""
    tokens = list(tokens)
    return tokens[: tokens.index(eos)] if eos in tokens else tokens


def lwasr_tokens(system: System, batches: Sequence[Batch], trim: bool, progress: bool = True) -> list[list[int]]:
    """lwasr's greedy tokens for every utterance of ``batches`` (in order), on trimmed or padded input."""
    model = system.model
    set_trimmed_input(model, trim)
    rules = GreedyRules.of(model)
    if rules is None:
        raise LwasrError(
            "the model's generation config asks for more than greedy search, which the parity check compares;"
            " pass --parity-cuts 0"
        )
    parts, mel, prompt = WhisperParts.of(model), LogMel(n_mels=model.config.num_mel_bins), prompt_of(system)
    out: list[list[int]] = []
    desc = f"parity: lwasr ({'trimmed' if trim else '30 s'})"
    with torch.inference_mode():
        for b in tqdm(batches, desc=desc, unit="batch", disable=not progress):
            with system.activate(system.adapter_for(b.utts[0].lang)):
                hidden = parts.encode(mel(b.audio, trim=trim))
                prompts = torch.tensor([prompt(u.lang) for u in b.utts])
                out += [until_eos(s, rules.eos_id) for s in greedy_search(parts, hidden, prompts, rules, b.max_new)]
    set_trimmed_input(model, False)
    return out


def export_tokens(decode: Backend, batches: Sequence[Batch], progress: bool = True) -> list[list[int]]:
    """The exported model's tokens for every utterance of ``batches`` (in order)."""
    out: list[list[int]] = []
    for b in tqdm(batches, desc="parity: export", unit="batch", disable=not progress):
        out += decode(b.audio, [u.lang for u in b.utts], b.max_new)
    return out


def texts(tokenizer: PreTrainedTokenizerBase, seqs: Sequence[Sequence[int]]) -> list[str]:
    """Hypotheses of token sequences, as lwasr decode writes them."""
    return [tokenizer.decode(list(s), skip_special_tokens=True).strip() for s in seqs]


def _rates(utts: Sequence[Utt], hyps: Sequence[str]) -> dict[str, dict[str, Any]]:
    records = [{"id": u.id, "lang": u.lang, "ref": u.ref, "hyp": h} for u, h in zip(utts, hyps, strict=True)]
    return score_records(records)["languages"]


def report(
    tokenizer: PreTrainedTokenizerBase,
    batches: Sequence[Batch],
    lwasr: Sequence[Sequence[int]],
    export: Sequence[Sequence[int]],
    trimmed: Sequence[Sequence[int]] | None,
    what: str,
) -> dict[str, Any]:
    """parity.json: token identity and per-language error rates (``trimmed``: lwasr's decode on trimmed input)."""
    utts = [u for b in batches for u in b.utts]
    same = sum(list(a) == list(b) for a, b in zip(lwasr, export, strict=True))
    ours, theirs = _rates(utts, texts(tokenizer, lwasr)), _rates(utts, texts(tokenizer, export))
    rows = {}
    for lang, r in ours.items():
        rows[lang] = {
            "metric": r["metric"],
            "cuts": r["utterances"],
            "lwasr": r["rate"],
            "export": theirs[lang]["rate"],
            "difference": round(theirs[lang]["rate"] - r["rate"], 2),
        }
    out: dict[str, Any] = {
        "export": what,
        "cuts": len(utts),
        "identical_cuts": same,
        "token_identity": round(100.0 * same / len(utts), 2),
        "error_rates": rows,
        "note": "greedy search on input padded to 30 s on both sides; error rates in percent",
    }
    if trimmed is not None:
        for lang, r in _rates(utts, texts(tokenizer, trimmed)).items():
            rows[lang]["lwasr_trimmed"] = r["rate"]
            rows[lang]["padding_cost"] = round(rows[lang]["export"] - r["rate"], 2)
        out["trimmed_input"] = (
            "the model was trained on trimmed encoder input, and lwasr decodes it trimmed by default; the export"
            " pads every clip to 30 s (CTranslate2 and transformers' Whisper encoder take nothing shorter):"
            " padding_cost is the export's error rate minus lwasr's trimmed one"
        )
    return out


def summary(parity: dict[str, Any]) -> str:
    """One line: token identity, error rates, and the cost of padding (trimmed-input models)."""
    if "skipped" in parity:
        return f"parity check skipped: {parity['skipped']}"
    rates = "; ".join(
        f"{lang} {r['metric']} lwasr {r['lwasr']:.2f}, export {r['export']:.2f} ({r['difference']:+.2f})"
        + (
            f", lwasr trimmed {r['lwasr_trimmed']:.2f} (30 s padding {r['padding_cost']:+.2f})"
            if "padding_cost" in r
            else ""
        )
        for lang, r in parity["error_rates"].items()
    )
    return (
        f"parity ({parity['export']}, {parity['cuts']} cuts): {parity['token_identity']:.1f}% token-identical; {rates}"
    )
