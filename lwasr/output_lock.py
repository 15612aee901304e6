"""One writer per output: an exclusive lock on an output path, held while a command writes it.

``with output_lock(out):`` takes an exclusive ``fcntl.flock`` on ``.<name>.lock`` beside ``out`` (in its parent,
so that an output written to a temporary and renamed into place keeps its lock, and nothing is added inside the
output). A second command on the same output is refused at once with one line naming the first one's process
(pid and command line). The operating system releases the lock when its process ends, so a killed run never
blocks its rerun: a forked worker (``prepare synth --jobs``) closes its inherited copy of the lock at the fork,
else it would hold the lock past its parent's death. The lock file goes when the lock is released (a killed
run leaves it behind, harmless: the next run takes it over). An existing output directory whose parent cannot be
written is locked itself (its holder is then not named). Commands take it in one place each: their ``run`` is
decorated with :func:`holding_lock`.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import functools
import inspect
import json
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from lwasr.errors import LwasrError

F = TypeVar("F", bound=Callable[..., Any])
_HELD: dict[Path, int] = {}  # lock file -> how many nested output_lock blocks of this process hold it
_FDS: dict[Path, int] = {}  # lock file -> the descriptor that holds its lock


def _close_inherited() -> None:
    """In a forked child: close the inherited lock descriptors (the lock is its parent's, and goes with it)."""
    for fd in _FDS.values():
        with contextlib.suppress(OSError):
            os.close(fd)
    _FDS.clear()
    _HELD.clear()


os.register_at_fork(after_in_child=_close_inherited)


def lock_file(out: str | Path) -> Path:
    """The lock file of the output ``out``: ``.<name>.lock`` in its parent (the parent's real path, so that two
    spellings of one output share a lock)."""
    out = Path(os.path.abspath(out))
    return out.parent.resolve() / f".{out.name}.lock"


@contextlib.contextmanager
def output_lock(*outputs: str | Path | None) -> Iterator[None]:
    """Hold the lock of every output in ``outputs`` (None entries skipped) for the block; refuse at once
    (LwasrError naming the holder) when another process holds one. Nested blocks of one process share a lock."""
    with contextlib.ExitStack() as stack:
        for out in dict.fromkeys(o for o in outputs if o is not None):
            stack.enter_context(_locked(Path(out)))
        yield


def holding_lock(outputs: str | Callable[..., Iterable[str | Path | None]]) -> Callable[[F], F]:
    """Decorator: the function runs under :func:`output_lock` of its output paths: ``outputs(*args, **kwargs)``,
    or the argument named ``outputs``. How a command's ``run`` claims what it writes, in one place."""

    def wrap(function: F) -> F:
        signature = inspect.signature(function)

        def paths(*args: Any, **kwargs: Any) -> Iterable[str | Path | None]:
            if callable(outputs):
                return outputs(*args, **kwargs)
            return [signature.bind(*args, **kwargs).arguments[outputs]]

        @functools.wraps(function)
        def locked(*args: Any, **kwargs: Any) -> Any:
            with output_lock(*paths(*args, **kwargs)):
                return function(*args, **kwargs)

        return locked  # type: ignore[return-value]

    return wrap


@contextlib.contextmanager
def _locked(out: Path) -> Iterator[None]:
    path = lock_file(out)
    if path in _HELD:
        _HELD[path] += 1
        try:
            yield
        finally:
            _HELD[path] -= 1
        return
    created = _missing(path.parent)
    fd = _acquire(out, path)
    _HELD[path], _FDS[path] = 1, fd
    try:
        yield
    finally:
        if _FDS.get(path) == fd:  # else a forked child is leaving the block: lock and file are its parent's
            _release(path, fd, created)


def _release(path: Path, fd: int, created: list[Path]) -> None:
    del _HELD[path], _FDS[path]
    with contextlib.suppress(OSError):
        path.unlink()  # before the lock goes: a waiting opener then sees that its file is stale (see _acquire)
    os.close(fd)
    for made in created:  # the folders made for the lock file go again, unless the run wrote something there
        with contextlib.suppress(OSError):
            made.rmdir()


def _missing(folder: Path) -> list[Path]:
    """``folder`` and those of its parents that do not exist yet, the deepest first."""
    missing = []
    while not folder.exists() and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    return missing


def _acquire(out: Path, path: Path) -> int:
    """Open, lock and fill ``path``; the file descriptor holding the lock."""
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        except OSError as e:
            if e.errno not in (errno.EROFS, errno.EACCES, errno.EPERM):
                raise
            if not out.is_dir():  # the output itself cannot be created there either: say so, naming it
                raise OSError(e.errno, e.strerror, str(out)) from e
            return _lock(os.open(out, os.O_RDONLY), out, path)  # an existing output in a parent we cannot write
        _lock(fd, out, path)
        if _same_file(fd, path):
            break
        os.close(fd)  # the holder released and removed this file between our open and our lock: open it again
    os.ftruncate(fd, 0)
    os.write(fd, (json.dumps({"pid": os.getpid(), "command": " ".join(sys.argv)}) + "\n").encode())
    return fd


def _lock(fd: int, out: Path, path: Path) -> int:
    """``fd`` with an exclusive lock on it; LwasrError naming the holder when another process has it."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = _holder(fd)
        os.close(fd)
        raise LwasrError(
            f"{out} is being written by another lwasr run ({holder}); wait for it to finish, or choose another"
            f" output path (its lock: {path})"
        ) from None
    return fd


def _same_file(fd: int, path: Path) -> bool:
    try:
        return os.path.samestat(os.fstat(fd), os.stat(path))
    except FileNotFoundError:
        return False


def _holder(fd: int) -> str:
    """``pid N: COMMAND`` of the process holding the lock, from the lock file (it writes it once it holds it)."""
    try:
        info = json.loads(os.pread(fd, 4096, 0).decode())
        return f"pid {info['pid']}: {info['command']}"
    except (OSError, ValueError, KeyError, TypeError):
        return "a process that has not yet said which"
