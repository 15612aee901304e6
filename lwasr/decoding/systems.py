"""Decodable systems: what ``--system`` points at, loaded into one model plus routing rules.

A system answers three questions for the decode loop:

- which adapter decodes an utterance of a given language (:meth:`System.adapter_for`);
- whether its decoder prompt carries the language token (:attr:`System.lang_token`);
- which model state runs language ID in the language-agnostic scenario (:meth:`System.lid_context`).

Kinds, chosen from the path:

========== ============================================================ ===========================
kind       path                                                         class
========== ============================================================ ===========================
base       ``embedded:whisper-base``, a HF dir without lwasr.json, hub  :class:`System`
full       HF model dir with ``lwasr.json`` kind ``full``               :class:`System`
lora       PEFT adapter dir with ``lwasr.json`` kind ``lora``           :class:`System` (merged)
experts    dir of ``<lang>/`` lora units (``exp/<tag>/experts``)        :class:`ExpertSystem`
========== ============================================================ ===========================

Later kinds (fused, distilled, expanded/MoE) register a loader with :func:`register_loader`.
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn
from transformers import WhisperForConditionalGeneration, WhisperTokenizerFast

from lwasr.errors import LwasrError
from lwasr.expansion.prompt import alias_prompt_languages
from lwasr.models.meta import META_FILE, ModelMeta, base_fingerprint, check_same_base
from lwasr.models.resolve import resolve_model

log = logging.getLogger(__name__)

#: peft's name for "no adapter" in per-sample ``adapter_names``.
BASE_ADAPTER = "__base__"


class System:
    """A single Whisper model (zero-shot base, full fine-tune, merged LoRA): no routing.

    In the agnostic scenario the model itself detects the language (its own first decoder step).
    """

    kind = "base"

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

    @contextlib.contextmanager
    def activate(self, adapter: str | None) -> Iterator[None]:
        """Make ``adapter`` the one applied to the whole batch (no-op for single models)."""
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
        with self.model.disable_adapter():
            yield

    @contextlib.contextmanager
    def activate(self, adapter: str | None) -> Iterator[None]:
        if adapter is None:
            with self.model.disable_adapter():
                yield
            return
        self.model.set_adapter(adapter)
        self.model.merge_adapter()  # merged weights: as fast as the plain model (LoRA layers are skipped)
        try:
            yield
        finally:
            self.model.unmerge_adapter()


@contextlib.contextmanager
def _quiet_peft_wrapping() -> Iterator[None]:
    """Drop the one FutureWarning peft causes whenever it wraps a model: it reads transformers' deprecated
    ``is_gradient_checkpointing`` (peft's code, not ours); every other warning passes."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="`is_gradient_checkpointing` is deprecated", category=FutureWarning)
        yield


Loader = Callable[[Path, ModelMeta, str | None], System]
_LOADERS: dict[str, Loader] = {}


def register_loader(kind: str) -> Callable[[Loader], Loader]:
    """Decorator: ``loader(path, meta, model_override) -> System`` for units whose lwasr.json has ``kind``."""

    def wrap(fn: Loader) -> Loader:
        _LOADERS[kind] = fn
        return fn

    return wrap


def load_whisper(spec: str) -> tuple[WhisperForConditionalGeneration, WhisperTokenizerFast]:
    """A Whisper model (float32, SDPA attention, eval mode) and its tokenizer from a ``--model`` spec."""
    path = resolve_model(spec)
    model = WhisperForConditionalGeneration.from_pretrained(path, dtype=torch.float32, attn_implementation="sdpa")
    return model.eval(), WhisperTokenizerFast.from_pretrained(path)


def _base_for(metas: dict[str, ModelMeta], model_override: str | None) -> tuple[nn.Module, WhisperTokenizerFast]:
    """Load the base model the adapter units need and check it is the one they were trained on."""
    check_same_base({k: m.base_fingerprint for k, m in metas.items()})
    first = next(iter(metas.values()))
    model, tok = load_whisper(model_override or first.base_model)
    if first.base_fingerprint and base_fingerprint(model) != first.base_fingerprint:
        raise LwasrError(
            f"the base model {model_override or first.base_model!r} is not the one these adapters were trained on"
            f" (fingerprint {base_fingerprint(model)} != {first.base_fingerprint}); pass the right one with --model"
        )
    return model, tok


@register_loader("full")
def _load_full(path: Path, meta: ModelMeta, model_override: str | None) -> System:
    model, tok = load_whisper(str(path))
    return System(model, tok, source=str(path), meta=meta)


@register_loader("lora")
def _load_lora(path: Path, meta: ModelMeta, model_override: str | None) -> System:
    """A single LoRA (shared, later fused): merged into the base weights, so it decodes at plain-model speed."""
    from peft import PeftModel

    base, tok = _base_for({path.name: meta}, model_override)
    model = PeftModel.from_pretrained(base, str(path)).merge_and_unload()
    system = System(model, tok, source=str(path), meta=meta)
    system.kind = "lora"
    return system


@register_loader("moe")
def _load_moe(path: Path, meta: ModelMeta, model_override: str | None) -> System:
    """A LoRA-MoE unit of ``lwasr expand --init moe``: base experts + new adapter merged with their gates."""
    from lwasr.expansion.moe import load_moe_system

    return load_moe_system(path, meta, model_override)


def expert_dirs(path: Path) -> dict[str, Path]:
    """``<lang> -> unit dir`` for every ``path/<lang>/`` holding a finished lora unit (empty if none)."""
    from lwasr.fusion.experts import discover_experts

    if not path.is_dir():
        return {}
    return {lang: d for lang, d in discover_experts(path).items() if (d / META_FILE).is_file()}


def load_experts(path: Path, model_override: str | None = None, languages: Sequence[str] | None = None) -> ExpertSystem:
    """Load the experts under ``path`` (only ``languages`` if given) as named adapters of one PeftModel."""
    from peft import PeftModel

    dirs = expert_dirs(path)
    if languages is not None:
        dirs = {k: v for k, v in dirs.items() if k in set(languages)}
    if not dirs:
        raise LwasrError(f"{path} holds no experts (<lang>/ directories with adapter_config.json and {META_FILE})")
    metas = {lang: ModelMeta.load(d) for lang, d in dirs.items()}
    for lang, meta in metas.items():
        if meta.kind != "lora":
            raise LwasrError(f"expert {dirs[lang]} has kind {meta.kind!r}; experts must be lora units")
    base, tok = _base_for(metas, model_override)
    langs = list(dirs)
    with _quiet_peft_wrapping():
        model = PeftModel.from_pretrained(base, str(dirs[langs[0]]), adapter_name=langs[0])
        for lang in langs[1:]:
            model.load_adapter(str(dirs[lang]), adapter_name=lang)
    model.set_adapter(langs[0])
    alias_prompt_languages(model, metas.values())
    return ExpertSystem(model, tok, source=str(path), meta=metas[langs[0]], languages=langs)


def load_system(spec: str, model_override: str | None = None) -> System:
    """Load ``--system``: a base model spec, a unit dir with lwasr.json, or an experts dir."""
    path = Path(spec).expanduser()
    if spec.startswith("embedded:") or not path.exists():
        model, tok = load_whisper(spec)
        return System(model, tok, source=spec)
    if (path / META_FILE).is_file():
        meta = ModelMeta.load(path)
        if meta.kind not in _LOADERS:
            raise LwasrError(f"{path}: decoding models of kind {meta.kind!r} is not supported yet")
        with _quiet_peft_wrapping():  # lora and moe units wrap the base model with peft
            return _LOADERS[meta.kind](path, meta, model_override)
    if expert_dirs(path):
        return load_experts(path, model_override)
    if (path / "config.json").is_file():
        model, tok = load_whisper(str(path))
        return System(model, tok, source=str(path))
    raise LwasrError(
        f"{path} is not a decodable system: expected a model dir with {META_FILE} (lora or full), an experts dir"
        " (<lang>/ lora units), a Hugging Face model dir, or embedded:whisper-base"
    )
