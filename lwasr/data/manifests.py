"""The manifest contract, shared by every corpus: items -> checked cuts -> one CutSet per (corpus, lang, split).

A corpus module only reads its own layout into :class:`Utterance` items and hands them to a
:class:`Preparer`, which probes the audio, applies the checks of :func:`make_cuts`, writes
``<root>/manifests/<corpus>_<lang>_<split>_cuts.jsonl.gz`` atomically with its report sidecar, skips
manifests that are already complete, and gathers ``<root>/report.json``.
"""

from __future__ import annotations

import gzip
import json
import os
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict

from lhotse import CutSet, MonoCut, SupervisionSegment
from lhotse.cut import Cut

from lwasr.atomic import atomic_path
from lwasr.data.audio import MAX_SECONDS, SAMPLE_RATE, probe_many, resampling_available
from lwasr.data.limits import CutLimits
from lwasr.data.report import (
    BAD_SEGMENT,
    DUPLICATE_ID,
    EMPTY_TEXT,
    TOO_LONG,
    TOO_SHORT,
    Dropped,
    RunReport,
    SplitReport,
)
from lwasr.errors import LwasrError
from lwasr.langcodes import check_whisper_code

if TYPE_CHECKING:
    from typing_extensions import Unpack

SPLITS = ("train", "dev", "test")


class PrepareOptions(TypedDict, total=False):
    """What every corpus preparer takes besides its languages and paths (defaults: all :data:`SPLITS`, one job,
    no force, no audio decode check, the default :class:`CutLimits`)."""

    splits: Sequence[str]
    jobs: int
    force: bool
    decode: bool
    limits: CutLimits | None


#: Bumped when the way manifests are built changes, so that old manifests are rebuilt.
PREPARE_VERSION = 2
MANIFEST_SUFFIX = "_cuts.jsonl.gz"
#: Key of the supervision's ``custom`` holding the corpus's original transcript when ``text`` is normalized.
ORIG_TEXT = "orig_text"


def read_text(path: str | Path) -> str:
    """A corpus's text file as UTF-8 (a BOM is dropped); anything else is an error naming the file and line."""
    data = Path(path).read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise LwasrError(
            f"{path}:{line}: not UTF-8 (byte 0x{data[e.start]:02x}); convert the file, e.g."
            f" `iconv -f LATIN2 -t UTF-8 {path} > {path}.utf8` (with the file's real encoding)"
        ) from None


@dataclass
class Utterance:
    """One item as a corpus describes it, before any check.

    ``audio`` is a file path or a Kaldi pipe (``cmd |``). ``start``/``duration`` cut a segment out of the
    recording (``duration=None``: to its end); utterances sharing ``recording_id`` share one Recording.
    """

    id: str
    audio: str
    text: str
    lang: str
    speaker: str | None = None
    gender: str | None = None
    orig_text: str | None = None
    start: float = 0.0
    duration: float | None = None
    recording_id: str | None = None
    custom: dict[str, Any] | None = None


def manifest_path(root: str | Path, corpus: str, lang: str, split: str) -> Path:
    """``<root>/manifests/<corpus>_<lang>_<split>_cuts.jsonl.gz`` (``root`` is e.g. ``data/fleurs``)."""
    return Path(root) / "manifests" / f"{corpus}_{lang}_{split}{MANIFEST_SUFFIX}"


def sidecar_path(manifest: Path) -> Path:
    """The report written beside a manifest once it is complete."""
    return manifest.with_name(manifest.name.removesuffix(MANIFEST_SUFFIX) + "_report.json")


def parse_manifest_name(path: str | Path) -> tuple[str, str, str]:
    """``fleurs_pl_train_cuts.jsonl.gz`` -> ``("fleurs", "pl", "train")`` (the corpus may contain ``_``)."""
    name = Path(path).name
    if not name.endswith(MANIFEST_SUFFIX) or name.count("_") < 3:
        raise LwasrError(f"{path}: not a manifest name of the form <corpus>_<lang>_<split>{MANIFEST_SUFFIX}")
    corpus, lang, split = name.removesuffix(MANIFEST_SUFFIX).rsplit("_", 2)
    return corpus, lang, split


def clean_text(text: str | None) -> str:
    """Collapse runs of whitespace (tabs, newlines) to one space and strip; nothing else is changed."""
    return " ".join((text or "").split())


