"""``lwasr expand``: add a new language to a set of language experts, or to a forgetting baseline.

Inits (``--init``):

- ``random``: a fresh LoRA with the experts' settings (the "new expert from scratch" baseline).
- ``warm``: a copy of the most similar base language's expert (by LID similarity), trained on.
- ``moe``: a fresh LoRA mixed with the top-k similar base experts, which stay frozen (:mod:`.moe`).
- ``continue-full``: the multilingual full fine-tune (``exp/<tag>/full``) fine-tuned on the new language.
- ``continue-shared``: the shared LoRA (``exp/<tag>/shared``) trained on the new language.

The first three never write into the base experts: the new unit goes to ``--out`` (default
``exp/<tag>/expand_<init>/<lang>``; ``exp/<tag>/experts/<lang>`` is allowed too), and the base experts'
files are hashed before and after training (a change is an error). The last two change every language,
which is what the forgetting measurement (docs/expansion.md) shows.

Working files: ``<out>/../train_<lang>/`` (``config.yaml``, ``train.log``, checkpoints, ``similarity.json``
when computed on the fly). The new language's cuts are read relabelled to its prompt language, in memory
(:meth:`ExpandTrainer.read_cuts`); no manifest is rewritten.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lhotse import CutSet
from torch import nn

from lwasr.atomic import check_output
from lwasr.data.cuts import load_cuts
from lwasr.errors import LwasrError
from lwasr.expansion.config import ExpandConfig, check_choices
from lwasr.expansion.moe import NEW, attach_moe, check_k, expert_refs, fixed_weights, save_gate, sha256_file
from lwasr.expansion.similarity import SIMILARITY_FILE, lid_similarity, read_ranking, write_similarity
from lwasr.fusion.static import save_adapter
from lwasr.langcodes import WHISPER_LANGUAGES
from lwasr.training.config import load_config
from lwasr.training.loop import Trainer, train
from lwasr.training.lora import apply_lora, lora_config, warm_lora
from lwasr.units.experts import discover_experts, load_experts
from lwasr.units.meta import ModelMeta, lora_shape

log = logging.getLogger("lwasr.train")

LANG_CODE = re.compile(r"^[a-z]{2,3}([_-][a-z0-9]{2,8})*$")
MOST_SIMILAR = "most-similar"


class ExpandTrainer(Trainer):
    """The training loop with the model initialised for ``cfg.init`` and the unit exported as it needs."""

    PRODUCER = "lwasr expand"
    cfg: ExpandConfig

    def build(self, base: nn.Module) -> nn.Module:
        cfg = self.cfg
        self.mixture = None
        if cfg.init == "continue-full":
            return base
        if cfg.init in ("warm", "continue-shared"):
            self._check_base(ModelMeta.load(cfg.source), cfg.source)
            log.info("initialising the new adapter from %s", cfg.source)
            return warm_lora(base, cfg.source, cfg.lora_dropout)
        if cfg.init == "random":
            return apply_lora(base, cfg)
        experts = load_experts(cfg.experts_dir, cfg.moe_langs)
        self._check_base(experts[0].meta, cfg.experts_dir)
        self.moe_experts = experts
        peft_model, self.mixture = attach_moe(base, experts, cfg.moe_weights, cfg.moe_gate, lora_config(cfg))
        log.info("MoE: new adapter + frozen %s (weights %s, gate %s)", cfg.moe_langs, cfg.moe_weights, cfg.moe_gate)
        return peft_model

    def _check_base(self, meta: ModelMeta, where: str | None) -> None:
        if meta.base_fingerprint and meta.base_fingerprint != self.fingerprint:
            raise LwasrError(
                f"{where} was trained on another base model than {self.cfg.model!r}"
                f" (fingerprint {meta.base_fingerprint} != {self.fingerprint}); pass the right one with --model"
            )

    def read_cuts(self, paths: list[str]) -> CutSet:
        """Only the new language's cuts, read as its prompt language (the token it borrows, or its own)."""
        return load_cuts(paths, split=None, relabel={self.cfg.new_lang: self.cfg.prompt_lang})

    def export(self, out: Path) -> str:
        if self.mixture is None:
            return super().export(out)
        save_adapter(self.model, out / NEW, NEW, base_path=self.base_path)
        save_gate(self.mixture, out)
        self.meta().save(out)
        return f"MoE unit for {self.cfg.new_lang} (mean gates {self.mixture.mean_gates()})"

    def meta(self) -> ModelMeta:
        meta = super().meta()
        cfg = self.cfg
        extra: dict[str, Any] = {
            **meta.extra,
            "prompt_lang": cfg.prompt_lang,
            "expansion": {
                "init": cfg.init,
                "new_lang": cfg.new_lang,
                "source": cfg.source,
                "experts_dir": cfg.experts_dir,
            },
        }
        languages = [cfg.new_lang]
        if cfg.init.startswith("continue-"):
            languages = sorted({*ModelMeta.load(cfg.source).languages, cfg.new_lang})
        if self.mixture is not None:
            extra["moe"] = {
                "gate": cfg.moe_gate,
                "k": len(cfg.moe_langs),
                "new_adapter": NEW,
                "experts": expert_refs(self.moe_experts, cfg.moe_weights, cfg.unit_dir),
                "mean_gates": self.mixture.mean_gates(),
            }
        kind = "moe" if self.mixture is not None else meta.kind
        return dataclasses.replace(meta, kind=kind, languages=languages, extra=extra)


