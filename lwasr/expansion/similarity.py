"""Language similarity from the base Whisper's language ID.

The base model (no adapters) runs language ID over a language's audio; the per-utterance probability
vectors, restricted to a candidate set (softmax over the candidates' tokens, as ``decode --lid-langs``),
are averaged. The candidates ranked by mean probability are the language's neighbours: ``warm`` copies
the first one's expert, ``moe`` mixes the top k. The language's own Whisper code, when it has one, is
never a candidate (the point is to find a neighbour).

``similarity.json`` (:func:`similarity_record`)::

    {"lang": "it", "model": ..., "base_fingerprint": ..., "utterances": 40, "excluded": "it",
     "candidates": [...], "ranking": [{"lang": "pt", "prob": 0.41}, ...],
     "whisper_top": [{"lang": "it", "prob": 0.8}, ...]}

``whisper_top`` is the unrestricted LID (all of Whisper's languages, own code included): what Whisper
thinks the audio is.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from lhotse import CutSet
from lhotse.dataset.collation import collate_audio

from lwasr.atomic import atomic_path, write_json
from lwasr.data.cuts import cut_lang, load_cuts
from lwasr.decoding.lid import LanguageSet, language_probs
from lwasr.errors import LwasrError
from lwasr.features import CHUNK_SAMPLES, SAMPLE_RATE, LogMel
from lwasr.models.trim import set_trimmed_input
from lwasr.units.base import load_whisper
from lwasr.units.meta import base_fingerprint

log = logging.getLogger(__name__)

SIMILARITY_FILE = "similarity.json"


@dataclass
class LidStats:
    """Per-utterance LID probabilities over all of the model's languages, by audio language."""

    model: str
    fingerprint: str
    codes: tuple[str, ...]  # the model's language codes (columns of every probs matrix)
    probs: dict[str, torch.Tensor]  # audio language -> [utterances, len(codes)]

    def mean(self, lang: str, candidates: Sequence[str] | None = None) -> dict[str, float]:
        """Mean LID probability of ``lang``'s audio over ``candidates`` (renormalised per utterance), sorted."""
        if lang not in self.probs:
            raise LwasrError(f"no LID statistics for {lang!r}; have {', '.join(self.probs)}")
        cands = list(candidates) if candidates is not None else list(self.codes)
        unknown = [c for c in cands if c not in self.codes]
        if unknown:
            raise LwasrError(f"the base model has no language token for {', '.join(unknown)}")
        if not cands:
            raise LwasrError("no candidate languages to compare with")
        idx = torch.tensor([self.codes.index(c) for c in cands])
        p = self.probs[lang].index_select(1, idx)
        p = (p / p.sum(1, keepdim=True).clamp_min(1e-30)).mean(0)
        return dict(sorted(zip(cands, p.tolist(), strict=True), key=lambda kv: -kv[1]))


def collect_lid(
    model_spec: str,
    cuts_paths: Sequence[str | Path],
    langs: Sequence[str],
    *,
    max_utts: int = 100,
    batch_size: int = 8,
    trim: bool = False,
    device: str = "cpu",
) -> LidStats:
    """Run the base model's LID over the first ``max_utts`` utterances of each language in ``langs``.

    ``trim=False`` (default) pads to Whisper's 30 s window, as the base model was trained: its zero-shot
    LID is more reliable there.
    """
    cuts = load_cuts(cuts_paths, split=None)
    by_lang: dict[str, list] = {lang: [] for lang in langs}
    for cut in cuts:
        lang = cut_lang(cut)
        if lang in by_lang and len(by_lang[lang]) < max_utts:
            by_lang[lang].append(cut)
    missing = [lang for lang, cs in by_lang.items() if not cs]
    if missing:
        have = ", ".join(sorted({cut_lang(c) for c in cuts}))
        raise LwasrError(f"no cuts for language(s) {', '.join(missing)} in the manifests; they have: {have}")
    model, tok = load_whisper(model_spec)
    fingerprint = base_fingerprint(model)
    model.to(device)
    set_trimmed_input(model, trim)
    mel = LogMel(model.config.num_mel_bins).to(device)
    everything = LanguageSet.build(model.generation_config.lang_to_id)
    sot = tok.convert_tokens_to_ids("<|startoftranscript|>")
    probs = {}
    for lang, lang_cuts in by_lang.items():
        rows = []
        for i in range(0, len(lang_cuts), batch_size):
            batch = [
                c if c.sampling_rate == SAMPLE_RATE else c.resample(SAMPLE_RATE) for c in lang_cuts[i : i + batch_size]
            ]
            audio, _ = collate_audio(CutSet.from_cuts(batch))
            feats = mel(audio[:, :CHUNK_SAMPLES].to(device), trim=trim)
            rows.append(language_probs(model, sot, everything, input_features=feats).cpu())
        probs[lang] = torch.cat(rows)
        log.info("LID over %d utterances of %s", len(lang_cuts), lang)
    return LidStats(model_spec, fingerprint, everything.codes, probs)


