"""What transcribing a file gives: its segments (one per decoded chunk, or subtitle-like runs of words with word
timestamps) with times and language."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from lwasr.decoding.word_timing import Word


@dataclass(frozen=True)
class Segment:
    """Text of one chunk (or run of words), from ``start`` to ``end`` seconds of its file, in ``language`` (LID's
    probability of it, or None when the language was given); how its chunk was decoded, as faster-whisper's segments
    say it: the temperature that produced the text and, on the greedy path, the chunk's average log-probability,
    compression ratio and no-speech probability (None where not computed)."""

    start: float
    end: float
    text: str
    language: str | None
    language_probability: float | None
    temperature: float | None = None
    avg_logprob: float | None = None
    compression_ratio: float | None = None
    no_speech_prob: float | None = None

    @classmethod
    def from_dict(cls, fields: dict[str, Any]) -> Segment:
        """The segment ``asdict`` gave (a :class:`WordSegment` when it has words)."""
        if "words" in fields:
            return WordSegment(**{**fields, "words": [Word(**w) for w in fields["words"]]})
        return cls(**fields)


@dataclass(frozen=True)
class WordSegment(Segment):
    """A segment of timed words (word timestamps): from its first word's start to its last one's end."""

    words: list[Word] = field(default_factory=list)


@dataclass
class Transcript:
    """One file transcribed: its output name, path, duration, language, how it was chunked, its segments."""

    name: str
    path: str
    duration: float
    language: str | None
    language_probability: float | None
    chunking: str
    segments: list[Segment] = field(default_factory=list)

    @property
    def text(self) -> str:
        """The segments' texts joined by spaces."""
        return " ".join(s.text for s in self.segments)

    def record(self, ref: str = "", ref_lang: str | None = None) -> dict[str, Any]:
        """The file's ``hyp.jsonl`` record: the fields ``lwasr score`` reads (the ``lang`` is the reference's when
        there is one, else the one decoded with), then the transcript itself."""
        return {
            "id": self.name,
            "lang": ref_lang or self.language,
            "ref": ref,
            "hyp": self.text,
            "detected_lang": self.language if self.language_probability is not None else None,
            "lid_prob": self.language_probability,
            "duration": round(self.duration, 3),
            "input": self.path,
            "language": self.language,
            "chunking": self.chunking,
            "segments": [asdict(s) for s in self.segments],
        }

    @classmethod
    def from_record(cls, rec: dict[str, Any]) -> Transcript:
        """The transcript a :meth:`record` holds."""
        return cls(
            name=rec["id"],
            path=rec["input"],
            duration=rec["duration"],
            language=rec["language"],
            language_probability=rec["lid_prob"],
            chunking=rec["chunking"],
            segments=[Segment.from_dict(s) for s in rec["segments"]],
        )
