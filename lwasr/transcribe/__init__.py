"""``lwasr transcribe``: any audio (files, directories, lists; long-form too) with any system lwasr decodes.

The package is callable: ``lwasr.transcribe(paths, system=..., ...)`` is :func:`lwasr.transcribe.run.transcribe`,
which returns a :class:`lwasr.transcribe.run.TranscribeResult` (``.transcripts[name].segments``)::

    import lwasr
    result = lwasr.transcribe(["talk.mp3"], system="exp/espeak8/experts")
    for seg in result.transcripts["talk"].segments:
        print(seg.start, seg.end, seg.language, seg.text)

Importing it is cheap; torch and transformers are loaded at the first call.
"""

from __future__ import annotations

import sys
import types
from typing import Any


class _CallablePackage(types.ModuleType):
    """This package, callable as :func:`lwasr.transcribe.run.transcribe` (a package and a function share the name
    ``lwasr.transcribe``: Python sets the package as that attribute as soon as any of its modules is imported)."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        from lwasr.transcribe.run import transcribe

        return transcribe(*args, **kwargs)


sys.modules[__name__].__class__ = _CallablePackage
