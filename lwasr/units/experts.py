"""Language experts on disk: find them, load them for a set of languages, check they fit together, read their factors.

An experts directory holds one PEFT LoRA adapter per language, ``<experts>/<lang>/`` (adapter_config.json,
adapter_model.safetensors, lwasr.json with kind ``lora``). ``fuse``, ``distill``, ``expand`` and ``decode``
all start from :func:`load_experts` and :func:`attach_experts`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import torch
from peft import LoraConfig, PeftConfig, PeftModel
from peft.tuners.lora import LoraLayer
from transformers import WhisperForConditionalGeneration

from lwasr.errors import LwasrError
from lwasr.units.base import load_base_of, quiet_peft_wrapping
from lwasr.units.meta import ADAPTER_CONFIG, ModelMeta, check_same_base
from lwasr.units.weights import check_finite_files


@dataclass
class Expert:
    """One language expert: its language, directory, ``lwasr.json`` and PEFT LoRA config."""

    lang: str
    path: Path
    meta: ModelMeta
    config: LoraConfig


@dataclass
class Factors:
    """The LoRA factors of one module for one adapter: ``delta W = scaling * B @ A``."""

    A: torch.Tensor  # (r, in_features)
    B: torch.Tensor  # (out_features, r)
    scaling: float

    @property
    def rank(self) -> int:
        return self.A.shape[0]

    def delta(self) -> torch.Tensor:
        """The dense weight update ``scaling * B @ A``."""
        return self.scaling * (self.B @ self.A)


def discover_experts(experts_dir: str | Path) -> dict[str, Path]:
    """Map language -> expert directory for every adapter directory under ``experts_dir``.

    Hidden entries are skipped: ``.<lang>.tmp*`` is the temporary of a write a kill interrupted (lwasr.atomic).
    """
    root = Path(experts_dir)
    if not root.is_dir():
        raise LwasrError(f"experts directory {root} does not exist; train experts first (`lwasr train`)")
    entries = sorted(d for d in root.iterdir() if not d.name.startswith("."))
    return {d.name: d for d in entries if (d / ADAPTER_CONFIG).is_file()}


def load_experts(experts_dir: str | Path, langs: list[str]) -> list[Expert]:
    """Load the experts for ``langs`` (in that order) and check that they can be combined.

    Raises LwasrError when a language has no expert (listing those that exist), when an expert is not a
    plain LoRA adapter, or when the experts disagree on their base model or decoding settings.
    """
    available = discover_experts(experts_dir)
    missing = [lang for lang in langs if lang not in available]
    if missing:
        have = ", ".join(available) or "none"
        raise LwasrError(f"no expert for {', '.join(missing)} in {experts_dir}; experts there: {have}")
    experts = [_load_expert(lang, available[lang]) for lang in langs]
    check_compatible(experts)
    return experts


def _load_expert(lang: str, path: Path) -> Expert:
    meta = ModelMeta.load(path)
    if meta.kind != "lora" or meta.languages != [lang]:
        raise LwasrError(
            f"{path} is not a LoRA expert for {lang!r} (lwasr.json: kind={meta.kind!r}, languages={meta.languages})"
        )
    config = PeftConfig.from_pretrained(str(path))
    check_plain_lora(config, f"expert {path}")
    return Expert(lang=lang, path=path, meta=meta, config=config)


def check_plain_lora(config: PeftConfig, what: str) -> None:
    """Raise LwasrError unless ``config`` (of the adapter ``what``) is a plain LoRA adapter: no DoRA, bias,
    modules to save or target parameters, which experts cannot carry."""
    if not isinstance(config, LoraConfig):
        raise LwasrError(f"{what} is a {type(config).__name__} adapter; only LoRA adapters are supported")
    unsupported = {
        "use_dora": config.use_dora,
        "bias": config.bias != "none",
        "lora_bias": config.lora_bias,
        "modules_to_save": bool(config.modules_to_save),
        "target_parameters": bool(config.target_parameters),
    }
    bad = [k for k, v in unsupported.items() if v]
    if bad:
        raise LwasrError(f"{what} uses {', '.join(bad)}; only plain LoRA adapters are supported")


def check_compatible(experts: list[Expert]) -> None:
    """Experts must share a base model (fingerprint) and the decoding settings recorded in lwasr.json."""
    check_same_base({e.lang: e.meta.base_fingerprint for e in experts})
    check_same_settings({e.lang: e.meta for e in experts})


def check_same_settings(metas: Mapping[str, ModelMeta]) -> None:
    """Experts (language -> lwasr.json) must agree on how they decode: the language token, trimmed input."""
    for attr in ("lang_token", "trim_encoder_input"):
        values = {lang: getattr(meta, attr) for lang, meta in metas.items()}
        if len(set(values.values())) > 1:
            raise LwasrError(f"the experts disagree on {attr}: {values}")


def base_spec(experts: list[Expert], model: str | None = None) -> str:
    """The base model spec to load: ``model`` if given, else the one recorded by the (first) expert."""
    return model or experts[0].meta.base_model


def load_base(experts: list[Expert], model: str | None = None) -> WhisperForConditionalGeneration:
    """Load the experts' base model (float32, eval) and check its fingerprint against the experts'.

    ``model`` overrides the base recorded in the experts' lwasr.json (e.g. when the base was moved).
    """
    return load_base_of({e.lang: e.meta for e in experts}, model)[0]


def attach_experts(base: torch.nn.Module, experts: list[Expert]) -> PeftModel:
    """Wrap ``base`` (modified in place) in a PeftModel holding every expert as an adapter named by its language."""
    return attach_adapters(base, {e.lang: e.path for e in experts})


def attach_adapters(base: torch.nn.Module, adapters: Mapping[str, Path]) -> PeftModel:
    """Wrap ``base`` (modified in place) in a PeftModel holding adapter dir ``adapters[name]`` under each name."""
    for path in adapters.values():
        check_finite_files(path)
    (first, path), *rest = adapters.items()
    with quiet_peft_wrapping():
        model = PeftModel.from_pretrained(base, str(path), adapter_name=first)
        for name, p in rest:
            model.load_adapter(str(p), adapter_name=name)
    return model.eval()


def lora_layers(model: PeftModel) -> dict[str, LoraLayer]:
    """Every LoRA-wrapped module of ``model``, by its name inside the base model."""
    prefix = "base_model.model."
    return {name.removeprefix(prefix): m for name, m in model.named_modules() if isinstance(m, LoraLayer)}


def expert_factors(model: PeftModel, adapter: str) -> dict[str, Factors]:
    """The factors of ``adapter`` in every module it adapts (module name -> Factors)."""
    return {
        name: Factors(
            A=layer.lora_A[adapter].weight.detach(),
            B=layer.lora_B[adapter].weight.detach(),
            scaling=float(layer.scaling[adapter]),
        )
        for name, layer in lora_layers(model).items()
        if adapter in layer.lora_A
    }


def check_same_shape(factors: dict[str, dict[str, Factors]]) -> None:
    """Raise LwasrError unless all experts adapt the same modules with the same ranks (ties and dare need it)."""
    (ref_lang, ref), *others = factors.items()
    for lang, f in others:
        if set(f) != set(ref):
            diff = sorted(set(f) ^ set(ref))
            raise LwasrError(
                f"experts {ref_lang} and {lang} adapt different modules (e.g. {', '.join(diff[:3])}); "
                "this method needs identical target modules (sum and svd do not)"
            )
        ranks = {name: (ref[name].rank, f[name].rank) for name in ref if ref[name].rank != f[name].rank}
        if ranks:
            name, (r1, r2) = next(iter(ranks.items()))
            raise LwasrError(
                f"experts {ref_lang} and {lang} have different LoRA ranks ({r1} vs {r2} in {name}); "
                "this method needs equal ranks (sum and svd do not)"
            )
