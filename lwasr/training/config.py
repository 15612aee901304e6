"""The training configuration: one type-checked dataclass, filled from a YAML file plus overrides."""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, ClassVar

import yaml

from lwasr.atomic import write_text
from lwasr.config_fields import default_of, finite_numbers, help_of, redefault, setting  # noqa: F401 - the config modules import them here
from lwasr.errors import LwasrError
from lwasr.langcodes import check_whisper_code
from lwasr.precision_support import PRECISIONS
from lwasr.training.qlora import QUANTIZE, check_bitsandbytes
from lwasr.training.validation import METRICS

MODES = ("expert", "shared", "full")
#: The values of ``frozen_dtype``; ``auto`` is resolved by :func:`lwasr.precision_support.resolve_precision`.
FROZEN_DTYPES = ("auto", "float32", "bfloat16")
LORA_TARGETS = ["q_proj", "k_proj", "v_proj", "out_proj", "fc1", "fc2"]
#: Numeric settings and their lower bound: (bound, whether the bound itself is allowed).
LOWER_BOUNDS: dict[str, tuple[float, bool]] = {
    "lr": (0, False),
    "weight_decay": (0, True),
    "warmup_steps": (0, True),
    "max_grad_norm": (0, True),
    "accum_grad": (1, True),
    "num_epochs": (1, True),
    "max_duration": (0, False),
    "max_utts": (0, True),
    "num_buckets": (1, True),
    "num_workers": (0, True),
    "freq_masks": (0, True),
    "freq_mask_width": (0, True),
    "time_masks": (0, True),
    "time_mask_width": (0, True),
    "save_every": (1, True),
    "keep_last": (1, True),
    "valid_every": (0, True),
    "patience": (0, True),
    "average": (1, True),
    "log_every": (1, True),
}
#: The same for the LoRA settings, checked in the modes that train a LoRA.
LORA_LOWER_BOUNDS: dict[str, tuple[float, bool]] = {"lora_rank": (1, True), "lora_alpha": (0, False)}
#: Whether ``precision: auto`` trains in bfloat16 on a CPU that has it: not yet. On a quiet Zen 4 a whisper-base
#: LoRA run is 1.24x faster, but the WER intervals of the trained systems do not exclude a loss and the main job
#: gains 2% (docs/performance.md, bench/bf16_cpu.py).
AUTO_BF16_ON_CPU = False
#: Whether ``frozen_dtype: auto`` holds the frozen base in bfloat16 on a CPU that has it: yes, since ``auto`` is
#: asked for (the default is float32) and a LoRA run there is 1.26x faster (docs/performance.md).
AUTO_BF16_FROZEN_ON_CPU = True
#: Settings a resumed run may change: they change how often it logs and saves or how fast it runs,
#: not what it computes. Any other difference from the checkpoint's settings refuses the resume.
RESUME_SAFE = frozenset(
    {"exp_dir", "resume", "overwrite", "log_every", "save_every", "keep_last", "num_workers", "grad_checkpointing"}
)


