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
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from lhotse import CutSet
from torch import nn

from lwasr.atomic import check_output
from lwasr.data.cuts import load_cuts
from lwasr.errors import LwasrError
from lwasr.expansion.config import ExpandConfig, ExpandOptions, check_choices
from lwasr.expansion.inits import ExpansionInit, get_init
from lwasr.expansion.moe import NEW, attach_moe, check_k, expert_refs, fixed_weights, save_gate, sha256_file
from lwasr.expansion.similarity import SIMILARITY_FILE, lid_similarity, read_ranking, write_similarity
from lwasr.fusion.static import save_adapter
from lwasr.langcodes import is_whisper_code
from lwasr.output_lock import holding_lock
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
        cfg, init = self.cfg, get_init(self.cfg.init)
        self.mixture = None
        if init.build is not None:
            return init.build(self, base)
        if init.mode == "full":
            return base
        if init.warm:
            self._check_base(ModelMeta.load(cfg.source), cfg.source)
            log.info("initialising the new adapter from %s", cfg.source)
            return warm_lora(base, cfg.source, cfg.lora_dropout)
        if not init.mixes:
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
        if get_init(cfg.init).continues:
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
class _Start:
    """What the expansion run starts from, resolved from the options."""

    base_langs: list[str]  # candidates for similarity
    source: Path | None
    reference: Path | None  # the unit whose settings (LoRA, lang_token, trim, base model) the run follows


def _available(experts: Path) -> dict[str, Path]:
    """The experts under ``experts`` (none when the directory does not exist)."""
    return discover_experts(experts) if experts.is_dir() else {}


def _start(init: ExpansionInit, new_lang: str, experts: Path, source: Path | None, overwrite: bool) -> _Start:
    if not init.continues and not experts.is_dir():
        discover_experts(experts)  # its error: the experts directory does not exist
    available = _available(experts)
    if new_lang in available and not overwrite:
        raise LwasrError(
            f"{experts} already has an expert for {new_lang!r}; pass --overwrite to train a new one in its place"
        )
    base = [lang for lang in available if lang != new_lang]
    if init.continues:
        source = source or experts.parent / init.continues
        meta = ModelMeta.load(source)
        if meta.kind != init.unit_kind:
            raise LwasrError(f"--init {init.name} continues a {init.unit_kind} unit; {source} has kind {meta.kind!r}")
        return _Start([lang for lang in meta.languages if lang != new_lang], source, source)
    return _Start(base, None, available[base[0]] if base else None)


#: The settings the LID ranking decides, when it is computed by the run (``--print-config`` shows them empty).
RANKED = ("source", "moe_langs", "moe_weights")
#: The LoRA settings a warm start takes from its adapter.
LORA_SHAPE = ("lora_rank", "lora_alpha", "lora_dropout", "lora_target_modules")


@dataclass
class ExpandPlan:
    """One ``lwasr expand``, resolved and checked by :func:`plan_expand`; nothing loaded or written yet.

    ``values``: the run's settings (ExpandConfig fields) but those the similarity ranking decides; ``ranking``:
    that ranking when known (``--similarity``, or the run dir's ``similarity.json``), else :func:`run_expand`
    computes it into ``similarity_out`` with ``lid_model``. ``keep``: ``out`` is a finished unit, kept.
    """

    init: ExpansionInit
    out: Path
    experts: Path
    new_lang: str
    config_file: str | Path | None = None
    values: dict[str, Any] = field(default_factory=dict)
    user: dict[str, Any] = field(default_factory=dict)  # the overrides (in ``values`` too)
    lang_token_from: str | None = None
    moe_k: int = field(kw_only=True)
    candidates: list[str] = field(default_factory=list)
    ranking: list[tuple[str, float]] | None = None
    similarity_out: Path | None = None
    lid_model: str = ""
    cuts: list[str] = field(default_factory=list)
    similarity_max_utts: int = field(kw_only=True)
    keep: bool = False

    @property
    def needs_ranking(self) -> bool:
        """Whether the run's settings depend on the LID similarity ranking (warm, moe, a borrowed token)."""
        return self.init.similar or self.lang_token_from == MOST_SIMILAR

    def config(self, ranking: list[tuple[str, float]]) -> ExpandConfig:
        """The run's config, given the similarity ranking (empty when the init needs none)."""
        if self.needs_ranking:
            ranking = _ranked(ranking, self.candidates, self.new_lang, self.similarity_out)
        prompt_lang = _prompt_lang(self.new_lang, self.lang_token_from, ranking)
        values = dict(self.values)
        if self.init.start == "similar":  # the copied expert's LoRA settings, under the user's (which must agree)
            source = self.experts / ranking[0][0]
            lora = lora_shape(source).settings()
            _check_kept(self.init, lora, self.user, source)
            values = {**lora, **values, "source": str(source)}
        top = ranking[: self.moe_k] if self.init.mixes else []
        values |= {
            "lang": prompt_lang if self.init.mode == "expert" else None,
            "langs": [prompt_lang] if self.init.mode == "full" else None,
            "prompt_lang": prompt_lang,
            "moe_langs": [lang for lang, _ in top],
            "moe_weights": fixed_weights([p for _, p in top]) if top else [],
        }
        return load_config(self.config_file, values, cls=ExpandConfig)

    def checked(self) -> ExpandConfig:
        """The config with the known ranking, or with the base languages in order standing in for a ranking the run
        will compute: every other setting is checked."""
        stand_in = [(lang, 1.0) for lang in self.candidates] if self.needs_ranking else []
        return self.config(self.ranking if self.ranking is not None else stand_in)

    def to_yaml(self) -> str:
        """The run's config as YAML; the settings a ranking still to be computed decides are empty."""
        if self.keep:
            return f"# {self.out} is finished and kept: nothing to train (--overwrite trains it again)\n"
        cfg = self.checked()
        if self.ranking is not None or not self.needs_ranking:
            return cfg.to_yaml()
        values = yaml.safe_load(cfg.to_yaml())
        ranked = [*RANKED, *(("lang", "langs", "prompt_lang") if self.lang_token_from == MOST_SIMILAR else ())]
        ranked += list(LORA_SHAPE) if self.init.start == "similar" else []
        values |= {k: None for k in ranked}
        note = f"# {', '.join(ranked)}: from the LID similarity the run computes into {self.similarity_out}\n"
        return note + yaml.safe_dump(values, sort_keys=False, allow_unicode=True)


