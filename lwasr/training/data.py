"""Training data: Lhotse manifests -> checked, filtered CutSets -> bucketing sampler -> batches of audio + targets.

Features are not computed here: the trainer turns the batch's audio into log-mel on its device
(:class:`lwasr.features.LogMel`), so data-loader workers only read audio and tokenize.
"""

from __future__ import annotations

import random
import warnings
from collections import Counter
from collections.abc import Iterator, Sequence
from typing import Any

import torch
from lhotse import CutSet
from lhotse.dataset import DynamicBucketingSampler, DynamicCutSampler
from lhotse.dataset.collation import collate_audio
from lhotse.dataset.sampling.base import CutSampler
from lhotse.dataset.sampling.dynamic_bucketing import estimate_duration_buckets
from transformers import PreTrainedTokenizerBase

from lwasr.data.cuts import cut_lang, cut_text
from lwasr.errors import LwasrError
from lwasr.features import SAMPLE_RATE
from lwasr.langcodes import check_whisper_code
from lwasr.units.prompt import eot_id, prompt_ids, text_ids

MAX_SECONDS = 30.0
IGNORE = -100


def language_hours(cuts: CutSet) -> dict[str, float]:
    """Hours of audio per language; raises LwasrError on an empty set or a cut longer than 30 s."""
    seconds: Counter[str] = Counter()
    for cut in cuts:
        if cut.duration > MAX_SECONDS:
            raise LwasrError(
                f"cut {cut.id} is {cut.duration:.1f} s long; Whisper takes at most 30 s. Segment long recordings"
                " with `lwasr prepare` (it splits them into supervisions of at most 30 s)"
            )
        seconds[cut_lang(cut)] += cut.duration
    if not seconds:
        raise LwasrError("the training manifest is empty")
    return {lang: s / 3600 for lang, s in sorted(seconds.items())}


def select_languages(cuts: CutSet, langs: Sequence[str] | None, what: str = "training") -> CutSet:
    """Keep the cuts of ``langs`` (all when None); a missing language is an error naming those present."""
    present = language_hours(cuts)
    for lang in present:
        check_whisper_code(lang)
    if langs is None:
        return cuts
    missing = [lang for lang in langs if lang not in present]
    if missing:
        raise LwasrError(
            f"no {what} cuts for language(s) {', '.join(missing)}; the manifests have: {', '.join(present)}"
        )
    wanted = set(langs)
    return CutSet.from_cuts([c for c in cuts if cut_lang(c) in wanted])


def first_per_language(cuts: CutSet, n: int) -> CutSet:
    """The first ``n`` cuts of each language, in manifest order (all when ``n`` is 0): a low-resource subset."""
    if n <= 0:
        return cuts
    taken: Counter[str] = Counter()
    keep = []
    for cut in cuts:
        lang = cut_lang(cut)
        if taken[lang] < n:
            taken[lang] += 1
            keep.append(cut)
    return CutSet.from_cuts(keep)


def speed_perturbed(cuts: CutSet, factors: Sequence[float]) -> CutSet:
    """The cuts plus one speed-perturbed copy per factor (copies longer than 30 s are dropped).

    Deterministic (a fixed set of copies, not a random choice per batch), so resuming stays exact.
    """
    if not factors:
        return cuts
    copies = [c for f in factors for c in cuts.perturb_speed(f) if c.duration <= MAX_SECONDS]
    return CutSet.from_cuts([*cuts, *copies])


def make_sampler(
    cuts: CutSet, max_duration: float, *, num_buckets: int, shuffle: bool, seed: int, world_size: int, rank: int
) -> CutSampler:
    """Duration-bucketed batches of at most ``max_duration`` seconds, this rank's share of them.

    Fewer than 2 buckets (``num_buckets`` 1, a single cut, or cuts too few for lhotse to find a duration boundary
    between buckets) means no bucketing: lhotse's bucketing sampler needs at least 2 (with no boundary it averages
    an empty list of them, numpy's "Mean of empty slice").

    CutSets are read eagerly (our corpora fit in memory), so with ``shuffle`` the whole set is permuted
    once (the sampler itself only shuffles within its buffer, which would keep pooled languages in runs).
    """
    if shuffle:
        cuts = cuts.shuffle(random.Random(seed))
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*eagerly read CutSet")
        buckets = min(num_buckets, len(cuts))  # lhotse needs at least one cut per bucket
        return _bucketing_sampler(cuts, max_duration, buckets, shuffle, seed, world_size, rank)


def _bucketing_sampler(
    cuts: CutSet, max_duration: float, num_buckets: int, shuffle: bool, seed: int, world_size: int, rank: int
) -> CutSampler:
    kw = dict(max_duration=max_duration, shuffle=shuffle, drop_last=False, seed=seed, world_size=world_size, rank=rank)
    if num_buckets < 2 or not estimate_duration_buckets(cuts, num_buckets):
        return DynamicCutSampler(cuts, **kw)
    return DynamicBucketingSampler(cuts, num_buckets=num_buckets, **kw)


