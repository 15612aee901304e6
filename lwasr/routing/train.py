"""Training and evaluating the router: features of the frozen base encoder, a dev-selected head, LID accuracy.

Features: each utterance's encoder states (the base model's, no adapter) mean-pooled over its own frames
(:func:`lwasr.routing.model.pool`), computed once, on the input the experts decode (trimmed or 30 s). The head is
trained by full-batch AdamW on them; the step with the best dev accuracy (then the lowest dev loss) is kept.
The base model's language ID comes from the same encoder pass, so the accuracies compare on the same input.
"""

from __future__ import annotations

import copy
import json
import logging
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
import yaml
from torch import nn

from lwasr.atomic import atomic_path, check_output
from lwasr.data.cuts import cut_lang, load_cuts
from lwasr.decoding.audio import load_audio
from lwasr.decoding.batching import make_batches, utterances
from lwasr.decoding.decoder import default_device
from lwasr.decoding.greedy import WhisperParts
from lwasr.decoding.lid import LanguageSet, language_probs
from lwasr.decoding.options import DecodeOptions
from lwasr.errors import LwasrError
from lwasr.features import LogMel
from lwasr.models.trim import set_trimmed_input
from lwasr.output_lock import holding_lock
from lwasr.progress import tqdm
from lwasr.routing.config import RouterConfig
from lwasr.routing.model import RouterHead, experts_ref, load_router, pool, save_router
from lwasr.training.data import first_per_language, select_languages
from lwasr.units.base import load_base_of
from lwasr.units.experts import discover_experts, load_experts
from lwasr.units.meta import ModelMeta

log = logging.getLogger(__name__)

PRODUCER = "lwasr router train"
LOG_FILE = "training.jsonl"
#: The ids of the train and dev cuts left out because no expert has their language, by split and language.
LEFT_OUT_FILE = "left_out.json"
#: The two encoder inputs accuracy is reported on: trimmed to the batch's length, and padded to 30 s.
INPUTS = {"trimmed": True, "30s": False}


@dataclass
class Encoded:
    """Pooled base-encoder states of some utterances, the base model's LID of them, and their languages."""

    pooled: torch.Tensor  # [n, d_model]
    base_probs: torch.Tensor  # [n, len(codes)]: the base model's LID over all of Whisper's languages
    codes: tuple[str, ...]
    labels: list[str]


def encode(
    model: nn.Module,
    tokenizer: Any,
    cuts: Any,
    *,
    trim: bool,
    batch_size: int,
    device: torch.device,
    desc: str,
    progress: bool = True,
) -> Encoded:
    """:class:`Encoded` of ``cuts`` through ``model``'s encoder (trimmed or 30-s input), with a progress bar."""
    set_trimmed_input(model, trim)
    model.to(device)
    mel = LogMel(n_mels=model.config.num_mel_bins).to(device)
    parts = WhisperParts.of(model)
    sot = tokenizer.convert_tokens_to_ids("<|startoftranscript|>")
    everything = LanguageSet.build(model.generation_config.lang_to_id)
    pooled, probs, labels = [], [], []
    utts = utterances(cuts)
    bar = tqdm(total=len(utts), unit="utt", desc=desc, disable=not progress)
    with torch.inference_mode(), bar:
        for batch in make_batches(utts, DecodeOptions(batch_size=batch_size), by_language=False):
            hidden = parts.encode(mel(load_audio(batch).to(device), trim=trim))
            pooled.append(pool(hidden, [u.duration for u in batch]).cpu())
            probs.append(language_probs(model, sot, everything, encoder_hidden=hidden).cpu())
            labels += [u.lang for u in batch]
            bar.update(len(batch))
    return Encoded(torch.cat(pooled), torch.cat(probs), everything.codes, labels)


def _targets(labels: Sequence[str], langs: Sequence[str]) -> torch.Tensor:
    return torch.tensor([langs.index(lang) for lang in labels])


