"""``lwasr transcribe``: any audio files, of any length, with any system ``lwasr decode`` takes.

Per file: read it (16 kHz, channels averaged), cut it into chunks of at most 30 s or ``max_chunk_seconds``
(:mod:`lwasr.transcribe.chunking`), pick its language, decode the chunks with lwasr's own search
(:class:`lwasr.decoding.decoder.Decoder`, greedy or beam, trimmed input where the model was trained trimmed) and
write one file per output format. Chunks of several short files share batches.

Languages (``route_per``):

- ``file`` (default): language ID over the file's first :data:`LID_CHUNKS` chunks (their probabilities
  averaged) picks one language, hence one expert, for the whole file. Experts run LID on the base model, single
  models on themselves, as in ``lwasr decode --scenario agnostic``.
- ``chunk``: every chunk is identified and routed on its own (``decode``'s agnostic scenario on chunks).
- ``language`` given: every chunk is decoded in that language (and by its expert); no LID.

The output directory is a decode dir (:mod:`lwasr.decoding.io`): ``settings.json``; ``hyp.jsonl``, one record per
finished file (the transcript and its segments), appended as each file is done, before its files: what a rerun
skips, and what tells lwasr's transcript files from the user's (a file where a transcript would go that no record
accounts for is refused); ``text`` and ``summary.json`` at the end of a run. With a ``reference`` manifest the
records carry the reference text, so that ``lwasr score DIR`` scores the transcripts (long-form evaluation,
:mod:`lwasr.transcribe.longform`).
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from lhotse import Recording

from lwasr.atomic import atomic_path, check_output, write_text
from lwasr.data.audio import SAMPLE_RATE
from lwasr.data.cuts import cut_lang, cut_text, load_cuts
from lwasr.decoding.batching import Utt, make_batches
from lwasr.decoding.decoder import Decoder, default_device, system_options
from lwasr.decoding.fallback import DECODING_FIELDS
from lwasr.decoding.io import HYP_FILE, SETTINGS_FILE, SUMMARY_FILE, HypWriter, read_hyps
from lwasr.decoding.lid import LanguageSet, detect
from lwasr.decoding.options import DECODE_FIELDS, split_options, use_threads
from lwasr.decoding.systems import System
from lwasr.decoding.word_timing import Word
from lwasr.errors import LwasrError
from lwasr.loaders import load_system
from lwasr.output_lock import holding_lock
from lwasr.progress import tqdm
from lwasr.transcribe.audio import Failure, check_file, read_audio
from lwasr.transcribe.chunking import FIXED, Chunker, Span, check_chunking, own_stretches, words_within
from lwasr.transcribe.config import ROUTE_PER, TranscribeConfig, TranscribeOptions
from lwasr.transcribe.cues import CueRules, split_cues, text_of
from lwasr.transcribe.formats import check_formats, render
from lwasr.transcribe.inputs import AudioInput, collect_inputs
from lwasr.transcribe.segments import Segment, Transcript, WordSegment
from lwasr.transcribe.words import WordAligner
from lwasr.units.kinds import kind_of

log = logging.getLogger(__name__)

PRODUCER = "lwasr transcribe"
#: Per-file routing: language ID over this many first chunks of a file (up to 90 s of speech).
LID_CHUNKS = 3


@dataclass
class TranscribeResult:
    """What :func:`transcribe` returns: the transcripts by output name (in input order, earlier runs' included),
    the files that could not be transcribed, and the run's summary (what ``summary.json`` holds)."""

    transcripts: dict[str, Transcript]
    failures: list[Failure]
    summary: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class _Clip:
    """A chunk as :func:`lwasr.decoding.audio.load_audio` reads a cut: 16-kHz samples, one channel."""

    samples: np.ndarray
    sampling_rate: int = SAMPLE_RATE

    def load_audio(self) -> np.ndarray:
        return self.samples[None, :]


@dataclass
class _Loaded:
    """A file read and chunked, waiting for its group to be decoded."""

    input: AudioInput
    duration: float
    chunking: str
    spans: list[Span]
    utts: list[Utt]


class _Memory:
    """Where records go without an output directory (the Python API's default): a list, like HypWriter's."""

    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []
        self.done: set[str] = set()

    def append(self, records: Sequence[dict[str, Any]]) -> None:
        self.records += records
        self.done |= {r["id"] for r in records}

    def finish(self, summary: dict[str, Any]) -> None:
        """Nothing to write."""

    def close(self) -> None:
        """Nothing to close."""


def transcribe(
    paths: Sequence[str | Path], system: str | System, *, progress: bool = True, **settings: Any
) -> TranscribeResult:
    """Transcribe audio files, directories (recursively) and list files (:mod:`lwasr.transcribe.inputs`).

    ``system`` is what ``lwasr decode --system`` takes (or a loaded :class:`System`); ``settings`` are fields of
    :class:`~lwasr.transcribe.config.TranscribeConfig` (``out``, ``formats``, ``language``, ``route_per``,
    ``chunking``, ``max_chunk_seconds``, ``reference``, ``model``, ``device``, ``overwrite``...) and of
    :class:`~lwasr.transcribe.config.TranscribeOptions` (``beam_size``, ``lid_langs``, ``trim``, ``temperatures``...),
    which mean what they mean for ``lwasr transcribe``. Without ``out`` nothing is written. ``run(plan(...))``.
    """
    loaded = system if isinstance(system, System) else None
    config = plan(paths=list(paths), system=loaded.source if loaded else system, **settings)
    return run(config, progress=progress, loaded=loaded)


def plan(**values: Any) -> TranscribeConfig:
    """The config of one transcription, from the fields of :class:`TranscribeConfig` and of the decode options
    (:class:`~lwasr.decoding.options.DecodeOptions`), by name: every option checked, the inputs found and the
    reference read; loads no model and writes nothing.

    Bad arguments raise LwasrError before any work.
    """
    config = TranscribeConfig(**{k: v for k, v in values.items() if k not in DECODE_FIELDS})
    formats = check_formats(config.formats)
    if config.route_per not in ROUTE_PER:
        raise LwasrError(f"unknown --route-per {config.route_per!r}; use one of {', '.join(ROUTE_PER)}")
    if config.language is not None and (values.get("lid_system") or values.get("soft_top_k")):
        raise LwasrError("--lid-system and --soft-top-k route by language ID; --language gives the language instead")
    if values.get("soft_top_k") and config.route_per != "chunk":
        raise LwasrError("--soft-top-k mixes experts per chunk: add --route-per chunk (a file is routed as a whole)")
    if values.get("soft_top_k") and config.word_timestamps:
        raise LwasrError("--word-timestamps aligns with one expert per chunk; --soft-top-k mixes several")
    _cue_rules(config)
    opts, _ = split_options(values, TranscribeOptions, scenario=config.scenario)
    check_chunking(config.chunking, config.max_chunk_seconds)
    inputs = collect_inputs(config.paths)
    if config.out is not None:
        check_output(config.out, PRODUCER)
        _check_no_foreign_transcripts(Path(config.out), inputs, formats)
    if config.reference is not None:
        _references(Path(config.reference), inputs)
    for spec in (config.system, opts.lid_system):
        if spec:
            kind_of(spec)
    return replace(config, formats=formats, options=opts, device=default_device(config.device))


@holding_lock(lambda config, **_: [config.out])
def run(config: TranscribeConfig, *, progress: bool = True, loaded: System | None = None) -> TranscribeResult:
    """Transcribe as :func:`plan` planned (``loaded``: the system, already loaded). With ``out``, each file's
    formats are written to ``out/<name>.<format>`` and a rerun skips finished files. A file that cannot be read is
    listed in :attr:`TranscribeResult.failures`, with its reason, and the others carry on."""
    use_threads(config.num_threads)
    opts, language, formats, reference = config.options, config.language, config.formats, config.reference
    chunker = Chunker(config.chunking, config.max_chunk_seconds)
    inputs = collect_inputs(config.paths)
    out = Path(config.out) if config.out is not None else None
    earlier = out is not None and check_output(out, PRODUCER)
    refs = _references(Path(reference), inputs) if reference is not None else {}
    system = loaded or load_system(config.system, config.model)
    lid_source = load_system(opts.lid_system, config.model) if opts.lid_system else None
    device = torch.device(default_device(config.device))
    opts = system_options(opts, system, device)
    if language is not None:
        LanguageSet.build(system.model.generation_config.lang_to_id, [language])
        system.check_languages([language])
    settings = {
        "system": system.describe(),
        **asdict(opts),
        "route_per": config.route_per,
        "language": language,
        "chunking": chunker.method,
        "max_chunk_seconds": chunker.max_seconds,
        "formats": list(formats),
        "reference": str(Path(reference).resolve()) if reference is not None else None,
    }
    rules = _cue_rules(config) if config.word_timestamps else None
    if rules is not None:  # only then: an earlier output without word timestamps keeps its settings
        settings["word_timestamps"] = asdict(rules)
    settings = json.loads(json.dumps(settings))
    # built before anything is written: its checks need the loaded system (--soft-top-k needs experts for every
    # language that language ID may pick)
    decoder = Decoder(system, opts, device, lid_source, step_threads=config.step_threads)
    if out is not None and not earlier:
        with atomic_path(out, is_dir=True, producer=PRODUCER):
            pass  # a new, empty output directory, marked as this command's
    if out is not None and config.overwrite:
        _remove_earlier_transcripts(out, settings)
    store = HypWriter(out, settings, overwrite=config.overwrite) if out is not None else _Memory()
    try:
        if out is not None:  # a kill between a transcript's record and its files left them missing
            for rec in store.records:
                _write_files(out, Transcript.from_record(rec), formats, missing_only=True)
        todo = [i for i in inputs if i.name not in store.done]
        if out is not None and todo:
            (out / SUMMARY_FILE).unlink(missing_ok=True)  # the summary of an earlier run no longer counts all files
        job = _Run(decoder, chunker, language, out, formats, refs, rules)
        start = time.perf_counter()
        job.transcribe_all(todo, store, progress)
        summary = job.summary(inputs, todo, len(store.records), time.perf_counter() - start, settings)
        store.finish(summary)
    finally:
        store.close()
    finished = {r["id"]: r for r in store.records}
    transcripts = {i.name: Transcript.from_record(finished[i.name]) for i in inputs if i.name in finished}
    return TranscribeResult(transcripts, job.failures, summary)


def _cue_rules(config: TranscribeConfig) -> CueRules:
    """The subtitle rules of ``config`` (LwasrError for impossible ones, with or without word timestamps)."""
    return CueRules(config.max_cue_seconds, config.max_line_chars, config.split_pause_seconds)


def _references(reference: Path, inputs: Sequence[AudioInput]) -> dict[str, tuple[str, str | None]]:
    """``name -> (reference text, language)`` of every input, from the manifest whose recordings are the inputs."""
    by_path = {}
    for cut in load_cuts([reference], split=None):
        for source in cut.recording.sources:
            by_path[Path(source.source).resolve()] = (cut_text(cut), cut_lang(cut, required=False))
    missing = [str(i.path) for i in inputs if i.path.resolve() not in by_path]
    if missing:
        shown = ", ".join(missing[:3]) + (f" and {len(missing) - 3} more" if len(missing) > 3 else "")
        raise LwasrError(f"{reference} has no recording of {shown}: a reference manifest must cover every input")
    return {i.name: by_path[i.path.resolve()] for i in inputs}


def _earlier_run(out: Path) -> tuple[dict[str, Any] | None, set[str]]:
    """The settings of the earlier run in ``out`` and the transcript files it wrote: ``<name>.<format>`` of the names
    its ``hyp.jsonl`` lists (a transcript's files are written after its record) and of the formats its
    ``settings.json`` names. ``(None, set())`` when nothing readable is there (HypWriter names the problem)."""
    try:
        old = json.loads((out / SETTINGS_FILE).read_text(encoding="utf-8"))
        records = read_hyps(out / HYP_FILE, partial=True)
    except (OSError, ValueError, LwasrError):
        return None, set()
    if not isinstance(old, dict):
        return None, set()
    return old, {f"{rec['id']}.{fmt}" for rec in records for fmt in old.get("formats") or []}


def _check_no_foreign_transcripts(out: Path, inputs: Sequence[AudioInput], formats: Sequence[str]) -> None:
    """LwasrError naming the files in ``out`` where transcripts of ``inputs`` go that this command did not write
    (a user's ``MINE.srt``, which a new input ``extra/MINE.wav`` would replace); its own are resumed or replaced."""
    _, own = _earlier_run(out)
    taken = [
        (f"{i.name}.{fmt}", i.path)
        for i in inputs
        for fmt in formats
        if f"{i.name}.{fmt}" not in own and os.path.lexists(out / f"{i.name}.{fmt}")
    ]
    if taken:
        shown = ", ".join(f"{name} (from {path})" for name, path in taken[:3])
        raise LwasrError(
            f"{out} holds files lwasr did not write where transcripts would go: {shown}"
            f"{f' and {len(taken) - 3} more' if len(taken) > 3 else ''}; move them away, or choose another --out"
        )


def _remove_earlier_transcripts(out: Path, settings: dict[str, Any]) -> None:
    """Before starting over (``overwrite``, other settings): remove the transcript files of the earlier run
    (:func:`_earlier_run`); HypWriter then removes the decode files. Nothing else in the directory is touched."""
    old, files = _earlier_run(out)
    if old is None or old == settings:
        return
    for name in files:
        (out / name).unlink(missing_ok=True)


def _write_files(out: Path, t: Transcript, formats: Sequence[str], *, missing_only: bool = False) -> None:
    """The files of transcript ``t``, ``out/<name>.<format>``, each atomically (``missing_only``: those absent)."""
    for fmt in formats:
        path = out / f"{t.name}.{fmt}"
        if not (missing_only and path.exists()):
            write_text(path, render(t, fmt))


class _Run:
    """One run over the files: read, chunk, group, decode, write; keeps the failures and the counts."""

    def __init__(
        self,
        decoder: Decoder,
        chunker: Chunker,
        language: str | None,
        out: Path | None,
        formats: Sequence[str],
        refs: dict[str, tuple[str, str | None]],
        rules: CueRules | None = None,
    ) -> None:
        """``rules``: with word timestamps, how segments are split from them."""
        self.decoder = decoder
        self.rules = rules
        self.aligner = WordAligner(decoder) if rules is not None else None
        self.chunker = chunker
        self.language = language
        self.out = out
        self.formats = formats
        self.refs = refs
        self.failures: list[Failure] = []
        self.audio_seconds = 0.0
        self.chunkings: dict[str, int] = defaultdict(int)

    def transcribe_all(self, todo: Sequence[AudioInput], store: HypWriter | _Memory, progress: bool) -> None:
        """Transcribe ``todo`` into ``store``, with a progress bar over the files' audio seconds."""
        checked = []
        for inp in todo:
            rec, failure = check_file(inp.path)
            if failure is None:
                checked.append((inp, rec))
            else:
                self._fail(failure)
        group_size = self.decoder.opts.batch_size or 16
        total = sum(rec.duration for _, rec in checked)
        bar = tqdm(total=total, unit="s", desc="transcribe", disable=not progress, bar_format=_BAR)
        group: list[_Loaded] = []
        with torch.inference_mode(), bar:
            for n, (inp, rec) in enumerate(checked, 1):
                bar.set_postfix_str(f"file {n}/{len(checked)}")
                loaded = self._load(inp, rec)
                if loaded is None:
                    bar.update(rec.duration)
                    continue
                group.append(loaded)
                if sum(len(f.utts) for f in group) >= group_size:
                    self._flush(group, store, bar)
                    group = []
            self._flush(group, store, bar)

    def _flush(self, group: list[_Loaded], store: HypWriter | _Memory, bar: tqdm) -> None:
        for f, t in zip(group, self._decode(group), strict=True):
            self._write(t, store)
            bar.update(f.duration)  # the header's seconds, as the total counts them

    def _fail(self, failure: Failure) -> None:
        log.warning("not transcribed: %s (%s)", failure.detail, failure.reason)
        self.failures.append(failure)

    def _load(self, inp: AudioInput, rec: Recording) -> _Loaded | None:
        audio, failure = read_audio(rec, inp.path)
        if failure is not None:
            self._fail(failure)
            return None
        spans, how = self.chunker(audio)
        utts = [
            Utt(f"{inp.name}#{k}", self.language, "", (s.end - s.start) / SAMPLE_RATE, _Clip(audio[s.start : s.end]))
            for k, s in enumerate(spans)
        ]
        return _Loaded(inp, float(rec.duration), how, spans, utts)

    def _decode(self, group: Sequence[_Loaded]) -> list[Transcript]:
        """Transcripts of a group of files, their chunks decoded in shared batches."""
        if not group:
            return []
        dec = self.decoder
        per_file: list[tuple[str | None, float | None]] = [(self.language, None)] * len(group)
        if self.language is None and dec.opts.scenario == "aware":
            per_file = self._file_languages([f.utts[:LID_CHUNKS] for f in group])
            for f, (lang, _) in zip(group, per_file, strict=True):
                for u in f.utts:
                    u.lang = lang
                if lang is not None and dec.system.routes_by_language and dec.system.adapter_for(lang) is None:
                    log.warning(
                        "%s: language %s has no expert, so the base model decodes it (restrict --lid-langs to the"
                        " experts' languages to avoid that)",
                        f.input.path,
                        lang,
                    )
        utts = [u for f in group for u in f.utts]
        by_language = dec.opts.scenario == "aware" and dec.system.routes_by_language and dec.opts.routing == "group"
        records = {}
        words = {}
        for batch in make_batches(utts, dec.opts, by_language=by_language):
            decoded = dec(batch)[dec.opts.scenario]
            records.update({r["id"]: r for r in decoded})
            if self.aligner is not None:
                words.update(self.aligner(batch, decoded))
        return [
            _transcript(f, [records[u.id] for u in f.utts], lang, [words.get(u.id) for u in f.utts], self.rules)
            for f, lang in zip(group, per_file, strict=True)
        ]

    def _file_languages(self, heads: Sequence[Sequence[Utt]]) -> list[tuple[str | None, float | None]]:
        """Per file, the language of its first chunks (LID probabilities averaged) and its probability."""
        dec = self.decoder
        probs: dict[str, torch.Tensor] = {}
        for batch in make_batches([u for h in heads for u in h], dec.opts, by_language=False):
            rows, _ = dec.language_probs(dec.features(batch), [u.duration for u in batch])  # as agnostic decoding
            probs.update({u.id: row for u, row in zip(batch, rows, strict=True)})
        return [
            detect(torch.stack([probs[u.id] for u in h]).mean(0, keepdim=True), dec.lid_langs)[0] if h else (None, None)
            for h in heads
        ]

    def _write(self, t: Transcript, store: HypWriter | _Memory) -> None:
        """The transcript's record, then its files (each atomically): every transcript file in ``out`` is one of a
        record, so that a rerun tells them from files of the user's; a rerun writes what a kill left missing."""
        store.append([t.record(*self.refs.get(t.name, ("", None)))])
        if self.out is not None:
            _write_files(self.out, t, self.formats)
        self.audio_seconds += t.duration
        self.chunkings[t.chunking] += 1

    def summary(
        self, inputs: Sequence[AudioInput], todo: Sequence[AudioInput], records: int, elapsed: float, settings: dict
    ) -> dict[str, Any]:
        """What ``summary.json`` holds; ``utterances`` (the files in ``hyp.jsonl``) is what ``lwasr score`` checks."""
        done = sum(self.chunkings.values())
        return {
            "utterances": records,
            "files": len(inputs),
            "transcribed_this_run": done,
            "already_done": len(inputs) - len(todo),
            "failed": len(self.failures),
            "failures": [asdict(f) for f in self.failures],
            "chunking": dict(self.chunkings),
            "audio_seconds": round(self.audio_seconds, 2),
            "seconds": round(elapsed, 2),
            "real_time_factor": round(elapsed / self.audio_seconds, 4) if self.audio_seconds else None,
            "device": str(self.decoder.device),
            "torch_threads": torch.get_num_threads(),
            "settings": settings,
        }


_BAR = "{desc}: {percentage:3.0f}%|{bar}| {n:.0f}/{total:.0f} s audio [{elapsed}<{remaining}{postfix}]"


def _transcript(
    f: _Loaded,
    records: Sequence[dict[str, Any]],
    given: tuple[str | None, float | None],
    words: Sequence[list[Word] | None],
    rules: CueRules | None,
) -> Transcript:
    """A file's transcript from its chunks' records: segments at the chunk boundaries (overlaps split halfway), or
    with word timestamps (``words`` per chunk), subtitle-like segments split from them by ``rules``."""
    segments = []
    for span, own, rec, timed in zip(f.spans, own_stretches(f.spans), records, words, strict=True):
        lang, prob = (rec["detected_lang"], rec["lid_prob"]) if rec["detected_lang"] is not None else given
        start, end = (round(at / SAMPLE_RATE, 3) for at in (own.start, own.end))
        decoded = {k: rec[k] for k in DECODING_FIELDS if k in rec}  # a chunk's scores, on each of its segments
        if timed is not None and rules is not None:
            cues = split_cues(_own_words(timed, span, own), rules)
            segments += [WordSegment(c[0].start, c[-1].end, text_of(c), lang, prob, **decoded, words=c) for c in cues]
            segments += [] if cues else [WordSegment(start, end, "", lang, prob, **decoded)]
            continue
        text = words_within(rec["hyp"], span, own, lang) if f.chunking == FIXED else rec["hyp"]
        segments.append(Segment(start, end, text, lang, prob, **decoded))
    language, prob = given if records and records[0]["detected_lang"] is None else _main_language(segments)
    return Transcript(f.input.name, str(f.input.path), round(f.duration, 3), language, prob, f.chunking, segments)


def _own_words(words: Sequence[Word], span: Span, own: Span) -> list[Word]:
    """A chunk's ``words`` in seconds of its file, within the chunk, keeping those whose middle falls within its own
    stretch (``own``: an overlap of fixed windows goes half to each)."""
    offset, first, last = (at / SAMPLE_RATE for at in (span.start, own.start, own.end))
    limit = span.end / SAMPLE_RATE
    timed = [
        replace(w, start=round(min(w.start + offset, limit), 3), end=round(min(w.end + offset, limit), 3))
        for w in words
    ]
    last = last if own.end < span.end else math.inf  # the file's last chunk keeps its words up to its end
    return [w for w in timed if first <= (w.start + w.end) / 2 < last]


def _main_language(segments: Sequence[Segment]) -> tuple[str | None, float | None]:
    """Per-chunk routing: the language of most of the speech, with its chunks' mean probability."""
    seconds: dict[str, float] = defaultdict(float)
    for s in segments:
        seconds[s.language] += s.end - s.start
    if not seconds:
        return None, None
    lang = max(seconds, key=seconds.__getitem__)
    probs = [s.language_probability for s in segments if s.language == lang]
    return lang, round(sum(probs) / len(probs), 4)