class AsrDataset(torch.utils.data.Dataset):
    """Map a CutSet (one batch from the sampler) to audio, decoder inputs and labels.

    Audio at another sampling rate is resampled to 16 kHz on load.
    Returns ``audio [B, samples]`` (16 kHz, zero-padded), ``audio_lens``, ``decoder_input_ids`` and
    ``labels`` (``[B, L]``; the prompt and padding are -100 in labels so the loss covers text + end
    token only), ``texts``, ``langs``, ``ids`` and ``seconds`` (total audio duration).
    """

    def __init__(self, tokenizer: PreTrainedTokenizerBase, *, lang_token: bool, max_target_len: int = 448) -> None:
        self.tokenizer = tokenizer
        self.lang_token = lang_token
        self.max_target_len = max_target_len
        self.eot = eot_id(tokenizer)

    def __getitem__(self, cuts: CutSet) -> dict[str, Any]:
        cuts = CutSet.from_cuts(c if c.sampling_rate == SAMPLE_RATE else c.resample(SAMPLE_RATE) for c in cuts)
        cuts = cuts.sort_by_duration()
        audio, audio_lens = collate_audio(cuts)
        langs = [cut_lang(c) for c in cuts]
        texts = [cut_text(c) for c in cuts]
        seqs = [self._sequence(c.id, t, lang) for c, t, lang in zip(cuts, texts, langs, strict=True)]
        width = max(len(ids) for ids, _ in seqs) - 1
        inputs = torch.full((len(seqs), width), self.eot, dtype=torch.long)
        labels = torch.full((len(seqs), width), IGNORE, dtype=torch.long)
        for i, (ids, n_prompt) in enumerate(seqs):
            inputs[i, : len(ids) - 1] = torch.tensor(ids[:-1])
            labels[i, n_prompt - 1 : len(ids) - 1] = torch.tensor(ids[n_prompt:])
        return {
            "audio": audio,
            "audio_lens": audio_lens,
            "decoder_input_ids": inputs,
            "labels": labels,
            "texts": texts,
            "langs": langs,
            "ids": [c.id for c in cuts],
            "seconds": float(sum(c.duration for c in cuts)),
        }

    def _sequence(self, cut_id: str, text: str, lang: str) -> tuple[list[int], int]:
        prompt = prompt_ids(self.tokenizer, lang if self.lang_token else None)
        ids = prompt + text_ids(self.tokenizer, text) + [self.eot]
        if len(ids) > self.max_target_len:
            raise LwasrError(f"cut {cut_id}: transcript is {len(ids)} tokens, the decoder takes {self.max_target_len}")
        return ids, len(prompt)


class SkipFirst(torch.utils.data.Sampler):
    """Wrap a sampler so that its next iteration skips the first ``skip`` batches (exact mid-epoch resume).

    Lhotse's own ``state_dict()`` counts batches the DataLoader has *drawn*, which runs ahead of the
    batches trained on when workers prefetch; the trainer counts batches *consumed* and skips them here.
    Skipping happens in the sampler, so no audio is read for the skipped batches.
    """

    def __init__(self, sampler: CutSampler, skip: int = 0) -> None:
        self.sampler = sampler
        self.skip = skip

    def __iter__(self) -> Iterator[CutSet]:
        it = iter(self.sampler)
        for _ in range(self.skip):
            next(it, None)
        self.skip = 0
        return it


def make_loader(dataset: AsrDataset, sampler: SkipFirst, num_workers: int) -> torch.utils.data.DataLoader:
    """A DataLoader over sampler batches (``batch_size=None``: the sampler already makes batches)."""
    return torch.utils.data.DataLoader(
        dataset, sampler=sampler, batch_size=None, num_workers=num_workers, persistent_workers=False
    )


def spec_augment(
    feats: torch.Tensor, *, freq_masks: int, freq_width: int, time_masks: int, time_width: int
) -> torch.Tensor:
    """SpecAugment on log-mel ``[B, mels, frames]``: zero (set to the minimum) random frequency and time bands.

    Uses the torch RNG of the features' device, which checkpoints save, so resuming stays exact.
    """
    out = feats.clone()
    fill = feats.amin(dim=(1, 2), keepdim=True)
    batch, mels, frames = feats.shape
    for axis, count, width, size in ((1, freq_masks, freq_width, mels), (2, time_masks, time_width, frames)):
        for _ in range(count):
            w = torch.randint(0, width + 1, (batch, 1), device=feats.device)
            start = (torch.rand(batch, 1, device=feats.device) * (size - w).clamp(min=1)).long()
            pos = torch.arange(size, device=feats.device).unsqueeze(0)
            mask = (pos >= start) & (pos < start + w)  # [B, size]
            mask = mask.unsqueeze(2) if axis == 1 else mask.unsqueeze(1)
            out = torch.where(mask, fill.expand_as(out), out)
    return out


def token_loss(logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, int]:
    """Cross-entropy of ``logits [B, L, V]`` summed over the labelled tokens (text + end token; :data:`IGNORE`
    positions skipped), and the number of those tokens: the trainer's loss."""
    loss = torch.nn.functional.cross_entropy(logits.transpose(1, 2), labels, ignore_index=IGNORE, reduction="sum")
    return loss, int((labels != IGNORE).sum())