# -- the command ---------------------------------------------------------------------------------------------


def check_new_lang(code: str) -> str:
    """A new language may be any lowercase code (``szl``, ``nan-tw``); Whisper need not know it."""
    if not LANG_CODE.match(code):
        raise LwasrError(f"--new-lang {code!r} is not a language code (lowercase letters, e.g. it, szl, nan-tw)")
    return code


def tree_hashes(dirs: Sequence[Path]) -> dict[str, str]:
    """sha256 of every file under ``dirs`` (path -> hash)."""
    return {str(f): sha256_file(f) for d in dirs for f in sorted(Path(d).rglob("*")) if f.is_file()}


@dataclass
class _Plan:
    """What the expansion run starts from, resolved from the options."""

    base_langs: list[str]  # candidates for similarity
    source: Path | None
    reference: Path | None  # the unit whose settings (LoRA, lang_token, trim, base model) the run follows


def _available(experts: Path) -> dict[str, Path]:
    """The experts under ``experts`` (none when the directory does not exist)."""
    return discover_experts(experts) if experts.is_dir() else {}


def _plan(init: str, new_lang: str, experts: Path, source: Path | None, overwrite: bool) -> _Plan:
    if not init.startswith("continue-") and not experts.is_dir():
        discover_experts(experts)  # its error: the experts directory does not exist
    available = _available(experts)
    if new_lang in available and not overwrite:
        raise LwasrError(
            f"{experts} already has an expert for {new_lang!r}; pass --overwrite to train a new one in its place"
        )
    base = [lang for lang in available if lang != new_lang]
    if init.startswith("continue-"):
        source = source or experts.parent / init.removeprefix("continue-")
        meta = ModelMeta.load(source)
        want = "full" if init == "continue-full" else "lora"
        if meta.kind != want:
            raise LwasrError(f"--init {init} continues a {want} unit; {source} has kind {meta.kind!r}")
        return _Plan([lang for lang in meta.languages if lang != new_lang], source, source)
    return _Plan(base, None, available[base[0]] if base else None)


def _ranking(
    plan: _Plan,
    new_lang: str,
    cuts: Sequence[str | Path],
    similarity: Path | None,
    model: str,
    run_dir: Path,
    max_utts: int,
) -> list[tuple[str, float]]:
    """Base languages ranked by similarity to ``new_lang`` (from ``similarity`` or computed into the run dir)."""
    cands = [lang for lang in plan.base_langs if lang in WHISPER_LANGUAGES]
    if not cands:
        raise LwasrError(
            f"no similar language can be found for {new_lang!r}: the set of base languages is empty"
            " (train base experts first, or choose --init random with an explicit --lang-token-from)"
        )
    cached = run_dir / SIMILARITY_FILE
    if similarity is None and cached.is_file():
        similarity = cached
    if similarity is None:
        record, _ = lid_similarity(model, cuts, new_lang, base_langs=cands, max_utts=max_utts)
        write_similarity(record, cached)
        similarity = cached
    ranking = [(lang, p) for lang, p in read_ranking(similarity, new_lang) if lang in cands]
    if not ranking:
        raise LwasrError(f"{similarity} ranks none of the base languages ({', '.join(cands)}) for {new_lang!r}")
    log.info("languages most similar to %s: %s", new_lang, ", ".join(f"{c} {p:.3f}" for c, p in ranking[:5]))
    return ranking