def group_by_language(
    utts: list[Utterance], dropped: list[Dropped], lang: str | None
) -> dict[str, tuple[list[Utterance], list[Dropped]]]:
    """Items per language, each with its drops; the drops (whose language is unknown) go with ``lang`` (``--lang``) or
    the first language."""
    groups: dict[str, list[Utterance]] = defaultdict(list)
    for u in utts:
        groups[check_whisper_code(u.lang)].append(u)
    if not groups and lang is None:
        raise LwasrError("no usable item with a language: nothing to prepare")
    first = lang or sorted(groups)[0]
    out = {k: (v, []) for k, v in sorted(groups.items())}
    out.setdefault(first, ([], []))[1].extend(dropped)
    return out


def check_split_name(split: str) -> str:
    """``split`` if it can be part of a manifest name (not empty, no ``_`` or ``/``); an LwasrError otherwise."""
    if not split or "_" in split or "/" in split:
        raise LwasrError(f"bad split name {split!r} (no '_' or '/')")
    return split


def make_cuts(
    utts: Iterable[Utterance],
    report: SplitReport,
    *,
    jobs: int = 1,
    opus_rate: int | None = None,
    decode: bool = False,
    limits: CutLimits | None = None,
) -> list[Cut]:
    """Turn items into checked 16 kHz mono cuts; every item left out is recorded in ``report`` with its reason.

    Checks: duplicate id, empty transcript, language is a Whisper code (an error, not a drop), audio present
    and readable, segment inside the recording, duration <= 30 s, ``limits``. Kept but converted on the fly
    (noted in the report): other sampling rates (``cut.resample(16000)``) and multi-channel audio (channel 0).
    """
    limits = limits or CutLimits()
    kept: list[Utterance] = []
    seen: dict[str, str] = {}
    for u in utts:
        if u.id in seen:
            report.drop(u.id, DUPLICATE_ID, f"id {u.id!r} of {u.audio} is already taken by {seen[u.id]} (kept)")
            continue
        seen[u.id] = u.audio
        check_whisper_code(u.lang)
        text = clean_text(u.text)
        if not text:
            report.drop(u.id, EMPTY_TEXT, f"empty transcript for {u.audio}")
            continue
        u.text = text
        kept.append(u)

    sources: dict[str, str] = {}
    for u in kept:
        sources.setdefault(u.recording_id or u.id, u.audio)
    probes = probe_many(list(sources.items()), jobs=jobs, opus_rate=opus_rate, decode=decode)
    found = dict(zip(sources, probes, strict=True))

    cuts: list[Cut] = []
    for u in kept:
        p = found[u.recording_id or u.id]
        if p.recording is None:
            report.drop(u.id, p.reason, p.detail)
            continue
        rec = p.recording
        duration = rec.duration - u.start if u.duration is None else u.duration
        if u.start < 0 or duration <= 0 or u.start + duration > rec.duration + 0.05:
            report.drop(
                u.id, BAD_SEGMENT, f"segment {u.start:.2f}+{duration:.2f} s outside {rec.duration:.2f} s of audio"
            )
            continue
        duration = min(duration, rec.duration - u.start)
        if duration > MAX_SECONDS:
            report.drop(u.id, TOO_LONG, f"{duration:.1f} s > {MAX_SECONDS:.0f} s ({u.audio})")
            continue
        if short := limits.too_short(duration, u.text):
            report.drop(u.id, TOO_SHORT, f"{short} ({u.audio})")
            continue
        custom = dict(u.custom or {})
        if u.orig_text is not None:
            custom[ORIG_TEXT] = u.orig_text
        sup = SupervisionSegment(
            id=u.id,
            recording_id=rec.id,
            start=0.0,
            duration=duration,
            channel=0,
            text=u.text,
            language=u.lang,
            speaker=u.speaker,
            gender=u.gender,
            custom=custom or None,
        )
        cut: Cut = MonoCut(id=u.id, start=u.start, duration=duration, channel=0, recording=rec, supervisions=[sup])
        if rec.num_channels > 1:
            report.note(f"{rec.num_channels}-channel audio, channel 0 used")
        if rec.sampling_rate != SAMPLE_RATE:
            report.note(f"resampled {rec.sampling_rate} -> {SAMPLE_RATE} Hz on the fly")
            if not resampling_available():
                report.note("WARNING: scipy is missing, resampled cuts cannot be loaded (pip install scipy)")
            cut = cut.resample(SAMPLE_RATE)
        cuts.append(cut)
    return cuts


def _count_lines(path: Path) -> int:
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return sum(1 for _ in f)


def _normalized(obj: Any) -> Any:
    return json.loads(json.dumps(obj, sort_keys=True, default=str))


