"""The registry of unit kinds: what a ``--system`` path is, and the loader that makes it decodable.

Kinds: ``base`` (a model spec or a HF directory without lwasr.json), ``experts`` (a directory of ``<lang>/``
lora units) and every ``kind`` an lwasr.json records (``full``, ``lora``, ``moe``, ``router``). The module that
implements a kind registers its loader with ``@register_loader(kind)`` (as peft's ``register_peft_method``), in its
own layer: decoding registers base, full, lora and experts, the methods their own kinds. :mod:`lwasr.loaders` imports
every registering module, so that a command that loads systems has them all, and import-linter sees each of those
dependencies; decoding finds the ``moe`` loader without importing expansion.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from lwasr.errors import LwasrError
from lwasr.units.experts import discover_experts
from lwasr.units.meta import META_FILE, ModelMeta

#: ``loader(spec, meta, model_override) -> System``; ``meta`` is None for kinds without lwasr.json.
Loader = Callable[[str, "ModelMeta | None", "str | None"], Any]
_LOADERS: dict[str, Loader] = {}


def register_loader(kind: str) -> Callable[[Loader], Loader]:
    """Decorator: register ``loader`` as the one that loads units of ``kind`` (one module registers a kind)."""

    def wrap(fn: Loader) -> Loader:
        known = _LOADERS.get(kind)
        if known is not None and known.__module__ != fn.__module__:
            raise ValueError(f"unit kind {kind!r} is registered by {known.__module__} already")
        _LOADERS[kind] = fn
        return fn

    return wrap


def loader(kind: str, where: str) -> Loader:
    """The loader registered for ``kind``; ``where``: the unit, for the error."""
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
