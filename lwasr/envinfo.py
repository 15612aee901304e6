"""What ``lwasr env`` reports: package versions, compute devices, and where models and caches live."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import shutil

from lwasr import paths

PACKAGES = ("lwasr", "torch", "transformers", "peft", "lhotse", "jiwer", "typer", "ctranslate2")


def _version(pkg: str) -> str:
    try:
        return importlib.metadata.version(pkg)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def devices() -> list[str]:
    """Human-readable names of the compute devices torch can use."""
    import torch

    found = [f"cpu ({os.cpu_count()} cores, {torch.get_num_threads()} torch threads)"]
    if torch.cuda.is_available():
        for i in range(torch.cuda.device_count()):
            p = torch.cuda.get_device_properties(i)
            found.append(f"cuda:{i} {p.name} ({p.total_memory / 2**30:.0f} GiB)")
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        found.append("mps")
    return found


def report() -> dict[str, object]:
    """All facts ``lwasr env`` prints, as a dict."""
    from lwasr.models.resolve import EMBEDDED

    models = paths.models_dir()
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": {p: _version(p) for p in PACKAGES},
        "devices": devices(),
        "cache_dir": str(paths.cache_dir()),
        "models_dir": str(models),
        "embedded_models": {
            name: ("installed" if (models / sub / "config.json").exists() else "not installed")
            for name, sub in EMBEDDED.items()
        },
        "hf_home": os.environ.get("HF_HOME", "~/.cache/huggingface"),
        "espeak-ng": shutil.which("espeak-ng") or "not found",
    }
