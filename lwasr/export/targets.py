"""What an export writes: one model per target; an experts directory gives one per language (or the one ``--lang``).

Every target is loaded by the decode loaders (:func:`lwasr.loaders.load_system`, and
:func:`~lwasr.decoding.systems.load_experts` for one expert), so the export is built from exactly what
``lwasr decode`` runs, for every kind the registry knows (``moe`` included).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from lwasr.decoding.systems import System, load_experts
from lwasr.errors import LwasrError
from lwasr.loaders import load_system
from lwasr.units.kinds import expert_dirs, kind_of
from lwasr.units.meta import ModelMeta


@dataclass(frozen=True)
class Target:
    """One model to export: ``spec`` (a ``--system``), or the expert ``lang`` of the experts dir ``spec``.

    ``subdir``: where it goes under the output (None: the output itself). ``unit``: its unit directory (None for
    a base model given by name), where the model card looks for training data and test results.
    """

    spec: str
    kind: str
    meta: ModelMeta | None
    unit: Path | None
    lang: str | None = None
    subdir: str | None = None

    def load(self, model: str | None = None) -> System:
        """The decodable system (``model``: a base model overriding the recorded one)."""
        if self.kind == "experts":
            return load_experts(Path(self.spec), model, languages=[self.lang])
        return load_system(self.spec, model)

    @property
    def languages(self) -> list[str]:
        """The languages the exported model is for (empty: any, a base model)."""
        if self.lang is not None:
            return [self.lang]
        return list(self.meta.languages) if self.meta else []


def targets_of(spec: str, lang: str | None = None) -> list[Target]:
    """The targets of ``--system spec`` (``lang``: only that expert of an experts directory)."""
    kind, meta = kind_of(spec)
    path = Path(spec).expanduser()
    if kind != "experts":
        if lang is not None:
            raise LwasrError(f"--lang is for an experts directory; {spec} is a {kind} model (leave --lang out)")
        return [Target(spec, kind, meta, path if path.exists() else None)]
    experts = expert_dirs(path)
    if lang is not None and lang not in experts:
        raise LwasrError(f"no expert for {lang!r} in {path}; experts there: {', '.join(experts)}")
    langs = [lang] if lang is not None else list(experts)
    return [
        Target(str(path), kind, ModelMeta.load(experts[x]), experts[x], x, None if lang is not None else x)
        for x in langs
    ]
