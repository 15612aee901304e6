"""Subtitle-like segments from timed words: a new segment at a pause, after a sentence end, and before a segment
would run longer than ``max_seconds`` or its one line of text longer than ``max_chars`` (a single word longer than
that stays whole, alone)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from lwasr.decoding.word_timing import Word
from lwasr.errors import LwasrError

#: A word ending with one of these ends a sentence.
SENTENCE_ENDS = ".!?。！？…"


@dataclass(frozen=True)
class CueRules:
    """Where word segments are split: at pauses over ``pause_seconds``, and so that none lasts over
    ``max_seconds`` or has over ``max_chars`` characters."""

    max_seconds: float
    max_chars: int
    pause_seconds: float

    def __post_init__(self) -> None:
        if not (self.max_seconds > 0 and self.max_chars > 0 and self.pause_seconds >= 0):
            raise LwasrError(
                f"need --max-cue-seconds > 0, --max-line-chars > 0 and --split-pause-seconds >= 0, not"
                f" {self.max_seconds:g}, {self.max_chars}, {self.pause_seconds:g}"
            )


def text_of(words: Sequence[Word]) -> str:
    """The words' text as decoded (each word carries its leading space), without outer spaces."""
    return "".join(w.word for w in words).strip()


def split_cues(words: Sequence[Word], rules: CueRules) -> list[list[Word]]:
    """``words`` (in time order) cut into consecutive runs, each a subtitle cue as :class:`CueRules` says."""
    cues: list[list[Word]] = []
    for word in words:
        cue = cues[-1] if cues else None
        if (
            cue is None
            or word.start - cue[-1].end > rules.pause_seconds
            or cue[-1].word.rstrip().endswith(tuple(SENTENCE_ENDS))
            or word.end - cue[0].start > rules.max_seconds
            or len(text_of([*cue, word])) > rules.max_chars
        ):
            cues.append([word])
        else:
            cue.append(word)
    return cues
