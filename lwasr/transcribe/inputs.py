"""What to transcribe: audio files, directories (searched recursively) and list files, each with its output name.

A path ending in ``.txt``, ``.lst`` or ``.list`` is a list file: one audio path (or directory) per line, relative
to the list's own directory; blank lines and lines starting with ``#`` are skipped. A directory contributes every
file below it whose suffix is a supported audio format (hidden files and directories are skipped); a file named
directly, or in a list, is kept whatever its suffix, so that an unsupported one is reported, not ignored.

An input's output name is its path relative to where it was found (the directory given, the list's directory,
or its own directory for a file named directly), without the audio suffix: ``talks/2024/a.mp3`` found under
``talks`` is ``2024/a``. Names that would clash keep their suffix (``a.wav``, ``a.mp3``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from lwasr.decoding.io import HYP_FILE
from lwasr.errors import LwasrError

#: Audio formats lwasr transcribes (read with libsndfile through lhotse; MP3 needs libsndfile >= 1.1).
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3")
LIST_SUFFIXES = (".txt", ".lst", ".list")
#: Output names that would overwrite a file of the output directory (``hyp`` + ``.jsonl``).
_RESERVED = {Path(HYP_FILE).stem}


@dataclass(frozen=True)
class AudioInput:
    """One file to transcribe and the name of its outputs (``<out>/<name>.<format>``)."""

    path: Path
    name: str


def collect_inputs(paths: Sequence[str | Path]) -> list[AudioInput]:
    """The files that ``paths`` name, in order, each once, with their output names.

    A path that does not exist, or a directory or list without any audio, is an LwasrError; a missing file named
    inside a list is kept (it is reported as missing when it is transcribed).
    """
    if not paths:
        raise LwasrError("no input: give audio files, directories or list files")
    found: list[tuple[Path, Path]] = []  # (file, the directory its name is relative to)
    for p in map(Path, paths):
        if not p.exists():
            raise LwasrError(f"{p}: no such file or directory")
        found += _expand(p, p.parent)
    unique = list({f.resolve(): (f, root) for f, root in found}.values())
    return _named(unique)


def _expand(path: Path, root: Path) -> list[tuple[Path, Path]]:
    """``(file, root)`` for a file, every audio file under a directory, or every entry of a list file."""
    if path.is_dir():
        files = sorted(
            f
            for f in path.rglob("*")
            if f.suffix.lower() in AUDIO_SUFFIXES
            and f.is_file()
            and not any(part.startswith(".") for part in f.relative_to(path).parts)
        )
        if not files:
            raise LwasrError(f"{path} holds no audio files ({', '.join(AUDIO_SUFFIXES)})")
        return [(f, path) for f in files]
    if path.suffix.lower() in LIST_SUFFIXES:
        return _read_list(path)
    return [(path, root)]


def _read_list(path: Path) -> list[tuple[Path, Path]]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as e:
        raise LwasrError(f"{path}: a list file must be UTF-8 text, one audio path per line ({e})") from e
    entries = [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]
    if not entries:
        raise LwasrError(f"{path}: the list names no audio files (one path per line)")
    out: list[tuple[Path, Path]] = []
    for entry in entries:
        p = Path(entry).expanduser()
        p = p if p.is_absolute() else path.parent / p
        out += _expand(p, path.parent) if p.is_dir() else [(p, path.parent)]
    return out


def _named(files: list[tuple[Path, Path]]) -> list[AudioInput]:
    """Output names: the relative path without its suffix, or with it where names clash; LwasrError if still."""

    def relative(f: Path, root: Path) -> Path:
        try:
            return f.resolve().relative_to(root.resolve())
        except ValueError:
            return Path(f.name)

    rel = [relative(f, root) for f, root in files]
    short = [r.with_suffix("").as_posix() for r in rel]
    counts = Counter(short)
    names = [s if counts[s] == 1 and s not in _RESERVED else r.as_posix() for s, r in zip(short, rel, strict=True)]
    clashes = [n for n, c in Counter(names).items() if c > 1]
    if clashes:
        same = [str(f) for (f, _), n in zip(files, names, strict=True) if n == clashes[0]]
        raise LwasrError(
            f"{' and '.join(same)} would both be written as {clashes[0]}.*: transcribe them in separate runs"
            " (other --out) or give their directory instead"
        )
    return [AudioInput(f, n) for (f, _), n in zip(files, names, strict=True)]
