"""What ``lwasr env`` reports (package versions, compute devices, where models and caches live), and the
provenance that heads every RESULTS.md section (:func:`provenance`)."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import shlex
import shutil
import subprocess
import sys
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path

from lwasr import paths

PACKAGES = ("lwasr", "torch", "transformers", "peft", "lhotse", "jiwer", "typer", "ctranslate2")


def _version(pkg: str) -> str:
    try:
        return importlib.metadata.version(pkg)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


#: A recipe puts its own command line here (e.g. ``export LWASR_RECIPE_CMD="$0 $*"``); RESULTS.md headers show it.
RECIPE_CMD_ENV = "LWASR_RECIPE_CMD"
#: The packages whose versions a RESULTS.md header names.
PROVENANCE_PACKAGES = ("torch", "transformers", "peft")


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


def git_commit(source: str | Path | None = None) -> str:
    """The commit of the git checkout that holds lwasr's source (``source``: that dir, by default the installed
    package's), with " (dirty)" when files differ from it (ignored files aside); "unknown" outside a checkout."""
    package = Path(__file__).resolve().parent
    where = Path(source) if source is not None else package

    def git(*args: str) -> str:
        # --no-optional-locks: `status` then leaves .git/index as it is (it refreshes it otherwise; so does
        # `diff --quiet`, even with this option, as of git 2.39)
        return subprocess.run(
            ["git", "--no-optional-locks", "-C", str(where), *args],
            capture_output=True,
            text=True,
            check=True,
            timeout=20,
        ).stdout.strip()

    try:
        top = Path(git("rev-parse", "--show-toplevel"))
        if source is None and (top / "lwasr" / "__init__.py").resolve() != package / "__init__.py":
            return "unknown"  # installed into some other checkout (a venv inside a repository)
        commit, changes = git("rev-parse", "--short=12", "HEAD"), git("status", "--porcelain")
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return commit + (" (dirty)" if changes else "")


def command_line(argv: Sequence[str] | None = None) -> str:
    """The command being run (``argv``: by default ``sys.argv``), shell-quoted, starting with ``lwasr``."""
    argv = list(sys.argv if argv is None else argv)
    if argv and (Path(argv[0]).name == "lwasr" or Path(argv[0]).parts[-2:] == ("lwasr", "__main__.py")):
        argv[0] = "lwasr"
    return shlex.join(argv)


def provenance(device: str = "unknown") -> dict[str, str]:
    """What produced a result: lwasr version and commit, torch/transformers/peft versions, ``device``, the date
    (UTC), this command line and, when the recipe set :data:`RECIPE_CMD_ENV`, the recipe's."""
    info = {
        "lwasr": _version("lwasr"),
        "git": git_commit(),
        **{pkg: _version(pkg) for pkg in PROVENANCE_PACKAGES},
        "device": device,
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "command": command_line(),
    }
    if os.environ.get(RECIPE_CMD_ENV):
        info["recipe"] = os.environ[RECIPE_CMD_ENV]
    return info
