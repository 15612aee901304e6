"""Turn a ``--model`` argument into something ``from_pretrained`` loads.

Accepted forms: ``embedded:<name>`` (a model converted by ``lwasr model install-embedded``), a local
directory in Hugging Face format, or a Hugging Face hub id (needs internet on first use).
"""

from __future__ import annotations

from pathlib import Path

from lwasr import paths
from lwasr.errors import LwasrError

EMBEDDED = {"whisper-base": "whisper-base"}
DEFAULT_MODEL = "embedded:whisper-base"


def resolve_model(spec: str) -> str:
    """Return a local path or hub id for ``spec``; raise LwasrError with a fix when it cannot be found."""
    if spec.startswith("embedded:"):
        name = spec.split(":", 1)[1]
        if name not in EMBEDDED:
            raise LwasrError(f"unknown embedded model {name!r}; known: {', '.join(sorted(EMBEDDED))}")
        path = paths.models_dir() / EMBEDDED[name]
        if not (path / "config.json").exists():
            raise LwasrError(
                f"embedded model {name!r} is not installed at {path}; run `lwasr model install-embedded`"
                " (or tools/install.sh)"
            )
        return str(path)
    path = Path(spec).expanduser()
    if path.exists():
        if not (path / "config.json").exists():
            raise LwasrError(f"{path} exists but is not a Hugging Face model directory (no config.json)")
        return str(path)
    if spec.count("/") == 1 and not spec.startswith((".", "/")):
        return spec  # a hub id; transformers reports network problems itself
    raise LwasrError(
        f"model {spec!r} not found: give `embedded:whisper-base`, a local model directory, or a hub id like"
        " openai/whisper-large-v3"
    )