def plan_expand(
    *,
    new_lang: str,
    cuts: Sequence[str | Path],
    init: str = "random",
    dev_cuts: Sequence[str | Path] = (),
    moe_gate: str = "fixed",
    source: str | Path | None = None,
    config: str | Path | None = None,
    overrides: dict[str, Any] | None = None,
    overwrite: bool = False,
    **options: Any,
) -> ExpandPlan:
    """Resolve and check the new language's run (see the module docstring); reads only metadata and files.

    ``options``: the fields of :class:`~lwasr.expansion.config.ExpandOptions` by name (``experts`` among them).
    ``overrides``: training settings (TrainConfig fields) that win over ``config`` and the settings taken
    from the base experts / source unit. A finished unit at ``out`` is kept (unless ``overwrite``).
    """
    opts = ExpandOptions(**options)
    out, similarity, model, lang_token_from = opts.out, opts.similarity, opts.model, opts.lang_token_from
    check_new_lang(new_lang)
    check_choices(init, moe_gate)
    start, experts = get_init(init), Path(opts.experts)
    plan = _start(start, new_lang, experts, Path(source) if source else None, overwrite)
    if start.mixes:
        check_k(opts.moe_k, plan.base_langs)
    out = Path(out) if out else experts.parent / f"expand_{init}" / new_lang
    base_dirs = [experts / lang for lang in plan.base_langs] if not start.continues else []
    if any(out.resolve() == d.resolve() for d in base_dirs):
        raise LwasrError(f"--out {out} is a base expert's directory; base experts are never written")
    job = ExpandPlan(
        start,
        out,
        experts,
        new_lang,
        config,
        lang_token_from=lang_token_from,
        moe_k=opts.moe_k,
        similarity_max_utts=opts.similarity_max_utts,
    )
    if check_output(out, ExpandTrainer.PRODUCER) and not overwrite:  # anything but an earlier expand output is refused
        job.keep = True
        return job

    ref_meta = ModelMeta.load(plan.reference) if plan.reference else None
    recorded = ref_meta.base_model if ref_meta else None
    base_model = str(plan.source) if start.mode == "full" else model or recorded
    lid_model = model or recorded
    if base_model is None or lid_model is None:
        raise LwasrError(f"{experts} holds no experts to take the base model from; pass --model")
    if lang_token_from is None and not is_whisper_code(new_lang):
        job.lang_token_from = MOST_SIMILAR
    job.candidates = [lang for lang in plan.base_langs if is_whisper_code(lang)]
    job.lid_model, job.cuts = lid_model, [str(p) for p in cuts]
    job.similarity_out = out.parent / f"train_{out.name}" / SIMILARITY_FILE
    if job.needs_ranking:
        _ranked(None, job.candidates, new_lang, None)  # its error: no base language to rank
        known = Path(similarity) if similarity else None
        if known is None and job.similarity_out.is_file() and not overwrite:  # --overwrite computes it again
            known = job.similarity_out
        job.ranking = read_ranking(known, new_lang) if known else None
        job.similarity_out = known or job.similarity_out

    derived: dict[str, Any] = {"model": base_model}
    if ref_meta is not None:
        derived.update(lang_token=ref_meta.lang_token, trim_encoder_input=ref_meta.trim_encoder_input)
    adapter_ref = plan.source if start.warm else plan.reference
    copied = start.start == "similar"  # its adapter (and LoRA settings) come with the ranking
    lora = lora_shape(adapter_ref).settings() if adapter_ref is not None and start.mode != "full" and not copied else {}
    job.user = dict(overrides or {})
    if start.warm and not copied:
        _check_kept(start, lora, job.user, plan.source)
    job.values = {
        **derived,
        **lora,
        **job.user,
        "mode": start.mode,
        "cuts": job.cuts,
        "dev_cuts": [str(p) for p in dev_cuts],
        "exp_dir": str(out.parent),
        "init": init,
        "new_lang": new_lang,
        "out_dir": str(out),
        "experts_dir": str(experts),
        "source": str(plan.source) if plan.source else None,
        "moe_gate": moe_gate,
        "overwrite": overwrite,
    }
    job.checked()  # every setting, before the run loads anything
    return job