@dataclass
class TrainConfig:
    """Everything one training run needs; ``config.yaml`` in the run directory is this, resolved.

    Steps are optimizer steps (``accum_grad`` batches each). ``max_steps=0`` means ``num_epochs`` decide.
    """

    #: Whether the run's trainer starts from ``init_adapter`` (the methods that build their own model do not).
    takes_init_adapter: ClassVar[bool] = True
    #: Whether the run may hold its frozen base other than in float32 (QLoRA's quantised base, a bfloat16 base):
    #: lwasr train only, the one tested that way.
    takes_lean_base: ClassVar[bool] = True

    mode: str = setting(
        "expert",
        "expert (one LoRA on one language, Whisper frozen), shared (one LoRA on the pooled languages) or full.",
    )
    lang: str | None = setting(None, "The expert's language (mode expert).")
    langs: list[str] | None = setting(
        None, "shared/full: comma-separated languages to pool (default: all in the manifests)."
    )
    model: str = setting(
        "embedded:whisper-base",
        "Base Whisper: embedded:whisper-base, a local HF model dir, or a hub id"
        " (distill, expand: default the experts' recorded base).",
    )
    cuts: list[str] = setting(
        [], "Training CutSet manifest(s) (.jsonl.gz) or directories of *cuts*.jsonl.gz; repeat for several."
    )
    dev_cuts: list[str] = setting([], "Dev manifest(s) or directories: dev loss, best checkpoint, early stopping.")
    exp_dir: str = setting("exp/train", "Experiment directory exp/<tag>.")
    name: str = setting(
        "",
        "The unit's directory name under exp_dir, its run dir train_<name> (lwasr train: modes shared and full;"
        " empty: shared, full or experts/<lang>).",
    )
    lang_token: bool = setting(True, "Put <|lang|> in the decoder prompt (off: language-agnostic training).")
    trim_encoder_input: bool = setting(True, "Feed the encoder only the batch's length instead of 30 s.")
    # LoRA (modes expert and shared); defaults follow LoRA-Whisper, alpha and dropout are our choice
    lora_rank: int = setting(32, "LoRA rank.")
    lora_alpha: int = setting(64, "LoRA scaling alpha (the update is scaled by alpha/rank).")
    lora_dropout: float = setting(0.05, "Dropout on the LoRA input, in [0, 1).")
    lora_target_modules: list[str] = setting(LORA_TARGETS, "Module names that get a LoRA (encoder and decoder).")
    init_adapter: str | None = setting(
        None,
        "Start the LoRA from this adapter unit (e.g. an `lwasr fuse --method svd` output) instead of a fresh one;"
        " its rank, alpha and target modules replace the lora_* settings.",
    )
    # lean training on small GPUs (lwasr.training.qlora, lwasr.training.scaler)
    quantize_base: str = setting(
        "none",
        "QLoRA: the frozen base quantised to 8bit or 4bit (NF4) by bitsandbytes (pip install 'lwasr[qlora]'), or"
        " none (float32). Modes expert and shared.",
    )
    frozen_dtype: str = setting(
        "float32",
        "dtype the frozen base is held in (float32, bfloat16, or auto: bfloat16 where the device computes it"
        " natively), cast once when it is loaded: bfloat16 halves its memory and, unlike precision's autocast, does"
        " not cast the frozen weights again at every step. The LoRA and the optimizer stay float32 (peft keeps an"
        " adapter in float32 on a bfloat16 base). Modes expert and shared: full fine-tuning has no frozen weights."
        " docs/performance.md has the measured speed and WER.",
    )
    # optimisation
    lr: float = setting(1e-3, "Peak learning rate (the shipped train_full.yaml sets 1e-5 for mode full).")
    weight_decay: float = setting(0.0, "AdamW weight decay.")
    lr_schedule: str = setting("linear", "linear (warm-up, then linear decay to 0) or constant (after warm-up).")
    warmup_steps: int = setting(100, "Optimizer steps of linear warm-up (train_full.yaml: 500).")
    max_grad_norm: float = setting(1.0, "Gradient clipping: largest gradient norm.")
    accum_grad: int = setting(1, "Batches per optimizer step.")
    num_epochs: int = setting(10, "Epochs when --max-steps is 0.")
    max_steps: int = setting(0, "Optimizer steps (0: --num-epochs decide).")
    seed: int = setting(42, "Random seed of the run.")
    # data
    max_duration: float = setting(120.0, "Seconds of audio per batch.")
    max_utts: int = setting(
        0, "At most this many training utterances per language, the first in manifest order (0: all)."
    )
    num_buckets: int = setting(10, "Duration buckets of the batch sampler.")
    num_workers: int = setting(0, "Data-loader worker processes.")
    speed_perturb: list[float] = setting([], "Speed factors whose perturbed copies are added, e.g. [0.9, 1.1].")
    spec_augment: bool = setting(False, "SpecAugment frequency and time masks on the training features.")
    freq_masks: int = setting(2, "SpecAugment: frequency masks per utterance.")
    freq_mask_width: int = setting(27, "SpecAugment: widest frequency mask (mel bins).")
    time_masks: int = setting(2, "SpecAugment: time masks per utterance.")
    time_mask_width: int = setting(40, "SpecAugment: widest time mask (frames of 10 ms).")
    # speed
    precision: str = setting(
        "auto",
        f"Compute precision ({', '.join(PRECISIONS)}): bfloat16 autocasts the forward pass (float32 master weights"
        " and optimizer), on a CPU too; float16 adds a dynamic loss scaler, for GPUs without bfloat16 (V100, T4);"
        " auto is bfloat16 on a CUDA GPU that computes it natively (Ampere on) and"
        " float32 elsewhere, CPUs with avx512_bf16 or AMX included (a LoRA run there is about 1.25x faster in"
        " bfloat16, with no WER loss shown nor excluded: docs/performance.md).",
    )
    grad_checkpointing: bool = setting(False, "Gradient checkpointing: less memory, more compute.")
    # checkpoints, validation, logging
    resume: bool = setting(
        True,
        "Continue from the last checkpoint (default), or discard checkpoints and start over (a finished"
        " model is still skipped). A resume with other settings than the checkpoint's is refused.",
    )
    overwrite: bool = setting(
        False,
        "Start over: discard the checkpoints and train again even if the model is finished (replaced at the end).",
    )
    save_every: int = setting(500, "Optimizer steps between checkpoints.")
    keep_last: int = setting(3, "Checkpoints kept.")
    valid_every: int = setting(
        500, "Optimizer steps between dev-loss validations (0: at the end of every epoch, as the papers validate)."
    )
    patience: int = setting(0, "Stop after this many validations without improvement (0: never).")
    final_model: str = setting("best", "best (lowest dev loss, or --valid-metric; last without dev cuts) or last.")
    valid_metric: str = setting(
        "loss",
        "What chooses the best checkpoint and counts for patience: loss (dev loss per token) or wer (greedy dev"
        " WER, CER for zh and ja, macro-averaged over languages; the dev loss is still logged).",
    )
    average: int = setting(
        1,
        "Average the weights of this many validations into the final model (1: none; needs dev cuts): the best N"
        " by valid_metric (final_model best, ESPnet's ave_N best) or the last N (final_model last, icefall's --avg).",
    )
    log_every: int = setting(10, "Optimizer steps between log lines.")
    device: str = setting("auto", "auto, cpu or cuda.")

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            setattr(self, f.name, _coerce(f.name, getattr(self, f.name), _hints(type(self))[f.name]))
        self._validate()

    def _validate(self) -> None:
        checks = [
            (self.mode in MODES, f"mode must be one of {', '.join(MODES)}, not {self.mode!r}"),
            (self.mode != "expert" or bool(self.lang), "mode=expert needs a language (--lang)"),
            (self.mode == "expert" or not self.lang, f"--lang is for mode=expert; mode={self.mode} uses --langs"),
            (self.lr_schedule in ("linear", "constant"), f"lr_schedule must be linear or constant: {self.lr_schedule}"),
            (self.final_model in ("best", "last"), f"final_model must be best or last: {self.final_model}"),
            (self.valid_metric in METRICS, f"valid_metric must be one of {', '.join(METRICS)}: {self.valid_metric}"),
            (
                self.average == 1 or bool(self.dev_cuts),
                f"average={self.average} averages validated checkpoints: give dev cuts (--dev-cuts)",
            ),
            (self.device in ("auto", "cpu", "cuda"), f"device must be auto, cpu or cuda: {self.device}"),
            (self.precision in PRECISIONS, f"precision must be one of {', '.join(PRECISIONS)}: {self.precision}"),
            (
                self.frozen_dtype in FROZEN_DTYPES,
                f"frozen_dtype must be one of {', '.join(FROZEN_DTYPES)}: {self.frozen_dtype}",
            ),
            (
                self.frozen_dtype == "float32" or (self.takes_lean_base and self.quantize_base == "none"),
                "frozen_dtype is a setting of lwasr train on a float base (quantize_base holds it in 8 or 4 bits;"
                " distill, learned fusion and expand train on a float32 base)",
            ),
            (self.max_steps >= 0, f"max_steps must be >= 1, or 0 to let num_epochs decide; got {self.max_steps}"),
            (all(f > 0 for f in self.speed_perturb), f"speed_perturb factors must be > 0, got {self.speed_perturb}"),
            (not self.init_adapter or self.mode != "full", "init_adapter starts a LoRA; mode full trains no LoRA"),
            (not self.name or self.mode != "expert", "name is for modes shared and full; experts go to experts/<lang>"),
            (
                "/" not in self.name and self.name not in (".", ".."),
                f"the unit name must be a plain directory name, not {self.name!r}",
            ),
            (
                not self.init_adapter or self.takes_init_adapter,
                "init_adapter is a setting of lwasr train (distill and expand start from --init)",
            ),
            (
                self.quantize_base in QUANTIZE,
                f"quantize_base must be one of {', '.join(QUANTIZE)}, not {self.quantize_base!r}",
            ),
            (
                self.quantize_base == "none" or self.takes_lean_base,
                "quantize_base is a setting of lwasr train (distill, learned fusion and expand train on a float base)",
            ),
            (
                self.quantize_base == "none" or self.mode != "full",
                f"quantize_base {self.quantize_base} freezes a quantised base under a LoRA; mode full trains every"
                " weight (use mode expert or shared)",
            ),
        ]
        if self.mode != "full":
            checks += [
                (0 <= self.lora_dropout < 1, f"lora_dropout must be in [0, 1), got {self.lora_dropout}"),
                (bool(self.lora_target_modules), "lora_target_modules is empty; name the modules to adapt"),
            ]
        for ok, message in checks:
            if not ok:
                raise LwasrError(message)
        self._check_bounds(LOWER_BOUNDS | (LORA_LOWER_BOUNDS if self.mode != "full" else {}))
        check_bitsandbytes(self.quantize_base)
        for code in ([self.lang] if self.lang else []) + (self.langs or []):
            check_whisper_code(code)

    def _check_bounds(self, bounds: dict[str, tuple[float, bool]]) -> None:
        for name, (low, inclusive) in bounds.items():
            value = getattr(self, name)
            if not math.isfinite(value):
                raise LwasrError(f"{name} must be a finite number, got {value}")
            if not (value >= low if inclusive else value > low):
                raise LwasrError(f"{name} must be {'>=' if inclusive else '>'} {low}, got {value}")

    def resume_changes(self, recorded: dict[str, Any]) -> list[str]:
        """``key: old -> new`` for each setting (outside :data:`RESUME_SAFE`) that differs from ``recorded``.

        ``recorded``: the settings a checkpoint was made with, as read back from :meth:`to_yaml`.
        """
        current = yaml.safe_load(self.to_yaml())
        recorded = upgrade_settings(recorded)
        keys = [k for k in dict.fromkeys([*current, *recorded]) if k not in RESUME_SAFE]
        missing = "(unset)"
        # a setting added after the checkpoint was made counts as its default there
        defaults = {f.name: default_of(type(self), f.name) for f in dataclasses.fields(self)}
        defaults = yaml.safe_load(yaml.safe_dump(defaults))
        recorded = {**{k: v for k, v in defaults.items() if k not in recorded}, **recorded}
        return [
            f"{k}: {recorded.get(k, missing)} -> {current.get(k, missing)}"
            for k in keys
            if recorded.get(k, missing) != current.get(k, missing)
        ]

    @property
    def run_name(self) -> str:
        """``train_<name>``, else ``train_<mode>[_<lang>]``: the run directory's name under ``exp_dir``."""
        if self.name:
            return f"train_{self.name}"
        return f"train_{self.mode}" + (f"_{self.lang}" if self.mode == "expert" else "")

    @property
    def run_dir(self) -> Path:
        return Path(self.exp_dir) / self.run_name

    @property
    def unit_dir(self) -> Path:
        """The final model under ``exp_dir``: ``<name>``, else ``experts/<lang>``, ``shared`` or ``full``."""
        sub = self.name or {"expert": f"experts/{self.lang}", "shared": "shared", "full": "full"}[self.mode]
        return Path(self.exp_dir) / sub

    def to_yaml(self) -> str:
        return yaml.safe_dump(dataclasses.asdict(self), sort_keys=False, allow_unicode=True)

    def save(self, path: str | Path) -> None:
        write_text(path, self.to_yaml())


