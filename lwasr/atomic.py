"""Atomic outputs: write to a temporary name beside the target, rename when complete.

A killed run therefore never leaves a half-written file or directory under the final name.

A directory output also never replaces what its command did not write. ``atomic_path(..., is_dir=True,
producer="lwasr fuse")`` marks the directory it writes with :data:`OUTPUT_MARKER`, naming the command; an
existing directory is replaced only when it is empty or carries the same command's marker
(:func:`check_output`, which commands also call up front, before any work starts).

A write that fails because the device is full becomes one :class:`LwasrError` line; the temporary is removed.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from lwasr.errors import LwasrError

#: The file ``atomic_path`` writes into every directory output: ``{"producer": "<lwasr command>"}``.
OUTPUT_MARKER = ".lwasr-output"
_NO_SPACE = (errno.ENOSPC, errno.EDQUOT)
#: A failed write on a device with less free space than this counts as out of space (see :func:`_out_of_space`).
_LOW_SPACE = 16 << 20


@contextlib.contextmanager
def atomic_path(target: str | Path, *, is_dir: bool = False, producer: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; move it onto ``target`` only if the block succeeds.

    For files, the temporary keeps the target's suffixes (``x.jsonl.gz`` -> ``.x.tmp123.jsonl.gz``) so
    that libraries choosing a format from the suffix still work; an existing file is replaced. A directory
    is marked as ``producer``'s output and replaces an existing one only as :func:`check_output` allows
    (``producer`` None: only an empty one). A full device raises LwasrError, with nothing partial kept.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp: Path | None = None
    try:
        tmp = _temporary(target, is_dir)
        yield tmp
        if is_dir:
            (tmp / OUTPUT_MARKER).write_text(json.dumps({"producer": producer}) + "\n", encoding="utf-8")
        _apply_umask(tmp)
        if is_dir and os.path.lexists(target):
            _replace_dir(tmp, target, producer)
        else:
            os.replace(tmp, target)
    except BaseException as e:
        full = _out_of_space(e, target.parent)
        if tmp is not None and tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        elif tmp is not None:
            tmp.unlink(missing_ok=True)
        if full:
            raise LwasrError(
                f"no space left on the device holding {target}: writing it failed and nothing partial was kept;"
                f" free some space there (df -h {target.parent}) and run the command again"
            ) from e
        raise


def check_output(path: str | Path, producer: str | None) -> bool:
    """The rule for a directory output of ``producer`` (an lwasr command, e.g. ``"lwasr fuse"``).

    Return False when ``path`` is new (absent, or an empty directory) and True when it holds an earlier
    output of the same command (its :data:`OUTPUT_MARKER`); the command then keeps that output, or replaces
    it when the user asked for it (``--overwrite``). Anything else raises LwasrError naming what is there:
    lwasr never replaces what it did not write. Commands call this before any work starts.
    """
    path = Path(path)
    if not os.path.lexists(path):
        return False
    if path.is_dir() and not path.is_symlink():
        if producer is not None and _producer_of(path) == producer:
            return True
        if not any(path.iterdir()):
            return False
    command = f"`{producer}`" if producer else "this command"
    raise LwasrError(
        f"{path} holds {_describe(path)}, not an earlier output of {command}; lwasr replaces only its own"
        " earlier outputs: choose another output path, or move that one away yourself"
    )


def _producer_of(path: Path) -> str | None:
    try:
        return json.loads((path / OUTPUT_MARKER).read_text(encoding="utf-8")).get("producer")
    except (OSError, ValueError, AttributeError):
        return None


def _describe(path: Path) -> str:
    """What ``path`` holds, for a refusal: a link, a file, another command's output, or its entries."""
    if path.is_symlink():
        return f"a symbolic link (to {os.readlink(path)})"
    if not path.is_dir():
        return "a file"
    producer = _producer_of(path)
    if producer:
        return f"an output of `{producer}`"
    names = sorted(p.name for p in path.iterdir())
    shown = ", ".join(names[:5]) + (", ..." if len(names) > 5 else "")
    return f"{len(names)} {'entry' if len(names) == 1 else 'entries'} ({shown})"


def _temporary(target: Path, is_dir: bool) -> Path:
    suffix = "".join(target.suffixes) if not is_dir else ""
    stem = target.name[: len(target.name) - len(suffix)] if suffix else target.name
    if is_dir:
        return Path(tempfile.mkdtemp(prefix=f".{stem}.tmp", dir=target.parent))
    fd, name = tempfile.mkstemp(prefix=f".{stem}.tmp", suffix=suffix, dir=target.parent)
    os.close(fd)
    return Path(name)


def _replace_dir(tmp: Path, target: Path, producer: str | None) -> None:
    """Put ``tmp`` in place of the directory ``target``, if the rule allows; the old one goes only after."""
    check_output(target, producer)
    old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old", dir=target.parent))
    os.replace(target, old)
    try:
        os.replace(tmp, target)
    except BaseException:
        os.replace(old, target)
        raise
    shutil.rmtree(old)


def _out_of_space(error: BaseException, where: Path) -> bool:
    """Whether ``error`` (raised while writing under ``where``) means that the device is full.

    An OSError says so by its errno; safetensors' (Rust) and other wrapped errors by the message; torch.save's
    C++ writer loses the errno ("unexpected pos ..."), so a RuntimeError or OSError counts when the device
    has (almost) no free space left.
    """
    link: BaseException | None = error
    seen: set[int] = set()
    while link is not None and id(link) not in seen:
        if (isinstance(link, OSError) and link.errno in _NO_SPACE) or any(
            os.strerror(code) in str(link) for code in _NO_SPACE
        ):
            return True
        seen.add(id(link))
        link = link.__cause__ or link.__context__
    if isinstance(error, LwasrError) or not isinstance(error, (OSError, RuntimeError)):
        return False
    try:
        return shutil.disk_usage(where).free < _LOW_SPACE
    except OSError:
        return False


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
