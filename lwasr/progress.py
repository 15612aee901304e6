"""Progress bars that read well in a terminal and in a log file.

In a terminal, :func:`tqdm` is tqdm's bar, redrawn in place. Written to anything else (a recipe's stage log, a pipe),
tqdm's carriage-return frames would fill the file with every refresh; there, the bar becomes one plain line every
:data:`LOG_EVERY_S` seconds, and its last state, as ESPnet's and icefall's logs read.
"""

from __future__ import annotations

import io
import re
import sys
import time
from typing import IO, Any

from tqdm import tqdm as _tqdm

#: Seconds between two progress lines in a log (the last state is always written).
LOG_EVERY_S = 30.0
_CURSOR_UP = re.compile(r"\x1b\[A")


class LogLines(io.TextIOBase):
    """A text stream that turns tqdm's frames (``\\r<bar>``, ended by ``\\n``) into whole lines on ``stream``: the
    first frame, then the latest at most every ``every`` seconds, and the final one."""

    def __init__(self, stream: IO[str], every: float | None = None) -> None:
        self.stream, self.every = stream, LOG_EVERY_S if every is None else every
        self.frame, self.shown, self.last = "", "", -float("inf")

    def write(self, text: str) -> int:
        for part in re.split(r"([\r\n])", _CURSOR_UP.sub("", text)):
            if part == "\n":
                self._emit()
                self.frame = ""
            elif part != "\r" and part.strip():
                self.frame = part.rstrip()
        if self.frame and time.monotonic() - self.last >= self.every:
            self._emit()
        return len(text)

    def _emit(self) -> None:
        if self.frame and self.frame != self.shown:
            self.stream.write(self.frame + "\n")
            self.stream.flush()
            self.shown, self.last = self.frame, time.monotonic()

    def flush(self) -> None:
        self.stream.flush()

    def isatty(self) -> bool:
        return False


def tqdm(*args: Any, **kwargs: Any) -> _tqdm:
    """tqdm's bar (same arguments), written as :class:`LogLines` when its stream (stderr by default) is no
    terminal."""
    stream = kwargs.get("file") or sys.stderr
    if not (hasattr(stream, "isatty") and stream.isatty()):
        kwargs["file"] = LogLines(stream)
    return _tqdm(*args, **kwargs)