@dataclass
class UnitConfig(TrainConfig):
    """A run on pooled languages that writes one named unit, ``<exp_dir>/<name>`` (run dir ``train_<name>``).

    Base of the configs of ``lwasr fuse --method learned`` and ``lwasr distill``; ``mode`` is shared or full.
    """

    takes_init_adapter: ClassVar[bool] = False
    takes_lean_base: ClassVar[bool] = False
    mode: str = redefault(TrainConfig, "mode", "shared")
    name: str = redefault(TrainConfig, "name", "model")

    def _validate(self) -> None:
        if self.mode not in ("shared", "full"):
            raise LwasrError(f"{type(self).__name__}: mode must be shared (a LoRA) or full, not {self.mode!r}")
        super()._validate()
        if not self.name:
            raise LwasrError(f"the unit name must be a plain directory name, not {self.name!r}")


def _hints(cls: type = TrainConfig) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _coerce(name: str, value: Any, hint: Any) -> Any:
    """Check ``value`` against the field type ``hint``; ints pass as floats, a comma string as a list."""
    args = typing.get_args(hint)
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        if value is None and type(None) in args:
            return None
        return _coerce(name, value, next(a for a in args if a is not type(None)))
    if typing.get_origin(hint) is list and args[0] is float:
        return finite_numbers(value, f"config {name}")
    if typing.get_origin(hint) is list:
        if isinstance(value, str):
            items = [v.strip() for v in value.split(",") if v.strip()]
            value = items if args[0] is str else [yaml.safe_load(v) for v in items]
        if not isinstance(value, (list, tuple)):
            raise LwasrError(f"config {name}: expected a list, got {value!r}")
        return [_coerce(name, v, args[0]) for v in value]
    if hint in (int, float) and isinstance(value, str):
        try:
            return hint(value)
        except ValueError:
            raise LwasrError(f"config {name}: expected {hint.__name__}, got {value!r}") from None
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hint is str and isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, hint) or (hint is int and isinstance(value, bool)):
        raise LwasrError(f"config {name}: expected {hint.__name__}, got {value!r}")
    return value