def fit(
    train: Encoded, dev: Encoded, langs: Sequence[str], cfg: RouterConfig
) -> tuple[RouterHead, list[dict[str, float]]]:
    """Train a head on ``train`` for ``cfg.steps`` full-batch steps; return the best one on ``dev`` and the log."""
    torch.manual_seed(cfg.seed)
    x, y = train.pooled, _targets(train.labels, langs)
    dev_x, dev_y = dev.pooled, _targets(dev.labels, langs)
    head = RouterHead(x.shape[1], len(langs), cfg.hidden if cfg.head == "mlp" else 0)
    head.standardise_on(x)
    optimizer = torch.optim.AdamW(head.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    history: list[dict[str, float]] = []
    best: tuple[float, float] | None = None
    best_state = copy.deepcopy(head.state_dict())
    for step in range(1, cfg.steps + 1):
        head.train()
        loss = nn.functional.cross_entropy(head(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        train_loss = loss.item()
        head.eval()
        with torch.no_grad():
            logits = head(dev_x)
            dev_loss = float(nn.functional.cross_entropy(logits, dev_y))
            dev_acc = float((logits.argmax(-1) == dev_y).float().mean())
        history.append({"step": step, "train_loss": train_loss, "dev_loss": dev_loss, "dev_accuracy": dev_acc})
        if best is None or (dev_acc, -dev_loss) > best:
            best, best_state = (dev_acc, -dev_loss), copy.deepcopy(head.state_dict())
            history[-1]["best"] = 1.0
        if step % 50 == 0 or step == cfg.steps:
            log.info(
                "router step %d: train loss %.4f, dev loss %.4f, dev accuracy %.4f", step, train_loss, dev_loss, dev_acc
            )
    head.load_state_dict(best_state)
    return head.eval(), history


def accuracies(head: RouterHead, enc: Encoded, langs: Sequence[str]) -> dict[str, Any]:
    """LID accuracy of the router and of the base model (over all its languages, and over the experts')."""
    with torch.no_grad():
        router = [langs[i] for i in head(enc.pooled).argmax(-1).tolist()]
    columns = [enc.codes.index(lang) for lang in langs]
    choices = {
        "router": router,
        "base": [enc.codes[i] for i in enc.base_probs.argmax(-1).tolist()],
        "base_over_experts": [langs[i] for i in enc.base_probs[:, columns].argmax(-1).tolist()],
    }

    def share(picked: Sequence[str], rows: Sequence[int]) -> float:
        return round(sum(picked[i] == enc.labels[i] for i in rows) / len(rows), 4) if rows else float("nan")

    every = range(len(enc.labels))
    per_lang = {lang: [i for i in every if enc.labels[i] == lang] for lang in langs}
    return {
        "utterances": len(enc.labels),
        **{name: share(picked, every) for name, picked in choices.items()},
        "per_language": {
            lang: {name: share(picked, rows) for name, picked in choices.items()}
            for lang, rows in per_lang.items()
            if rows
        },
    }


def _device(cfg: RouterConfig) -> torch.device:
    return torch.device(default_device(None if cfg.device == "auto" else cfg.device))


@dataclass
class RouterPlan:
    """One ``lwasr router train``, resolved and checked by :func:`plan_router` (nothing loaded or written)."""

    experts_dir: Path
    langs: list[str]
    train: list[str]
    dev: list[str]
    out: Path
    config: RouterConfig
    model: str | None = None
    keep: bool = False  # ``out`` is an earlier router, kept

    def to_yaml(self) -> str:
        plain = {**asdict(self), "experts_dir": str(self.experts_dir), "out": str(self.out)}
        return yaml.safe_dump(plain, sort_keys=False, allow_unicode=True)


def plan_router(
    experts_dir: str | Path,
    train: Sequence[str | Path],
    dev: Sequence[str | Path],
    out: str | Path,
    cfg: RouterConfig,
    *,
    model: str | None = None,
    overwrite: bool = False,
) -> RouterPlan:
    """Resolve and check the router of the experts in ``experts_dir``, trained on ``train``, selected on ``dev``,
    written to ``out``; reads only metadata."""
    out, experts_dir = Path(out), Path(experts_dir)
    job = RouterPlan(experts_dir, [], [str(p) for p in train], [str(p) for p in dev], out, cfg, model)
    if check_output(out, PRODUCER) and not overwrite:
        job.keep = True
        return job
    if not dev:
        raise LwasrError("the router is selected on dev data: give --dev")
    job.langs = list(discover_experts(experts_dir))
    if not job.langs:
        raise LwasrError(f"{experts_dir} holds no experts (<lang>/ lora units); train them first")
    if len(job.langs) < 2:
        raise LwasrError(f"{experts_dir} holds one expert ({job.langs[0]}); a router chooses between at least two")
    load_experts(experts_dir, job.langs)  # its errors: experts that cannot be combined
    return job


@holding_lock(lambda job, **_: [job.out])
def run_router(job: RouterPlan, *, progress: bool = True) -> str:
    """Train the router :func:`plan_router` resolved and write the ``router`` unit; return a summary line (dev
    LID accuracy, router vs base)."""
    out, cfg = job.out, job.config
    if job.keep:
        return f"{out} is already trained (an earlier `{PRODUCER}`); --overwrite trains it again"
    experts = load_experts(job.experts_dir, job.langs)
    langs = [e.lang for e in experts]
    base, tok = load_base_of({e.lang: e.meta for e in experts}, job.model)
    trim = experts[0].meta.trim_encoder_input if cfg.trim_encoder_input is None else cfg.trim_encoder_input
    pooled = {"train": load_cuts(job.train, split="train"), "dev": load_cuts(job.dev, split="dev")}
    left_out = {what: _left_out(cuts, langs, what) for what, cuts in pooled.items()}
    train_cuts = first_per_language(select_languages(pooled["train"], langs), cfg.max_utts)
    dev_cuts = _of_languages(pooled["dev"], langs, "dev")
    device = _device(cfg)
    common = {"batch_size": cfg.batch_size, "device": device, "progress": progress}
    enc_train = encode(base, tok, train_cuts, trim=trim, desc="router features (train)", **common)
    enc_dev = {
        name: encode(base, tok, dev_cuts, trim=t, desc=f"router features (dev, {name})", **common)
        for name, t in sorted(INPUTS.items(), key=lambda kv: kv[1] != trim)  # the training input first
    }
    input_name = next(name for name, t in INPUTS.items() if t == trim)
    head, history = fit(enc_train, enc_dev[input_name], langs, cfg)
    accuracy = {name: accuracies(head, enc, langs) for name, enc in enc_dev.items()}
    first = experts[0].meta
    meta = ModelMeta(
        "router",
        job.model or first.base_model,
        first.base_fingerprint,
        langs,
        lang_token=first.lang_token,
        trim_encoder_input=trim,
        extra={
            "router": {
                "head": cfg.head,
                "hidden": cfg.hidden if cfg.head == "mlp" else 0,
                "d_model": int(enc_train.pooled.shape[1]),
                "features": "base encoder states (no adapter), mean over the clip's frames",
                "experts": experts_ref(job.experts_dir, out),
                "config": asdict(cfg),
                "train_utterances": dict(sorted(Counter(enc_train.labels).items())),
                "left_out": {
                    what: {lang: len(ids) for lang, ids in by_lang.items()} for what, by_lang in left_out.items()
                },
                "best_step": max(h["step"] for h in history if h.get("best")),
                "dev_accuracy": accuracy,
            }
        },
    )
    with atomic_path(out, is_dir=True, producer=PRODUCER) as tmp:
        save_router(tmp, head, meta)
        (tmp / LOG_FILE).write_text("".join(json.dumps(h) + "\n" for h in history), encoding="utf-8")
        (tmp / LEFT_OUT_FILE).write_text(json.dumps({"reason": "no_expert", **left_out}, indent=1), encoding="utf-8")
    return f"{out}: {summary_line(accuracy)}"


def train_router(*args: Any, progress: bool = True, **kwargs: Any) -> str:
    """Train the router of the experts in ``experts_dir`` on the pooled ``train`` cuts, select it on ``dev``, and
    write the ``router`` unit to ``out``: :func:`run_router` of :func:`plan_router` (which takes the arguments)."""
    return run_router(plan_router(*args, **kwargs), progress=progress)


def _left_out(cuts: Iterable[Any], langs: Sequence[str], what: str) -> dict[str, list[str]]:
    """The ids of the ``what`` cuts whose language has no expert (not in ``langs``), by language; logs their count."""
    left: dict[str, list[str]] = {}
    for c in cuts:
        lang = cut_lang(c, required=False)
        if lang not in langs:
            left.setdefault(str(lang), []).append(c.id)
    if left:
        counts = ", ".join(f"{lang} {len(ids)}" for lang, ids in sorted(left.items()))
        log.warning(
            "left out %d %s cuts of languages without an expert (%s)", sum(map(len, left.values())), what, counts
        )
    return dict(sorted(left.items()))


def _of_languages(cuts: Iterable[Any], langs: Sequence[str], what: str) -> list[Any]:
    """The ``what`` cuts of ``langs`` (other languages are left out); LwasrError when there are none."""
    cuts = [c for c in cuts if cut_lang(c, required=False) in langs]
    if not cuts:
        raise LwasrError(f"the {what} manifests have no cuts of the experts' languages ({', '.join(langs)})")
    return cuts


def summary_line(accuracy: dict[str, dict[str, Any]]) -> str:
    """``LID accuracy on N utts, trimmed: router x, base y (over the experts' languages z); 30 s: ...``."""
    parts = [
        f"{name}: router {a['router']:.4f}, base {a['base']:.4f} (over the experts' languages"
        f" {a['base_over_experts']:.4f})"
        for name, a in accuracy.items()
    ]
    n = next(iter(accuracy.values()))["utterances"]
    return f"LID accuracy on {n} utterances, " + "; ".join(parts)


def evaluate_router(
    unit_dir: str | Path,
    cuts: Sequence[str | Path],
    cfg: RouterConfig,
    *,
    model: str | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """LID accuracy of a router unit and of its base model on ``cuts``, on trimmed and on 30-s input."""
    meta, head = load_router(unit_dir)
    base, tok = load_base_of({str(unit_dir): meta}, model, what="the router")
    pooled = load_cuts(cuts, split="test")
    _left_out(pooled, meta.languages, "test")
    data = _of_languages(pooled, meta.languages, "test")
    common = {"batch_size": cfg.batch_size, "device": _device(cfg), "progress": progress}
    return {
        name: accuracies(head, encode(base, tok, data, trim=trim, desc=f"LID ({name})", **common), meta.languages)
        for name, trim in INPUTS.items()
    }