def candidates_for(lang: str, stats: LidStats, base_langs: Sequence[str] | None) -> list[str]:
    """The candidate neighbours of ``lang``: ``base_langs`` (default: all the model's languages) minus ``lang``."""
    cands = [c for c in (base_langs if base_langs is not None else stats.codes) if c != lang]
    if not cands:
        raise LwasrError(
            f"no similar language can be found for {lang!r}: the set of base languages is empty"
            + (" (it holds only the new language itself)" if base_langs else "")
        )
    return cands


def similarity_record(stats: LidStats, lang: str, base_langs: Sequence[str] | None = None) -> dict[str, Any]:
    """The ``similarity.json`` contents for ``lang`` (see the module docstring)."""
    cands = candidates_for(lang, stats, base_langs)
    top = list(stats.mean(lang).items())[:10]
    return {
        "lang": lang,
        "model": stats.model,
        "base_fingerprint": stats.fingerprint,
        "utterances": int(stats.probs[lang].shape[0]),
        "excluded": lang if lang in stats.codes else None,
        "candidates": cands,
        "ranking": [{"lang": c, "prob": round(p, 6)} for c, p in stats.mean(lang, cands).items()],
        "whisper_top": [{"lang": c, "prob": round(p, 6)} for c, p in top],
    }


def read_ranking(path: str | Path, lang: str) -> list[tuple[str, float]]:
    """``(language, mean prob)`` pairs, most similar first, from a ``similarity.json`` written for ``lang``."""
    path = Path(path)
    if path.is_dir():
        path = path / SIMILARITY_FILE
    if not path.is_file():
        raise LwasrError(f"similarity file not found: {path} (write it with `lwasr lid-similarity`)")
    record = json.loads(path.read_text())
    if record.get("lang") != lang:
        raise LwasrError(f"{path} ranks the neighbours of {record.get('lang')!r}, not of {lang!r}")
    return [(r["lang"], float(r["prob"])) for r in record["ranking"] if r["lang"] != lang]


def write_similarity(record: dict[str, Any], out: str | Path) -> Path:
    """Write ``record`` to ``out`` (a ``.json`` path, or a directory that gets ``similarity.json``)."""
    out = Path(out)
    path = out if out.suffix == ".json" else out / SIMILARITY_FILE
    write_json(path, record)
    return path


def lid_matrix(stats: LidStats, rows: Sequence[str], cols: Sequence[str]) -> list[list[float]]:
    """Mean LID probability of each row language's audio over the column languages (rows sum to 1)."""
    return [[stats.mean(r, cols)[c] for c in cols] for r in rows]


def plot_heatmap(matrix: list[list[float]], rows: Sequence[str], cols: Sequence[str], out: str | Path) -> Path:
    """A PNG heatmap (rows: audio language, columns: LID probability), values written in the cells."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(1.0 + 0.6 * len(cols), 1.0 + 0.5 * len(rows)))
    im = ax.imshow(matrix, cmap="viridis", vmin=0.0, vmax=1.0, aspect="auto")
    ax.set_xticks(range(len(cols)), cols)
    ax.set_yticks(range(len(rows)), rows)
    ax.set_xlabel("language ID (base Whisper)")
    ax.set_ylabel("audio language")
    for i, row in enumerate(matrix):
        for j, v in enumerate(row):
            ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=7, color="white" if v < 0.5 else "black")
    fig.colorbar(im, ax=ax, fraction=0.05)
    fig.tight_layout()
    out = Path(out)
    with atomic_path(out) as tmp:
        fig.savefig(tmp, dpi=120, format="png")
    plt.close(fig)
    return out


def experts_base(experts: str | Path | None, model: str | None) -> tuple[list[str] | None, str]:
    """The base languages and base Whisper of a similarity run: ``experts``' languages and recorded base model.

    Without ``experts``: every language (None) and ``model`` or embedded:whisper-base. ``model`` always wins.
    """
    from lwasr.units.experts import discover_experts
    from lwasr.units.meta import ModelMeta

    found = discover_experts(experts) if experts is not None else {}
    recorded = ModelMeta.load(next(iter(found.values()))).base_model if found else None
    return (list(found) if experts is not None else None), model or recorded or "embedded:whisper-base"


def lid_similarity(
    model_spec: str,
    cuts_paths: Sequence[str | Path],
    lang: str,
    *,
    base_langs: Sequence[str] | None = None,
    matrix_langs: Sequence[str] | None = None,
    max_utts: int = 100,
    batch_size: int = 8,
    trim: bool = False,
    device: str = "cpu",
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The similarity record of ``lang`` and, with ``matrix_langs``, the LID matrix over those languages.

    The matrix record is ``{"rows": [...], "cols": [...], "matrix": [[...]]}``: rows are the audio
    languages of ``matrix_langs`` (plus ``lang``), columns the Whisper languages among them.
    """
    rows = list(dict.fromkeys([lang, *(matrix_langs or [])]))
    stats = collect_lid(
        model_spec, cuts_paths, rows, max_utts=max_utts, batch_size=batch_size, trim=trim, device=device
    )
    record = similarity_record(stats, lang, base_langs)
    if not matrix_langs:
        return record, None
    cols = [c for c in rows if c in stats.codes]
    if not cols:
        raise LwasrError("none of the matrix languages is one of Whisper's languages")
    return record, {"rows": rows, "cols": cols, "matrix": lid_matrix(stats, rows, cols)}
