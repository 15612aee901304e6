"""The declared bounds of a cut (kept light: the CLI reads the defaults without importing lhotse)."""

from __future__ import annotations

from dataclasses import dataclass

from lwasr.errors import LwasrError


@dataclass(frozen=True)
class CutLimits:
    """How short a cut may be, and how much text its audio can carry (``lwasr prepare --min-seconds``,
    ``--max-chars-per-second``). A cut outside them is dropped as ``too_short``, and ``prepare validate``
    flags it."""

    #: Shorter audio is dropped: a header with a few samples left, a stray click.
    min_seconds: float = 0.1
    #: More characters (spaces not counted) per second of audio than speech carries: wrong or cut audio.
    max_chars_per_second: float = 30.0

    def __post_init__(self) -> None:
        if not self.min_seconds >= 0:
            raise LwasrError(f"--min-seconds {self.min_seconds}: must be 0 or more")
        if not self.max_chars_per_second > 0:
            raise LwasrError(f"--max-chars-per-second {self.max_chars_per_second}: must be greater than 0")

    def too_short(self, duration: float, text: str) -> str | None:
        """Why ``duration`` seconds of audio cannot hold ``text``, or None when they can."""
        if duration < self.min_seconds:
            return f"{duration:.4f} s < {self.min_seconds:g} s (--min-seconds)"
        chars = sum(not c.isspace() for c in text)
        if chars > self.max_chars_per_second * duration:
            return (
                f"{chars} characters in {duration:.2f} s of audio ({chars / max(duration, 1e-9):.0f}/s"
                f" > {self.max_chars_per_second:g}/s, --max-chars-per-second)"
            )
        return None
