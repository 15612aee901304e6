"""Import a plain PEFT LoRA adapter made elsewhere (the Hugging Face blog recipe: ``LoraConfig`` + ``get_peft_model``
+ ``save_pretrained``, so no ``lwasr.json``) as an lwasr expert unit.

Everything is checked before anything is written: the adapter's config (a plain LoRA), its weights (safetensors only,
never a pickle; finite), its base (a Whisper, read from ``base_model_name_or_path`` unless ``--model``) and every LoRA
factor's shape against the module of the base it adapts. The unit then holds the adapter's two files as they are and
an ``lwasr.json`` like the one ``lwasr train`` writes for an expert.
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import torch
from peft import LoraConfig
from safetensors import SafetensorError
from safetensors.torch import load_file

from lwasr.atomic import atomic_path, check_output, recorded_settings
from lwasr.config_fields import differing
from lwasr.errors import LwasrError
from lwasr.langcodes import check_whisper_code
from lwasr.models.resolve import resolve_model
from lwasr.output_lock import holding_lock
from lwasr.units.base import load_whisper
from lwasr.units.experts import check_plain_lora
from lwasr.units.meta import ADAPTER_CONFIG, LoraShape, ModelMeta, base_fingerprint
from lwasr.units.weights import check_finite

log = logging.getLogger(__name__)
#: The command that writes (and may replace) imported adapter units (lwasr.atomic.check_output).
PRODUCER = "lwasr model import-adapter"
WEIGHTS = "adapter_model.safetensors"
#: What older peft (and ``safe_serialization=False``) writes: a pickle, which lwasr never loads.
PICKLED_WEIGHTS = "adapter_model.bin"
#: How peft prefixes the name of every saved tensor (the adapter's name removed).
_PREFIX = "base_model.model."
_FACTORS = (".lora_A.weight", ".lora_B.weight")


@holding_lock("dst")
def import_adapter(
    src: str | Path,
    dst: str | Path,
    lang: str,
    *,
    model: str | None = None,
    trim_encoder_input: bool = False,
    overwrite: bool = False,
) -> Path:
    """Write the PEFT LoRA adapter directory ``src`` as an lwasr expert unit for ``lang`` at ``dst``.

    ``model`` overrides the base recorded in ``adapter_config.json``; ``trim_encoder_input`` records that the adapter
    was trained on trimmed encoder input (the blog recipe pads to 30 s: False). ``dst`` must be new or an earlier
    import, kept when made with the same settings, replaced with ``overwrite``.
    """
    src, dst = Path(src), Path(dst)
    check_whisper_code(lang)
    config = read_lora_config(src)
    spec = model or config.base_model_name_or_path
    if not spec:
        raise LwasrError(f"{src / ADAPTER_CONFIG} names no base model (base_model_name_or_path): give it with --model")
    settings = {"source": str(src.resolve()), "lang": lang, "model": spec, "trim_encoder_input": trim_encoder_input}
    if check_output(dst, PRODUCER) and not overwrite:
        made = recorded_settings(dst) or {}
        changes = [f"{k}: {made.get(k)} -> {settings.get(k)}" for k in differing(made, settings)]
        if changes:
            raise LwasrError(
                f"{dst} holds an earlier import made with other settings ({'; '.join(changes)}): pass --overwrite to"
                " replace it, or choose another output"
            )
        log.info("%s is an earlier import of %s; kept (pass --overwrite to import again)", dst, src)
        return dst
    tensors = read_lora_weights(src)
    base = _whisper_base(spec, src)
    check_factor_shapes(tensors, base, config.r, src)
    meta = ModelMeta(
        kind="lora",
        base_model=spec,
        base_fingerprint=base_fingerprint(base),
        languages=[lang],
        trim_encoder_input=trim_encoder_input,
        extra={"mode": "expert", "lora": LoraShape.of_config(config).record(), "imported_from": str(src.resolve())},
    )
    with atomic_path(dst, is_dir=True, producer=PRODUCER, settings=settings) as tmp:
        for name in (ADAPTER_CONFIG, WEIGHTS):
            shutil.copyfile(src / name, tmp / name)
        meta.save(tmp)
    log.info("wrote %s: a %s expert of rank %d over %s", dst, lang, config.r, spec)
    return dst


def read_lora_config(src: Path) -> LoraConfig:
    """The ``LoraConfig`` of the adapter directory ``src``; one-line errors for a missing or garbage
    ``adapter_config.json``, another peft type, or LoRA options an expert cannot carry (per-module ranks included)."""
    path = src / ADAPTER_CONFIG
    if not path.is_file():
        raise LwasrError(f"{src} is not a PEFT adapter directory: {ADAPTER_CONFIG} is missing")
    try:
        values = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise LwasrError(f"{path} is not valid JSON: {e}") from None
    if not isinstance(values, dict):
        raise LwasrError(f"{path} is not a PEFT adapter config (a JSON object)")
    if values.get("peft_type") != "LORA":
        raise LwasrError(
            f"{src} is a {values.get('peft_type')!r} adapter (adapter_config.json peft_type); only LoRA adapters can be"
            " imported"
        )
    try:
        config = LoraConfig.from_pretrained(str(src))
    except (TypeError, ValueError) as e:
        raise LwasrError(f"{path} is not a valid LoRA config: {e}") from None
    check_plain_lora(config, f"adapter {src}")
    if config.rank_pattern or config.alpha_pattern:
        raise LwasrError(
            f"adapter {src} uses rank_pattern or alpha_pattern: its modules have different ranks or alphas, which an"
            " lwasr expert (one LoRA shape) cannot record; only adapters of one rank and alpha can be imported"
        )
    return config


def read_lora_weights(src: Path) -> dict[str, torch.Tensor]:
    """The tensors of ``src``'s ``adapter_model.safetensors``, checked finite; a pickled ``adapter_model.bin`` is
    refused, never loaded."""
    path = src / WEIGHTS
    if not path.is_file():
        if (src / PICKLED_WEIGHTS).is_file():
            raise LwasrError(
                f"{src} holds its weights as {PICKLED_WEIGHTS}, a pickle, which lwasr never loads (loading one can run"
                " code): save the adapter as safetensors where you trust it (PeftModel.from_pretrained(base, SRC)"
                ".save_pretrained(OUT, safe_serialization=True)) and import that"
            )
        raise LwasrError(f"{src} holds no adapter weights ({WEIGHTS} is missing)")
    try:
        tensors = load_file(str(path))
    except (SafetensorError, OSError) as e:
        raise LwasrError(f"{path} is not a readable safetensors file: {e}") from None
    check_finite(tensors.items(), src)
    return tensors


def _whisper_base(spec: str, src: Path) -> torch.nn.Module:
    """The base ``spec`` (a ``--model`` spec), refused unless it is a Whisper model."""
    config = Path(resolve_model(spec)) / "config.json"
    try:
        model_type = json.loads(config.read_text(encoding="utf-8")).get("model_type")
    except (OSError, ValueError, AttributeError):
        model_type = None
    if model_type != "whisper":
        raise LwasrError(
            f"the base of adapter {src}, {spec!r}, is a {model_type!r} model, not Whisper: lwasr imports adapters for"
            " Whisper only (give the Whisper base with --model if it was moved)"
        )
    return load_whisper(spec)[0]


def check_factor_shapes(tensors: dict[str, torch.Tensor], base: torch.nn.Module, rank: int, src: Path) -> None:
    """Raise LwasrError naming the first tensor of ``tensors`` (a saved PEFT LoRA state) that is not a rank-``rank``
    A or B factor of a linear module of ``base``, with its shape and the shape that module needs."""
    modules = dict(base.named_modules())
    for name, tensor in sorted(tensors.items()):
        suffix = next((s for s in _FACTORS if name.endswith(s)), None)
        if suffix is None or not name.startswith(_PREFIX):
            raise LwasrError(
                f"adapter {src}: tensor {name} is not a LoRA A or B factor; only plain LoRA adapters can be imported"
            )
        module_name = name.removeprefix(_PREFIX).removesuffix(suffix)
        module = modules.get(module_name)
        if not isinstance(module, torch.nn.Linear):
            raise LwasrError(
                f"adapter {src}: tensor {name} adapts {module_name}, which is not a linear layer of the Whisper base"
                " (an adapter for another model?)"
            )
        expected = (rank, module.in_features) if suffix == ".lora_A.weight" else (module.out_features, rank)
        if tuple(tensor.shape) != expected:
            raise LwasrError(
                f"adapter {src}: tensor {name} has shape {tuple(tensor.shape)}, but {module_name} of the base needs"
                f" {expected} (rank {rank}, adapter_config.json's r): the adapter does not fit this base (made on"
                " another one? give it with --model)"
            )
