"""Writers for test fixtures in the google/fleurs layout (data/<lang>/<split>.tsv + audio/<split>.tar.gz)."""

from __future__ import annotations

import tarfile
from pathlib import Path

import numpy as np
import soundfile as sf


def write_wav(path: Path, seconds: float = 1.0, sr: int = 16000, freq: float = 0.05) -> None:
    """A quiet sine tone."""
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, (0.1 * np.sin(np.arange(int(seconds * sr)) * freq)).astype(np.float32), sr)


def write_fleurs_split(root: Path, code: str, split: str, rows: list[tuple[str, str, str]], files: list[str]) -> None:
    """A FLEURS language/split: a TSV (rows: file, raw, normalized) and audio/<split>.tar.gz holding ``files``.

    The TSV ends with a malformed three-column line, which preparation must drop and report.
    """
    d = root / "data" / code
    staging = root / "staging" / code / split
    for i, name in enumerate(files):
        write_wav(staging / name, freq=0.03 + 0.01 * i)
    (d / "audio").mkdir(parents=True, exist_ok=True)
    with tarfile.open(d / "audio" / f"{split}.tar.gz", "w:gz") as tar:
        tar.add(staging, arcname=split)
    lines = [f"{i}\t{f}\t{raw}\t{norm}\tp h o n\t16000\tFEMALE" for i, (f, raw, norm) in enumerate(rows)]
    (d / f"{split}.tsv").write_text("\n".join(lines + ["only\tthree\tcolumns"]) + "\n", encoding="utf-8")