@holding_lock(lambda job: [job.out])
def run_expand(job: ExpandPlan) -> Path:
    """Train the new language's unit :func:`plan_expand` resolved (computing the LID ranking first when the plan
    could not read it) and return its directory; the base experts' files must not change."""
    if job.keep:
        log.info("%s already exists; skipping (pass --overwrite to train it again)", job.out)
        return job.out
    ranking = job.ranking
    if ranking is None and job.needs_ranking:
        assert job.similarity_out is not None
        record, _ = lid_similarity(
            job.lid_model, job.cuts, job.new_lang, base_langs=job.candidates, max_utts=job.similarity_max_utts
        )
        write_similarity(record, job.similarity_out)
        ranking = read_ranking(job.similarity_out, job.new_lang)
    if ranking is not None:
        top = ", ".join(
            f"{c} {p:.3f}" for c, p in _ranked(ranking, job.candidates, job.new_lang, job.similarity_out)[:5]
        )
        log.info("languages most similar to %s: %s", job.new_lang, top)
    cfg = job.config(ranking or [])
    if job.init.start == "similar":
        log.info("warm start: copying the expert of %s (%s)", Path(cfg.source or "").name, cfg.source)
    guarded = [d for lang, d in _available(job.experts).items() if lang != job.new_lang]
    before = tree_hashes(guarded)
    unit = train(cfg, trainer=ExpandTrainer)
    if tree_hashes(guarded) != before:
        raise LwasrError(f"a base expert under {job.experts} changed during expansion; this is a bug, please report it")
    return unit


def expand(**options: Any) -> Path:
    """Train the new language's unit and return its directory: :func:`run_expand` of :func:`plan_expand` (see
    there for ``options``)."""
    return run_expand(plan_expand(**options))


def _check_kept(init: ExpansionInit, lora: dict[str, Any], user: dict[str, Any], source: Path | None) -> None:
    """Refuse user settings that differ from the LoRA settings a warm start keeps (those of ``source``)."""
    clash = sorted(k for k in lora if k in user and user[k] != lora[k])
    if clash:
        raise LwasrError(f"--init {init.name} keeps the LoRA settings of {source}; cannot override {', '.join(clash)}")


def _ranked(
    ranking: list[tuple[str, float]] | None, candidates: list[str], new_lang: str, source: Path | None
) -> list[tuple[str, float]]:
    """``ranking`` restricted to the base languages ``candidates``; LwasrError when there is nothing to rank."""
    if not candidates:
        raise LwasrError(
            f"no similar language can be found for {new_lang!r}: the set of base languages is empty"
            " (train base experts first, or choose --init random with an explicit --lang-token-from)"
        )
    if ranking is None:
        return []
    ranked = [(lang, p) for lang, p in ranking if lang in candidates]
    if not ranked:
        raise LwasrError(f"{source} ranks none of the base languages ({', '.join(candidates)}) for {new_lang!r}")
    return ranked


def _prompt_lang(new_lang: str, lang_token_from: str | None, ranking: list[tuple[str, float]]) -> str:
    """The Whisper language whose token prompts the new language (see ``--lang-token-from``)."""
    if lang_token_from is None:
        return new_lang
    if lang_token_from == MOST_SIMILAR:
        return ranking[0][0]
    if not is_whisper_code(lang_token_from):
        raise LwasrError(f"--lang-token-from {lang_token_from!r} is neither {MOST_SIMILAR} nor a Whisper language code")
    return lang_token_from
