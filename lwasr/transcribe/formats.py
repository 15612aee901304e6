"""Transcripts as files: plain text, JSON lines, SubRip, WebVTT and tab-separated values.

- ``txt``: one line per segment;
- ``jsonl``: one segment per line: ``start``, ``end`` (seconds), ``text``, ``language``, ``language_probability``,
  and with word timestamps ``words``: ``[{word, start, end, probability}]``;
- ``srt`` / ``vtt``: numbered cues ``HH:MM:SS,mmm --> HH:MM:SS,mmm`` (``.`` for WebVTT);
- ``tsv``: ``start``, ``end`` (integer milliseconds, as Whisper writes it) and ``text``, with a header.

Segments without text are left out of every format.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import asdict

from lwasr.errors import LwasrError
from lwasr.transcribe.segments import Segment, Transcript


def _clock(seconds: float, sep: str) -> str:
    ms = round(seconds * 1000)
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, ms = divmod(rest, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{sep}{ms:03d}"


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _cues(segments: Sequence[Segment], sep: str) -> str:
    return "".join(
        f"{i}\n{_clock(s.start, sep)} --> {_clock(s.end, sep)}\n{_one_line(s.text)}\n\n"
        for i, s in enumerate(segments, 1)
    )


def _txt(segments: Sequence[Segment]) -> str:
    return "".join(_one_line(s.text) + "\n" for s in segments)


def _jsonl(segments: Sequence[Segment]) -> str:
    return "".join(json.dumps(asdict(s), ensure_ascii=False) + "\n" for s in segments)


def _tsv(segments: Sequence[Segment]) -> str:
    rows = [f"{round(s.start * 1000)}\t{round(s.end * 1000)}\t{_one_line(s.text)}\n" for s in segments]
    return "start\tend\ttext\n" + "".join(rows)


#: format name -> renderer of the segments that have text (the name is also the file suffix).
FORMATS: dict[str, Callable[[Sequence[Segment]], str]] = {
    "txt": _txt,
    "jsonl": _jsonl,
    "srt": lambda segments: _cues(segments, ","),
    "vtt": lambda segments: "WEBVTT\n\n" + _cues(segments, "."),
    "tsv": _tsv,
}


def check_formats(formats: Sequence[str]) -> tuple[str, ...]:
    """``formats`` without repeats; LwasrError for an unknown one or none."""
    unknown = [f for f in formats if f not in FORMATS]
    if unknown or not formats:
        raise LwasrError(f"unknown output format {', '.join(unknown) or '(none)'}; use any of {', '.join(FORMATS)}")
    return tuple(dict.fromkeys(formats))


def render(transcript: Transcript, fmt: str) -> str:
    """The file of ``transcript`` in format ``fmt``."""
    return FORMATS[fmt]([s for s in transcript.segments if s.text])