def expand(
    *,
    experts: str | Path,
    new_lang: str,
    cuts: Sequence[str | Path],
    init: str = "random",
    out: str | Path | None = None,
    dev_cuts: Sequence[str | Path] = (),
    similarity: str | Path | None = None,
    moe_k: int = 2,
    moe_gate: str = "fixed",
    lang_token_from: str | None = None,
    source: str | Path | None = None,
    model: str | None = None,
    config: str | Path | None = None,
    overrides: dict[str, Any] | None = None,
    similarity_max_utts: int = 100,
    overwrite: bool = False,
) -> Path:
    """Train the new language's unit and return its directory (see the module docstring).

    ``overrides``: training settings (TrainConfig fields) that win over ``config`` and the settings taken
    from the base experts / source unit. A finished unit at ``out`` is kept (unless ``overwrite``).
    """
    check_new_lang(new_lang)
    check_choices(init, moe_gate)
    experts = Path(experts)
    plan = _plan(init, new_lang, experts, Path(source) if source else None, overwrite)
    if init == "moe":
        check_k(moe_k, plan.base_langs)
    out = Path(out) if out else experts.parent / f"expand_{init}" / new_lang
    base_dirs = [experts / lang for lang in plan.base_langs] if not init.startswith("continue-") else []
    if any(out.resolve() == d.resolve() for d in base_dirs):
        raise LwasrError(f"--out {out} is a base expert's directory; base experts are never written")
    run_dir = out.parent / f"train_{out.name}"
    if check_output(out, ExpandTrainer.PRODUCER):  # anything but an earlier expand output is refused
        if not overwrite:
            log.info("%s already exists; skipping (pass --overwrite to train it again)", out)
            return out
        shutil.rmtree(run_dir, ignore_errors=True)  # the earlier unit is replaced when the new one is complete

    ref_meta = ModelMeta.load(plan.reference) if plan.reference else None
    recorded = ref_meta.base_model if ref_meta else None
    base_model = str(plan.source) if init == "continue-full" else model or recorded
    lid_model = model or recorded
    if base_model is None or lid_model is None:
        raise LwasrError(f"{experts} holds no experts to take the base model from; pass --model")

    need_ranking = init in ("warm", "moe") or lang_token_from == MOST_SIMILAR
    if lang_token_from is None and new_lang not in WHISPER_LANGUAGES:
        lang_token_from, need_ranking = MOST_SIMILAR, True
    sim_path = Path(similarity) if similarity else None
    ranking = _ranking(plan, new_lang, cuts, sim_path, lid_model, run_dir, similarity_max_utts) if need_ranking else []
    prompt_lang = _prompt_lang(new_lang, lang_token_from, ranking)

    derived: dict[str, Any] = {"model": base_model}
    if ref_meta is not None:
        derived.update(lang_token=ref_meta.lang_token, trim_encoder_input=ref_meta.trim_encoder_input)
    src = plan.source
    if init == "warm":
        src = experts / ranking[0][0]
        log.info("warm start: copying the expert of %s (%s)", ranking[0][0], src)
    adapter_ref = src if init in ("warm", "continue-shared") else plan.reference
    lora = lora_shape(adapter_ref).settings() if adapter_ref is not None and init != "continue-full" else {}
    moe_langs = [lang for lang, _ in ranking[:moe_k]] if init == "moe" else []
    moe_weights = fixed_weights([p for _, p in ranking[:moe_k]]) if init == "moe" else []

    user = dict(overrides or {})
    forced = lora if init in ("warm", "continue-shared") else {}
    clash = sorted(k for k in forced if k in user and user[k] != forced[k])
    if clash:
        raise LwasrError(f"--init {init} keeps the LoRA settings of {src}; cannot override {', '.join(clash)}")
    mode = "full" if init == "continue-full" else "expert"
    values = {
        **derived,
        **lora,
        **user,
        "mode": mode,
        "lang": prompt_lang if mode == "expert" else None,
        "langs": [prompt_lang] if mode == "full" else None,
        "cuts": [str(p) for p in cuts],
        "dev_cuts": [str(p) for p in dev_cuts],
        "exp_dir": str(out.parent),
        "init": init,
        "new_lang": new_lang,
        "prompt_lang": prompt_lang,
        "out_dir": str(out),
        "experts_dir": str(experts),
        "source": str(src) if src else None,
        "moe_langs": moe_langs,
        "moe_weights": moe_weights,
        "moe_gate": moe_gate,
        "overwrite": overwrite,
    }
    cfg = load_config(config, values, cls=ExpandConfig)
    guarded = [d for lang, d in _available(experts).items() if lang != new_lang]
    before = tree_hashes(guarded)
    unit = train(cfg, trainer=ExpandTrainer)
    if tree_hashes(guarded) != before:
        raise LwasrError(f"a base expert under {experts} changed during expansion; this is a bug, please report it")
    return unit


def _prompt_lang(new_lang: str, lang_token_from: str | None, ranking: list[tuple[str, float]]) -> str:
    """The Whisper language whose token prompts the new language (see ``--lang-token-from``)."""
    if lang_token_from is None:
        return new_lang
    if lang_token_from == MOST_SIMILAR:
        return ranking[0][0]
    if lang_token_from not in WHISPER_LANGUAGES:
        raise LwasrError(f"--lang-token-from {lang_token_from!r} is neither {MOST_SIMILAR} nor a Whisper language code")
    return lang_token_from
