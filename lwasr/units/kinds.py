"""The registry of unit kinds: what a ``--system`` path is, and the loader that makes it decodable.

Kinds: ``base`` (a model spec or a HF directory without lwasr.json), ``experts`` (a directory of ``<lang>/``
lora units) and every ``kind`` an lwasr.json may record (``full``, ``lora``, ``moe``, ``router``). The module that
implements a kind registers its loader with ``@register_loader(kind)`` (as peft's ``register_peft_method``);
:data:`PROVIDERS` names that module, so a lookup imports it on first use (as transformers' auto classes map
names to modules): decoding finds the ``moe`` loader without importing expansion.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lwasr.errors import LwasrError
from lwasr.units.experts import discover_experts
from lwasr.units.meta import META_FILE, ModelMeta

#: kind -> the module that registers its loader. A new kind adds a row here and ``@register_loader`` there.
PROVIDERS: dict[str, str] = {
    "base": "lwasr.decoding.systems",
    "full": "lwasr.decoding.systems",
    "lora": "lwasr.decoding.systems",
    "experts": "lwasr.decoding.systems",
    "moe": "lwasr.expansion.moe",
    "router": "lwasr.routing.system",
}

#: ``loader(spec, meta, model_override) -> System``; ``meta`` is None for kinds without lwasr.json.
Loader = Callable[[str, "ModelMeta | None", "str | None"], Any]
_LOADERS: dict[str, Loader] = {}


def register_loader(kind: str) -> Callable[[Loader], Loader]:
    """Decorator: register ``loader`` as the one that loads units of ``kind``."""
    if kind not in PROVIDERS:
        raise ValueError(f"unit kind {kind!r} has no row in lwasr.units.kinds.PROVIDERS")

    def wrap(fn: Loader) -> Loader:
        _LOADERS[kind] = fn
        return fn

    return wrap


def loader(kind: str, where: str) -> Loader:
    """The loader registered for ``kind`` (importing its provider module first if needed); ``where``: the unit."""
    if kind not in _LOADERS and kind in PROVIDERS:
        importlib.import_module(PROVIDERS[kind])
    if kind not in _LOADERS:
        raise LwasrError(f"{where}: decoding models of kind {kind!r} is not supported yet")
    return _LOADERS[kind]


def expert_dirs(path: Path) -> dict[str, Path]:
    """``<lang> -> unit dir`` for every ``path/<lang>/`` holding a finished lora unit (empty if none)."""
    if not path.is_dir():
        return {}
    return {lang: d for lang, d in discover_experts(path).items() if (d / META_FILE).is_file()}


def kind_of(spec: str) -> tuple[str, ModelMeta | None]:
    """The kind of the unit ``spec`` names, and its lwasr.json when it has one."""
    path = Path(spec).expanduser()
    if spec.startswith("embedded:") or not path.exists():
        return "base", None
    if (path / META_FILE).is_file():
        meta = ModelMeta.load(path)
        return meta.kind, meta
    if expert_dirs(path):
        return "experts", None
    if (path / "config.json").is_file():
        return "base", None
    raise LwasrError(
        f"{path} is not a decodable system: expected a model dir with {META_FILE} (lora or full), an experts dir"
        " (<lang>/ lora units), a Hugging Face model dir, or embedded:whisper-base"
    )
