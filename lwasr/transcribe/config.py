"""The settings of one ``lwasr transcribe`` (its options are generated from these fields; the decode options are
:class:`TranscribeOptions`, :class:`lwasr.decoding.options.DecodeOptions` with openai-whisper's transcribe
defaults). Imports nothing heavy, for the CLI."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from lwasr.config_fields import redefault, setting
from lwasr.decoding.options import DecodeOptions, SystemRun

ROUTE_PER = ("file", "chunk")


@dataclass(frozen=True, kw_only=True)
class TranscribeOptions(DecodeOptions):
    """The decode options of ``lwasr transcribe``: openai-whisper's ``transcribe`` defaults, temperature fallback and
    the no-speech rule on, as openai-whisper's and faster-whisper's transcribe have them (``lwasr decode`` keeps
    plain search, as papers score systems). Measured on espeak8: docs/results.md, "Temperature fallback"."""

    temperatures: tuple[float, ...] = redefault(DecodeOptions, "temperatures", "0,0.2,0.4,0.6,0.8,1")
    no_speech_threshold: float | None = redefault(DecodeOptions, "no_speech_threshold", 0.6)


@dataclass(frozen=True, kw_only=True)
class TranscribeConfig(SystemRun):
    """What to transcribe, with which system (:class:`SystemRun`), into which outputs, routed how.

    ``options``: the decode options, their scenario set by the routing (``route_per="chunk"`` without ``language``:
    agnostic; otherwise aware, every chunk of a file in one language).
    """

    paths: list[Path] = setting(help="Audio files, directories and list files.")
    out: Path | None = setting(None, "Output directory, e.g. exp/<tag>/transcripts.")
    formats: tuple[str, ...] | str = setting(
        "txt,jsonl", "Comma-separated output formats: txt, jsonl, srt, vtt, tsv.", flag="format", cli_type=str
    )
    language: str | None = setting(None, "Decode every file in this language (its expert); no language ID.")
    route_per: str = setting(
        "file",
        "Without --language: file (language ID over a file's first 3 chunks picks one language and expert for the"
        " file) or chunk (each chunk identified and routed on its own).",
    )
    chunking: str = setting(
        "auto",
        "How audio longer than --max-chunk-seconds is cut: auto (Silero VAD if installed, else fixed windows, with a"
        " warning), vad (an error without silero-vad) or fixed (windows of --max-chunk-seconds with overlap: 5 s"
        " for 30-s windows).",
    )
    max_chunk_seconds: float = setting(
        30.0,
        "Longest chunk, 1 to 30 s (Whisper's window). A model fine-tuned on short utterances often stops after the"
        " first sentence of a long chunk: give it about its training length (docs/results.md).",
    )
    reference: Path | None = setting(
        None,
        "A manifest whose recordings are the inputs (`lwasr prepare longform`'s longform_cuts.jsonl.gz): its texts"
        " go into hyp.jsonl, so that `lwasr score OUT` scores the transcripts.",
    )
    word_timestamps: bool = setting(
        False,
        "Time every word (cross-attention alignment, no timestamp tokens needed): jsonl gets each segment's words"
        " with start, end and probability, and segments become subtitle-like runs of words split at pauses and"
        " sentence ends (--split-pause-seconds, --max-cue-seconds, --max-line-chars).",
    )
    split_pause_seconds: float = setting(
        0.5, "With --word-timestamps: a pause between words longer than this starts a new segment."
    )
    max_cue_seconds: float = setting(7.0, "With --word-timestamps: the longest segment (subtitle cue), in seconds.")
    max_line_chars: int = setting(
        42,
        "With --word-timestamps: the most characters of a segment's text (one subtitle line; a longer word"
        " stays whole).",
    )
    overwrite: bool = setting(False, "Discard an output in --out made with other settings.")
    options: DecodeOptions = field(default_factory=TranscribeOptions)

    def __post_init__(self) -> None:
        super().__post_init__()
        if isinstance(self.formats, str):  # comma-separated, as the command line gives them
            object.__setattr__(self, "formats", tuple(f.strip() for f in self.formats.split(",") if f.strip()))
        object.__setattr__(self, "formats", tuple(self.formats))

    @property
    def scenario(self) -> str:
        """The decode scenario of the chunks: agnostic when each chunk is identified on its own, else aware."""
        return "agnostic" if self.language is None and self.route_per == "chunk" else "aware"