class Preparer:
    """Writes the manifests of one prepare run, resumably, and collects the run's report.

    Usage in a corpus module: ``if not prep.done(lang, split, fp): prep.write(lang, split, utts, fp)``,
    then ``prep.finish()``. ``fp`` (the fingerprint) describes the inputs; a complete manifest whose
    sidecar has the same fingerprint and the same number of cuts is reused instead of rebuilt.
    """

    def __init__(
        self,
        root: str | Path,
        corpus: str,
        *,
        jobs: int = 1,
        force: bool = False,
        decode: bool = False,
        opus_rate: int | None = None,
        limits: CutLimits | None = None,
    ) -> None:
        if not corpus or "/" in corpus or any(c.isspace() for c in corpus):
            raise LwasrError(f"bad corpus name {corpus!r}: use letters, digits, '-' or '_'")
        self.root = Path(root)
        self.corpus = corpus
        self.jobs = max(1, jobs)
        self.force = force
        self.decode = decode
        self.opus_rate = opus_rate
        self.limits = limits or CutLimits()
        self.report = RunReport(corpus=corpus, root=str(self.root))

    def path(self, lang: str, split: str) -> Path:
        return manifest_path(self.root, self.corpus, lang, split)

    def _full(self, fingerprint: dict[str, Any]) -> dict[str, Any]:
        """What a sidecar records: the inputs, the limits and the version of this code."""
        return _normalized({"version": PREPARE_VERSION, "limits": asdict(self.limits), **fingerprint})

    def done(self, lang: str, split: str, fingerprint: dict[str, Any]) -> bool:
        """True (and the old report is taken over) when this manifest is complete for these inputs."""
        path = self.path(lang, split)
        side = sidecar_path(path)
        if self.force or not path.is_file() or not side.is_file():
            return False
        try:
            old = SplitReport.load(side)
            if _normalized(old.fingerprint) != self._full(fingerprint) or _count_lines(path) != old.cuts:
                return False
        except (OSError, ValueError, KeyError, TypeError, EOFError):
            return False
        old.reused = True
        self.report.splits.append(old)
        return True

    def write(
        self,
        lang: str,
        split: str,
        utts: Iterable[Utterance],
        fingerprint: dict[str, Any],
        dropped: Sequence[Dropped] = (),
        notes: Mapping[str, int] | None = None,
    ) -> SplitReport:
        """Check ``utts``, write the manifest atomically, then its sidecar (the "complete" marker). ``notes``:
        what the preparer did to items it kept, with counts (the report lists them)."""
        check_whisper_code(lang)
        path = self.path(lang, split)
        rep = SplitReport(self.corpus, lang, split, str(path), fingerprint=self._full(fingerprint))
        rep.dropped.extend(dropped)
        rep.notes.update(notes or {})
        cuts = make_cuts(utts, rep, jobs=self.jobs, opus_rate=self.opus_rate, decode=self.decode, limits=self.limits)
        side = sidecar_path(path)
        side.unlink(missing_ok=True)
        with atomic_path(path) as tmp:
            CutSet.from_cuts(cuts).to_file(tmp)
        rep.cuts = len(cuts)
        rep.seconds = float(sum(c.duration for c in cuts))
        rep.save(side)
        self.report.splits.append(rep)
        return rep

    def finish(self) -> RunReport:
        """Write ``<root>/report.json`` for the manifests of this run and return the report."""
        self.report.write(self.root / "report.json")
        return self.report


def input_fingerprint(*paths: str | Path) -> dict[str, Any]:
    """Size and modification time of input files: a changed input means a rebuilt manifest."""
    out: dict[str, Any] = {}
    for p in paths:
        st = os.stat(p)
        out[str(p)] = [st.st_size, st.st_mtime_ns]
    return out


def read_cuts(path: str | Path) -> CutSet:
    """Load one manifest eagerly; an empty file gives an empty CutSet (lhotse itself returns None)."""
    cuts = CutSet.from_file(path)
    return CutSet.from_cuts([]) if cuts is None else cuts.to_eager()


def extracted_corpus(
    corpus: str,
    corpus_dir: str | Path,
    out: str | Path,
    opus_rate: int | None = None,
    **options: Unpack[PrepareOptions],
) -> tuple[Path, Sequence[str], Preparer]:
    """The start of preparing an extracted copy of ``corpus``: its directory (an LwasrError unless it is one), the
    splits to prepare and the :class:`Preparer` writing ``out``."""
    corpus_dir = Path(corpus_dir)
    if not corpus_dir.is_dir():
        raise LwasrError(f"--corpus-dir {corpus_dir} is not a directory")
    splits = options.pop("splits", SPLITS)
    return corpus_dir, splits, Preparer(out, corpus, opus_rate=opus_rate, **options)
