"""Atomic outputs: write to a temporary name beside the target, rename when complete.

A killed run therefore never leaves a half-written file or directory under the final name.

A directory output also never replaces what its command did not write. ``atomic_path(..., is_dir=True,
producer="lwasr fuse")`` marks the directory it writes with :data:`OUTPUT_MARKER`, naming the command and listing
the entries it wrote; an existing directory is replaced only when it is empty or carries the same command's marker
(:func:`check_output`, which commands also call up front, before any work starts), and what the user added to the
earlier output (entries its marker does not list) is carried into the new one. A mount point is never a directory
output: it cannot be renamed.

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

#: The file ``atomic_path`` writes into every directory output: ``{"producer": "<lwasr command>", "settings": {...},
#: "entries": [...]}``: the command, what it was made with (when the command records it), and everything the command
#: wrote there (files and directories, relative, ``/``-separated).
OUTPUT_MARKER = ".lwasr-output"
_NO_SPACE = (errno.ENOSPC, errno.EDQUOT)
#: A failed write on a device with less free space than this counts as out of space (see :func:`_out_of_space`).
_LOW_SPACE = 16 << 20


@contextlib.contextmanager
def atomic_path(
    target: str | Path, *, is_dir: bool = False, producer: str | None = None, settings: dict[str, Any] | None = None
) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; move it onto ``target`` only if the block succeeds.

    For files, the temporary keeps the target's suffixes (``x.jsonl.gz`` -> ``.x.tmp123.jsonl.gz``) so
    that libraries choosing a format from the suffix still work; an existing file is replaced. A directory
    is marked as ``producer``'s output and replaces an existing one only as :func:`check_output` allows
    (``producer`` None: only an empty one), keeping the entries of the user's there; ``settings`` (JSON), what it
    was made with, go into its marker (:func:`recorded_settings`). A full device raises LwasrError, with nothing
    partial kept.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp: Path | None = None
    try:
        tmp = _temporary(target, is_dir)
        yield tmp
        if is_dir:
            marker = {"producer": producer, **({"settings": settings} if settings is not None else {})}
            marker["entries"] = _entries(tmp)
            (tmp / OUTPUT_MARKER).write_text(json.dumps(marker) + "\n", encoding="utf-8")
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
        if os.path.ismount(path):
            raise _mount_point(path)
        if producer is not None and _producer_of(path) == producer:
            return True
        if not any(path.iterdir()):
            return False
    command = f"`{producer}`" if producer else "this command"
    raise LwasrError(
        f"{path} holds {_describe(path)}, not an earlier output of {command}; lwasr replaces only its own"
        " earlier outputs: choose another output path, or move that one away yourself"
    )


def _mount_point(path: Path) -> LwasrError:
    return LwasrError(
        f"{path} is a mount point: lwasr writes a directory output beside its path and renames it into place, which"
        f" a mount point does not allow; give a directory inside it (e.g. {path / 'out'})"
    )


def _marker(path: Path) -> dict[str, Any]:
    """The :data:`OUTPUT_MARKER` of the directory ``path`` ({} when it has none, or not a readable one)."""
    try:
        marker = json.loads((path / OUTPUT_MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return marker if isinstance(marker, dict) else {}


def recorded_settings(path: str | Path) -> dict[str, Any] | None:
    """The settings the directory output ``path`` was made with, as its command recorded them (None: none)."""
    settings = _marker(Path(path)).get("settings")
    return settings if isinstance(settings, dict) else None


def _producer_of(path: Path) -> str | None:
    return _marker(path).get("producer")


def _entries(root: Path) -> list[str]:
    """Every file and directory under ``root`` (relative, ``/``-separated; symbolic links not followed), but the
    marker."""
    found = []
    for where, dirs, files in os.walk(root):
        rel = Path(where).relative_to(root)
        found += [(rel / name).as_posix() for name in dirs + files if (rel / name).as_posix() != OUTPUT_MARKER]
    return sorted(found)


def _foreign(root: Path, own: set[str], prefix: str = "") -> list[str]:
    """The topmost entries under ``root`` that are not in ``own`` (the entries its command wrote), but the marker."""
    found = []
    for path in sorted((root / prefix).iterdir()):
        rel = prefix + path.name
        if rel == OUTPUT_MARKER:
            continue
        if rel not in own:
            found.append(rel)
        elif path.is_dir() and not path.is_symlink():
            found += _foreign(root, own, rel + "/")
    return found


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
    """Put ``tmp`` in place of the directory ``target``, if the rule allows, with the user's entries of ``target``
    (:func:`_keep_foreign`); the old one goes only after."""
    check_output(target, producer)
    _keep_foreign(target, tmp)
    old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old", dir=target.parent))
    try:
        os.replace(target, old)
    except OSError as e:
        old.rmdir()
        if e.errno == errno.EBUSY:  # a mount point that os.path.ismount does not see (a bind mount)
            raise _mount_point(target) from e
        raise
    try:
        os.replace(tmp, target)
    except BaseException:
        os.replace(old, target)
        raise
    shutil.rmtree(old)


def _keep_foreign(target: Path, tmp: Path) -> None:
    """Copy (hard-link where it can) into ``tmp`` the entries of the earlier output ``target`` that its command did
    not write (not in its marker's list): replacing an output never loses the user's files. LwasrError, before
    anything is replaced, when the new output writes one of those paths itself. An output whose marker lists no
    entries (an lwasr before the list) counts as wholly its command's."""
    own = _marker(target).get("entries")
    if not isinstance(own, list):
        return
    for rel in _foreign(target, set(own)):
        src, dst = target / rel, tmp / rel
        inside = [p for p in dst.parents if tmp in p.parents]
        if os.path.lexists(dst) or any(os.path.lexists(p) and (p.is_symlink() or not p.is_dir()) for p in inside):
            raise LwasrError(
                f"{src} is not an output of lwasr's, and the new output writes {rel} too; move it away and run the"
                " command again (the earlier output is untouched)"
            )
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir() and not src.is_symlink():
            shutil.copytree(src, dst, symlinks=True, copy_function=_link_or_copy)
        else:
            _link_or_copy(src, dst)


def _link_or_copy(src: str | Path, dst: str | Path) -> None:
    """``dst`` as a hard link of the file ``src`` (a symbolic link stays one), or a copy where links fail."""
    try:
        os.link(src, dst, follow_symlinks=False)
    except OSError:
        shutil.copy2(src, dst, follow_symlinks=False)


def _out_of_space(error: BaseException, where: Path) -> bool:
    """Whether ``error`` (raised while writing under ``where``) means that the device is full.

    An OSError says so by its errno; safetensors' (Rust) and other wrapped errors by the message; torch.save's
    C++ writer loses the errno ("unexpected pos ..."), so a RuntimeError or OSError without an errno counts when
    the device has (almost) no free space left. An errno that names another cause (a read-only file system,
    permission denied) is that cause, however little space is left.
    """
    link: BaseException | None = error
    seen: set[int] = set()
    told = False  # an OSError on the way said what went wrong
    while link is not None and id(link) not in seen:
        if (isinstance(link, OSError) and link.errno in _NO_SPACE) or any(
            os.strerror(code) in str(link) for code in _NO_SPACE
        ):
            return True
        told = told or (isinstance(link, OSError) and link.errno is not None)
        seen.add(id(link))
        link = link.__cause__ or link.__context__
    if told or isinstance(error, LwasrError) or not isinstance(error, (OSError, RuntimeError)):
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
