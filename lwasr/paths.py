"""Where lwasr keeps models and caches. Every location can be moved with an environment variable."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """Root of lwasr's caches: ``$LWASR_CACHE`` or ``~/.cache/lwasr``."""
    return Path(os.environ.get("LWASR_CACHE", Path.home() / ".cache" / "lwasr")).expanduser()


def models_dir() -> Path:
    """Where converted models live: ``$LWASR_MODELS_DIR`` or ``<cache>/models``."""
    env = os.environ.get("LWASR_MODELS_DIR")
    return Path(env).expanduser() if env else cache_dir() / "models"