def upgrade_settings(values: dict[str, Any]) -> dict[str, Any]:
    """``values`` (a config file's or a checkpoint's settings) with the keys of older lwasr renamed: ``bf16: true``
    (bfloat16 autocast, on CUDA only) is now ``precision: auto``, ``bf16: false`` is ``precision: float32``."""
    values = dict(values)
    if "bf16" in values:
        values.setdefault("precision", "auto" if values.pop("bf16") else "float32")
    return values


def default_config_file(mode: str) -> Path:
    """The shipped defaults for ``mode``: ``lwasr/conf/train_<mode>.yaml``."""
    return Path(str(resources.files("lwasr") / "conf" / f"train_{mode}.yaml"))


def parse_override(item: str) -> tuple[str, Any]:
    """``key=value`` (value read as YAML: ``lr=1e-4``, ``speed_perturb=[0.9,1.1]``) -> (key, value)."""
    if "=" not in item:
        raise LwasrError(f"override {item!r} is not key=value")
    key, raw = item.split("=", 1)
    return key.strip().replace("-", "_"), yaml.safe_load(raw) if raw.strip() else None


def load_config(
    path: str | Path | None, overrides: dict[str, Any], cls: type[TrainConfig] = TrainConfig
) -> TrainConfig:
    """YAML file (or the shipped defaults for the override's mode) merged with ``overrides`` (which win).

    ``cls``: a TrainConfig subclass with more fields (:class:`UnitConfig` stages: learned fusion, distill).
    """
    if path is None:
        mode = overrides.get("mode")
        path = default_config_file(mode if mode in MODES else "expert")
    path = Path(path)
    if not path.is_file():
        raise LwasrError(f"config file not found: {path}")
    values = yaml.safe_load(path.read_text()) or {}
    if not isinstance(values, dict):
        raise LwasrError(f"{path}: expected a mapping of option: value")
    values.update({k: v for k, v in overrides.items() if v is not None})
    values = upgrade_settings(values)
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise LwasrError(f"unknown training option(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    return cls(**values)
