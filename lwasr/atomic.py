"""Atomic outputs: write to a temporary name beside the target, rename when complete.

A killed run therefore never leaves a half-written file or directory under the final name.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any


@contextlib.contextmanager
def atomic_path(target: str | Path, *, is_dir: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; move it onto ``target`` only if the block succeeds.

    For files, the temporary keeps the target's suffixes (``x.jsonl.gz`` -> ``.x.tmp123.jsonl.gz``) so
    that libraries choosing a format from the suffix still work. An existing target is replaced.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    suffix = "".join(target.suffixes) if not is_dir else ""
    stem = target.name[: len(target.name) - len(suffix)] if suffix else target.name
    if is_dir:
        tmp = Path(tempfile.mkdtemp(prefix=f".{stem}.tmp", dir=target.parent))
    else:
        fd, name = tempfile.mkstemp(prefix=f".{stem}.tmp", suffix=suffix, dir=target.parent)
        os.close(fd)
        tmp = Path(name)
    try:
        yield tmp
        _apply_umask(tmp)
        if is_dir and target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    except BaseException:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            tmp.unlink(missing_ok=True)
        raise


def _apply_umask(path: Path) -> None:
    """mkstemp/mkdtemp create private (0600/0700) paths; give them the modes a plain open() would."""
    umask = os.umask(0)
    os.umask(umask)
    path.chmod(0o777 & ~umask if path.is_dir() else 0o666 & ~umask)


def write_text(path: str | Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json(path: str | Path, obj: Any) -> None:
    """Write ``obj`` as indented UTF-8 JSON to ``path`` atomically."""
    write_text(path, json.dumps(obj, indent=2, ensure_ascii=False) + "\n")
