"""Self-describing model units.

Every model directory lwasr writes (an expert, the shared LoRA, a full fine-tune, later fused,
distilled and expanded models) carries ``lwasr.json``: what kind it is, which base model it needs,
a fingerprint of that base, the languages it was trained on, and how it must be decoded. ``decode``,
``fuse``, ``distill`` and ``expand`` read it instead of guessing.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from lwasr.atomic import write_json
from lwasr.errors import LwasrError
from lwasr.units.weights import check_finite_files

META_FILE = "lwasr.json"
#: PEFT's description of an adapter, beside its weights.
ADAPTER_CONFIG = "adapter_config.json"


@dataclass
class ModelMeta:
    """Contents of ``lwasr.json``.

    kind: ``lora`` (a PEFT adapter over ``base_model``), ``full`` (a whole HF model directory) or
    ``moe`` (a mixture unit written by ``expand``) or ``router`` (a language classifier over a set of
    experts, written by ``lwasr router train``); each kind's loader is in :mod:`lwasr.units.kinds`.
    ``lang_token``: whether the decoder prompt carried the language token in training. ``trim_encoder_input``:
    whether it was trained on trimmed input (decoding follows it by default).
    """

    kind: str
    base_model: str
    base_fingerprint: str
    languages: list[str]
    lang_token: bool = True
    trim_encoder_input: bool = True
    extra: dict[str, Any] = field(default_factory=dict)

    def save(self, unit_dir: str | Path) -> None:
        """Write ``lwasr.json`` into ``unit_dir`` (atomically), once its weights are checked finite (a unit with
        NaN or inf weights is refused: :func:`lwasr.units.weights.check_finite_files`)."""
        check_finite_files(unit_dir)
        write_json(Path(unit_dir) / META_FILE, dataclasses.asdict(self))

    @classmethod
    def load(cls, unit_dir: str | Path) -> ModelMeta:
        """Read ``lwasr.json`` from ``unit_dir``; a clear error when it is missing or malformed."""
        path = Path(unit_dir) / META_FILE
        if not path.is_file():
            raise LwasrError(f"{unit_dir} is not an lwasr model (no {META_FILE}); was its training finished?")
        try:
            return cls(**json.loads(path.read_text()))
        except (TypeError, json.JSONDecodeError) as e:
            raise LwasrError(f"{path} is malformed: {e}") from e


def base_fingerprint(model: torch.nn.Module) -> str:
    """A short hash of a base model's config and weights, recorded at training time.

    Hashes the config plus every parameter's shape and a strided sample of its values, so that it is
    cheap (well under a second for large-v3) yet differs between checkpoints of the same architecture.
    """
    h = hashlib.sha256()
    config = getattr(model, "config", None)
    if config is not None:
        keys = ("d_model", "encoder_layers", "decoder_layers", "vocab_size", "num_mel_bins")
        h.update(json.dumps({k: getattr(config, k, None) for k in keys}, sort_keys=True).encode())
    for name, p in sorted(model.state_dict().items()):
        if "lora_" in name:
            continue
        name = name.replace("base_model.model.", "").replace(".base_layer", "")
        flat = p.detach().reshape(-1)
        sample = flat[:: max(1, flat.numel() // 64)][:64].float().cpu()
        h.update(name.encode() + str(tuple(p.shape)).encode() + sample.numpy().tobytes())
    return h.hexdigest()[:16]


def check_same_base(fingerprints: dict[str, str]) -> None:
    """Raise LwasrError naming the units whose base model differs from the others'."""
    distinct = set(fingerprints.values())
    if len(distinct) > 1:
        detail = ", ".join(f"{k}={v}" for k, v in sorted(fingerprints.items()))
        raise LwasrError(f"these models were trained from different base models (fingerprints: {detail})")


@dataclass(frozen=True)
class LoraShape:
    """The shape of a unit's LoRA adapter, as its ``lwasr.json`` records it (``extra.lora``): rank, alpha, target
    modules (sorted: a set of module names), and the LoRA dropout it was trained with."""

    rank: int
    alpha: float
    target_modules: tuple[str, ...]
    dropout: float = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "target_modules", tuple(sorted(self.target_modules)))

    @classmethod
    def of_settings(cls, cfg: Any) -> LoraShape:
        """The shape of a run's settings (``lora_rank``, ``lora_alpha``, ``lora_target_modules``, ``lora_dropout``)."""
        return cls(cfg.lora_rank, cfg.lora_alpha, tuple(cfg.lora_target_modules), cfg.lora_dropout)

    @classmethod
    def of_config(cls, config: Any) -> LoraShape:
        """The shape of a PEFT ``LoraConfig`` (or its ``adapter_config.json`` as a dict)."""
        get = config.get if isinstance(config, dict) else lambda key: getattr(config, key)
        targets = get("target_modules")
        return cls(
            get("r"), get("lora_alpha"), (targets,) if isinstance(targets, str) else tuple(targets), get("lora_dropout")
        )

    @classmethod
    def of_record(cls, record: dict[str, Any]) -> LoraShape:
        """The shape an lwasr.json records (:meth:`record`)."""
        return cls(record["rank"], record["alpha"], tuple(record["target_modules"]), record["dropout"])

    def record(self) -> dict[str, Any]:
        """``extra.lora`` of lwasr.json."""
        return {
            "rank": self.rank,
            "alpha": self.alpha,
            "dropout": self.dropout,
            "target_modules": list(self.target_modules),
        }

    def settings(self) -> dict[str, Any]:
        """The run settings (TrainConfig fields ``lora_<key of the record>``) that give this shape."""
        return {f"lora_{key}": value for key, value in self.record().items()}


def lora_shape(unit_dir: str | Path) -> LoraShape:
    """The LoRA shape of the unit in ``unit_dir``: the ``extra.lora`` of its lwasr.json.

    A LoRA unit whose lwasr.json does not record it (written by an older lwasr) has it in its adapter's
    ``adapter_config.json``, which is read instead.
    """
    path = Path(unit_dir)
    recorded = ModelMeta.load(path).extra.get("lora") if (path / META_FILE).is_file() else None
    source = path / (META_FILE if recorded else ADAPTER_CONFIG)
    if not source.is_file():
        raise LwasrError(f"{unit_dir} holds no LoRA adapter (no {ADAPTER_CONFIG})")
    try:
        if recorded:
            return LoraShape.of_record(recorded)
        values = json.loads(source.read_text())
        if values.get("peft_type") != "LORA":
            raise LwasrError(f"{unit_dir} is not a LoRA adapter")
        return LoraShape.of_config(values)
    except (KeyError, TypeError, json.JSONDecodeError) as e:
        raise LwasrError(f"{source} is malformed: {e}") from e
