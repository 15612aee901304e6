"""The registry of unit kinds: one registration per kind, made by the module that implements it."""

from __future__ import annotations

from pathlib import Path

import pytest

from lwasr import loaders
from lwasr.errors import LwasrError
from lwasr.units import kinds
from lwasr.units.meta import ModelMeta

#: Every kind lwasr writes or finds: what `lwasr decode --system` accepts.
KINDS = ("base", "full", "lora", "experts", "moe", "router")


@pytest.fixture
def registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """A copy of the registry, so that a test's own kinds do not outlive it."""
    monkeypatch.setattr(kinds, "_LOADERS", dict(kinds._LOADERS))


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_has_its_loader_from_a_module_lwasr_loaders_imports(kind: str) -> None:
    load = kinds.loader(kind, "unit")
    assert load.__module__ in {m.__name__ for m in loaders.PROVIDERS}


def test_an_unknown_kind_is_one_clear_error(tmp_path: Path) -> None:
    ModelMeta("hologram", "embedded:whisper-base", "", ["pl"]).save(tmp_path)
    with pytest.raises(LwasrError, match="kind 'hologram' is not supported"):
        loaders.load_system(str(tmp_path))


def test_a_new_kind_is_one_registration(registry: None, tmp_path: Path) -> None:
    ModelMeta("toy", "embedded:whisper-base", "", ["pl"]).save(tmp_path)

    @kinds.register_loader("toy")
    def load_toy(spec: str, meta: ModelMeta | None, model_override: str | None) -> tuple[str, list[str]]:
        assert meta is not None
        return spec, meta.languages

    assert loaders.load_system(str(tmp_path)) == (str(tmp_path), ["pl"])


def test_a_kind_cannot_be_registered_by_two_modules(registry: None) -> None:
    def other(spec: str, meta: ModelMeta | None, model_override: str | None) -> None:
        return None

    other.__module__ = "somewhere.else"
    with pytest.raises(ValueError, match="registered by lwasr.expansion.moe"):
        kinds.register_loader("moe")(other)
