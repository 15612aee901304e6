"""Decodable systems: what ``--system`` points at, loaded into one model plus routing rules.

A system answers three questions for the decode loop:

- which adapter decodes an utterance of a given language (:meth:`System.adapter_for`);
- whether its decoder prompt carries the language token (:attr:`System.lang_token`);
- which model state runs language ID in the language-agnostic scenario (:meth:`System.lid_context`), and how
  (:meth:`System.identifier`: the model's own first decoder step; a router unit overrides it).

Kinds, chosen from the path:

========== ============================================================ ===========================
kind       path                                                         class
========== ============================================================ ===========================
base       ``embedded:whisper-base``, a HF dir without lwasr.json, hub  :class:`System`
full       HF model dir with ``lwasr.json`` kind ``full``               :class:`System`
lora       PEFT adapter dir with ``lwasr.json`` kind ``lora``           :class:`LoraSystem` (merged)
experts    dir of ``<lang>/`` lora units (``exp/<tag>/experts``)        :class:`ExpertSystem`
========== ============================================================ ===========================

A system's ``kind`` (what decode settings record) is its class's; a full model decodes as a plain ``base`` one.
The kinds and their loaders are registered in :mod:`lwasr.units.kinds`; a method registers its own kind there
(``moe``: :mod:`lwasr.expansion.moe`) with ``@register_loader``, and :mod:`lwasr.loaders` imports it.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from peft.tuners.tuners_utils import BaseTunerLayer
from torch import nn
from transformers import WhisperTokenizerFast

from lwasr.decoding.lid import LanguageIdentifier, LanguageSet, WhisperLid
from lwasr.errors import LwasrError
from lwasr.units.base import load_base_of, load_whisper, quiet_peft_wrapping
from lwasr.units.experts import attach_adapters, check_same_settings
from lwasr.units.kinds import expert_dirs, kind_of, loader, register_loader
from lwasr.units.meta import META_FILE, ModelMeta
from lwasr.units.prompt import alias_prompt_languages
from lwasr.units.weights import check_finite_files

log = logging.getLogger(__name__)

#: peft's name for "no adapter" in per-sample ``adapter_names``.
BASE_ADAPTER = "__base__"


class System:
    """A single Whisper model (zero-shot base, full fine-tune, merged LoRA): no routing.

    In the agnostic scenario the model itself detects the language (its own first decoder step).
    """

    kind = "base"
    #: Whether its language ID identifies only its own experts' languages (a router), not Whisper's.
    closed_lid = False

    def __init__(
        self,
        model: nn.Module,
        tokenizer: WhisperTokenizerFast,
        *,
        source: str,
        meta: ModelMeta | None = None,
    ) -> None:
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.source = source
        self.meta = meta
        alias_prompt_languages(model, [meta] if meta else [])  # new languages outside Whisper's list

    @property
    def lang_token(self) -> bool:
        """Whether the decoder prompt carries ``<|lang|>`` (as in training)."""
        return self.meta.lang_token if self.meta else True

    @property
    def trim_default(self) -> bool:
        """Trimmed encoder input by default when the model was trained trimmed; never for a base model."""
        return self.meta.trim_encoder_input if self.meta else False

    @property
    def languages(self) -> tuple[str, ...]:
        """Languages that have their own adapter (empty: the model serves every language)."""
        return ()

    @property
    def routes_by_language(self) -> bool:
        return bool(self.languages)

    @property
    def trained_languages(self) -> tuple[str, ...]:
        """Languages the model was trained for (empty: any, e.g. a base model)."""
        return tuple(self.meta.languages) if self.meta else ()

    def adapter_for(self, lang: str) -> str | None:
        """Adapter that decodes ``lang`` (None: the model as it is)."""
        return None

    def check_languages(self, langs: Sequence[str]) -> None:
        """Raise LwasrError when an utterance language cannot be decoded (language-aware scenario)."""

    @contextlib.contextmanager
    def lid_context(self) -> Iterator[None]:
        """Model state in which language ID runs for the agnostic scenario (here: the model itself)."""
        yield

    def identifier(self, langs: Sequence[str] | None = None) -> LanguageIdentifier:
        """How the agnostic scenario identifies the language with this system, over ``langs`` (None: all).

        The model's first decoder step in :meth:`lid_context`; a single model's encoder output is reused.
        """
        return WhisperLid(
            self.model,
            self.tokenizer.convert_tokens_to_ids("<|startoftranscript|>"),
            LanguageSet.build(self.model.generation_config.lang_to_id, langs),
            self.lid_context,
            shares_encoder=not self.routes_by_language,
        )

    @contextlib.contextmanager
    def activate(self, adapter: str | None) -> Iterator[None]:
        """Make ``adapter`` the one applied to the whole batch (no-op for single models)."""
        yield

    @contextlib.contextmanager
    def unmerged(self) -> Iterator[None]:
        """Adapter weights kept apart from the base weights, as per-sample adapters need (no-op here)."""
        yield

    def describe(self) -> dict[str, Any]:
        """What identifies this system in decode settings and summaries."""
        return {"kind": self.kind, "source": self.source, "languages": list(self.languages)}


class ExpertSystem(System):
    """Per-language LoRA experts on one base model; each utterance is decoded by its language's expert.

    Agnostic scenario: the base model's LID (adapters disabled) picks the language, then the expert.
    A detected language without an expert is decoded by the base model (restrict LID with
    ``--lid-langs`` to the experts' languages to avoid that).
    """

    kind = "experts"

    def __init__(
        self,
        model: nn.Module,
        tokenizer: WhisperTokenizerFast,
        *,
        source: str,
        meta: ModelMeta,
        languages: Sequence[str],
    ) -> None:
        super().__init__(model, tokenizer, source=source, meta=meta)
        self._languages = tuple(languages)
        self._merged: str | None = None  # the adapter merged into the base weights, if any

    @property
    def languages(self) -> tuple[str, ...]:
        return self._languages

    @property
    def trained_languages(self) -> tuple[str, ...]:
        return self._languages

    def adapter_for(self, lang: str) -> str | None:
        return lang if lang in self._languages else None

    def check_languages(self, langs: Sequence[str]) -> None:
        missing = sorted(set(langs) - set(self._languages))
        if missing:
            raise LwasrError(
                f"no expert for language(s) {', '.join(missing)} in {self.source}; experts exist for:"
                f" {', '.join(self._languages)}"
            )

    @contextlib.contextmanager
    def lid_context(self) -> Iterator[None]:
        self._unmerge()
        with self.model.disable_adapter():
            yield

    @contextlib.contextmanager
    def activate(self, adapter: str | None) -> Iterator[None]:
        """Decode with ``adapter`` merged into the base weights (as fast as the plain model: LoRA layers are
        skipped). The merge stays after the block, so consecutive batches of one language merge once: group
        routing's batches come language by language, and a merge and unmerge of rank-32 experts costs about as
        much as decoding a short batch (docs/performance.md). ``None`` decodes with the base model."""
        if adapter is None:
            self._unmerge()
            with self.model.disable_adapter():
                yield
            return
        if adapter != self._merged:
            self._unmerge()
            self.model.set_adapter(adapter)
            self.model.merge_adapter()
            self._merged = adapter
        yield

    @contextlib.contextmanager
    def unmerged(self) -> Iterator[None]:
        self._unmerge()
        yield

    def _unmerge(self) -> None:
        """Restore the base weights if an adapter is merged into them. Only the layers that hold a merge are
        unmerged: an expert imported with other target modules (``lwasr model import-adapter``) merges into fewer
        layers than its neighbours, and peft's ``unmerge_adapter`` warns on every layer it finds unmerged."""
        if self._merged is not None:
            for module in self.model.modules():
                if isinstance(module, BaseTunerLayer) and module.merged:
                    module.unmerge()
            self._merged = None


@register_loader("base")
def _load_base(spec: str, meta: ModelMeta | None, model_override: str | None) -> System:
    model, tok = load_whisper(spec)
    return System(model, tok, source=spec)


class FullSystem(System):
    """A full model with an lwasr.json: a full fine-tune, or a LoRA unit merged and exported (``lwasr export``)."""

    kind = "full"


@register_loader("full")
def _load_full(spec: str, meta: ModelMeta | None, model_override: str | None) -> FullSystem:
    model, tok = load_whisper(spec)
    return FullSystem(model, tok, source=spec, meta=meta)


class LoraSystem(System):
    """A single LoRA unit (shared, fused, distilled): merged into the base weights, so it decodes at plain-model
    speed."""

    kind = "lora"


@register_loader("lora")
def _load_lora(spec: str, meta: ModelMeta | None, model_override: str | None) -> LoraSystem:
    from peft import PeftModel

    assert meta is not None
    base, tok = load_base_of({Path(spec).name: meta}, model_override, what="the adapter")
    check_finite_files(spec)
    model = PeftModel.from_pretrained(base, spec).merge_and_unload()
    return LoraSystem(model, tok, source=spec, meta=meta)


@register_loader("experts")
def _load_experts(spec: str, meta: ModelMeta | None, model_override: str | None) -> ExpertSystem:
    return load_experts(Path(spec), model_override)


def load_experts(path: Path, model_override: str | None = None, languages: Sequence[str] | None = None) -> ExpertSystem:
    """Load the experts under ``path`` (only ``languages`` if given) as named adapters of one PeftModel."""
    dirs = expert_dirs(path)
    if languages is not None:
        dirs = {k: v for k, v in dirs.items() if k in set(languages)}
    if not dirs:
        raise LwasrError(f"{path} holds no experts (<lang>/ directories with adapter_config.json and {META_FILE})")
    metas = {lang: ModelMeta.load(d) for lang, d in dirs.items()}
    for lang, meta in metas.items():
        if meta.kind != "lora":
            raise LwasrError(f"expert {dirs[lang]} has kind {meta.kind!r}; experts must be lora units")
    check_same_settings(metas)  # decoding follows one expert's: they must agree
    base, tok = load_base_of(metas, model_override)
    model = attach_adapters(base, dirs)
    langs = list(dirs)
    model.set_adapter(langs[0])
    alias_prompt_languages(model, metas.values())
    return ExpertSystem(model, tok, source=str(path), meta=metas[langs[0]], languages=langs)


def load_system(spec: str, model_override: str | None = None) -> System:
    """Load ``--system``: a base model spec, a unit dir with lwasr.json, or an experts dir (see the module doc)."""
    kind, meta = kind_of(spec)
    source = str(Path(spec).expanduser()) if kind != "base" or Path(spec).expanduser().exists() else spec
    load = loader(kind, source)
    with quiet_peft_wrapping():  # lora, experts and moe units wrap the base model with peft
        return load(source, meta, model_override)
