"""Decode inputs and resumable outputs.

A decode directory holds:

- ``settings.json``: the decode settings, written first. A restart with other settings is refused
  (or, with ``overwrite``, the partial output is removed and decoding starts over): outputs of two
  settings are never mixed. An aware decode and the aware part of a ``both`` decode count as the same
  (:func:`resume_settings`).
- ``hyp.jsonl``: one JSON record per utterance (id, lang, ref, hyp, detected_lang, lid_prob,
  duration), appended and flushed per batch. On restart, decoded ids are skipped and a truncated
  last line (a kill mid-write) is cut off; any other damaged line is an error naming file:line.
- ``text`` (Kaldi style, ``id hyp``; an id with whitespace is quoted: :func:`text_line`) and ``summary.json``,
  written atomically when all is decoded; ``summary.json`` marks the decode complete. :func:`read_finished` (what
  ``lwasr score`` reads) accepts only a complete decode whose ``hyp.jsonl`` holds exactly the utterances it counts.

A **kept** decode is what a study keeps of a finished one under ``results/`` (``exp/`` does not outlive a
machine): ``hyp.jsonl.gz``, with ``summary.json`` where the study kept it. :func:`read_finished` reads it as it
is; only the recipes' keep scripts write one, and only of a finished decode.
"""

from __future__ import annotations

import gzip
import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from lwasr.atomic import write_json, write_text
from lwasr.config_fields import differing
from lwasr.decoding.options import AGNOSTIC_ONLY
from lwasr.errors import LwasrError

HYP_FILE = "hyp.jsonl"
KEPT_HYP_FILE = "hyp.jsonl.gz"  # a kept decode's records: HYP_FILE gzipped
SETTINGS_FILE = "settings.json"
TEXT_FILE = "text"
SUMMARY_FILE = "summary.json"
RESULTS_FILE = "results.json"  # written beside them by `lwasr score`
ERRORS_FILE = "errors.txt"  # written beside them by `lwasr score`: each utterance's alignment
#: Every file lwasr puts in a decode dir, completion marker first: what starting over removes, and nothing else.
DECODE_FILES = (SUMMARY_FILE, RESULTS_FILE, ERRORS_FILE, TEXT_FILE, HYP_FILE, SETTINGS_FILE)


#: Fields every ``hyp.jsonl`` record has, and their types (``lang`` is null for cuts without a language).
RECORD_FIELDS: dict[str, tuple[type, ...]] = {"id": (str,), "lang": (str, type(None)), "ref": (str,), "hyp": (str,)}
_REDO = "rerun its `lwasr decode` command with --overwrite"  # the way out of a damaged decode dir
_REKEEP = "keep it again from its decode dir"  # ... and of a damaged kept one


def read_hyps(path: str | Path, *, repair: bool = False, partial: bool = False) -> list[dict[str, Any]]:
    """Records of a ``hyp.jsonl`` (none if it is missing), each line checked.

    A line that is not a complete record (bad JSON, a missing or mistyped field, an id seen before) is an
    LwasrError naming file:line. Only with ``repair`` (resuming a decode) is an unterminated last line, a kill
    mid-write, tolerated: it is cut from the file; with ``partial`` it is left out and the file left as it is.
    A kept decode's ``hyp.jsonl.gz`` is read the same way (never repaired).
    """
    path = Path(path)
    if not path.is_file():
        return []
    kept = path.name == KEPT_HYP_FILE
    redo = _REKEEP if kept else _REDO
    data = _gunzip(path) if kept else path.read_bytes()
    lines = data.splitlines(keepends=True)
    if (repair or partial) and not kept and lines and not lines[-1].endswith(b"\n"):
        cut = lines.pop()
        if repair:
            with open(path, "r+b") as f:
                f.truncate(len(data) - len(cut))
    records: list[dict[str, Any]] = []
    first_seen: dict[str, int] = {}
    for n, line in enumerate(lines, 1):
        rec, problem = _parse_record(line)
        if rec is not None and rec["id"] in first_seen:
            problem = f"id {rec['id']!r} again (first on line {first_seen[rec['id']]})"
        if problem:
            raise LwasrError(f"{path}:{n}: {problem}; this decode output is damaged: {redo}")
        first_seen[rec["id"]] = n
        records.append(rec)
    return records


def _gunzip(path: Path) -> bytes:
    """The bytes of a gzipped file; LwasrError when it is not a complete gzip stream."""
    try:
        return gzip.decompress(path.read_bytes())
    except (OSError, EOFError) as e:  # BadGzipFile is an OSError; a cut stream ends early
        raise LwasrError(f"{path} is not a complete gzip file ({e}); {_REKEEP}") from e


def _parse_record(line: bytes) -> tuple[dict[str, Any] | None, str | None]:
    """One ``hyp.jsonl`` line -> (record, None), or (None, what is wrong with it)."""
    if not line.endswith(b"\n"):
        return None, "truncated record (no line end)"
    try:
        rec = json.loads(line)
    except ValueError:
        rec = None
    if not isinstance(rec, dict):
        return None, "not a JSON record"
    for key, types in RECORD_FIELDS.items():
        if key not in rec:
            return None, f"no {key!r}"
        if not isinstance(rec[key], types):
            return None, f"{key!r} is not a {'string' if types == (str,) else 'string or null'}"
    return rec, None


def read_finished(out_dir: str | Path) -> list[dict[str, Any]]:
    """Records of a finished decode, or of a kept one (``hyp.jsonl.gz``); LwasrError when it is missing,
    unfinished, damaged, or holds more or fewer records than the utterances it decoded.

    A kept decode is finished by construction (a keep script copies only finished ones); its utterance count is
    checked when its ``summary.json`` was kept too."""
    out_dir = Path(out_dir)
    hyp, kept = out_dir / HYP_FILE, out_dir / KEPT_HYP_FILE
    if not hyp.is_file() and kept.is_file():
        records = read_hyps(kept)
        _check_count(out_dir, kept, records, _REKEEP)
        return records
    if not hyp.is_file():
        raise LwasrError(f"{out_dir} holds no decode (no {HYP_FILE}); run `lwasr decode --out {out_dir}` first")
    if not (out_dir / SUMMARY_FILE).is_file():
        expected = _expected_utterances(out_dir)
        written = hyp.read_bytes().count(b"\n")
        of = "" if expected is None else f" of {expected}"
        raise LwasrError(
            f"{out_dir} is an unfinished decode (no {SUMMARY_FILE}; {written}{of} utterances written): rerun its"
            " `lwasr decode` command to finish it (it resumes), then score it"
        )
    records = read_hyps(hyp)
    _check_count(out_dir, hyp, records, _REDO)
    return records


def _check_count(out_dir: Path, hyp: Path, records: list[dict[str, Any]], redo: str) -> None:
    """LwasrError when ``hyp`` holds other than the number of utterances the decode in ``out_dir`` counted."""
    expected = _expected_utterances(out_dir)
    if expected is not None and len(records) != expected:
        raise LwasrError(
            f"{hyp} holds {len(records)} records but the decode finished with {expected} utterances"
            f" ({SUMMARY_FILE}): it was changed after decoding; {redo}"
        )


def _expected_utterances(out_dir: str | Path) -> int | None:
    """Utterances of the decode in ``out_dir``: its summary's count, else the count of the manifests its
    settings name (None when neither is known)."""
    out_dir = Path(out_dir)
    summary = _read_json(out_dir / SUMMARY_FILE)
    if summary.get("utterances") is not None:
        return int(summary["utterances"])
    manifests = _read_json(out_dir / SETTINGS_FILE).get("cuts") or []
    if manifests and all(Path(m).is_file() for m in manifests):
        from lwasr.data.cuts import load_cuts  # lhotse and torch: only an unfinished decode's message needs them

        return len(load_cuts(manifests, split=None))
    return None


def read_summary(out_dir: str | Path) -> dict[str, Any]:
    """``summary.json`` of a decode dir ({} when it has none)."""
    return _read_json(Path(out_dir) / SUMMARY_FILE)


def _read_json(path: Path) -> dict[str, Any]:
    """A JSON object file lwasr wrote ({} when missing); LwasrError when it is not one."""
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as e:
        raise LwasrError(f"{path} is not valid JSON ({e}); {_REDO}") from e
    if not isinstance(data, dict):
        raise LwasrError(f"{path} is not a JSON object; {_REDO}")
    return data


def text_line(uid: str, hyp: str) -> str:
    """One line of ``text``: ``<id> <hypothesis>``. An id holding whitespace, or starting with ``"``, is written as
    a JSON string (``"my talk" hello``), so that the id is always the line's first token (Kaldi's ids have none)."""
    if uid.startswith('"') or any(c.isspace() for c in uid):
        uid = json.dumps(uid, ensure_ascii=False)
    return f"{uid} {hyp}".rstrip()


class HypWriter:
    """Appends per-batch records to ``hyp.jsonl`` of a decode dir, resuming a matching partial decode."""

    def __init__(self, out_dir: str | Path, settings: dict[str, Any], *, overwrite: bool = False) -> None:
        self.out_dir = Path(out_dir)
        self.settings = settings
        self._prepare(overwrite)
        self.records = read_hyps(self.hyp_path, repair=True)
        self.done = {r["id"] for r in self.records}
        self._file = open(self.hyp_path, "a", encoding="utf-8")

    @property
    def hyp_path(self) -> Path:
        return self.out_dir / HYP_FILE

    def _prepare(self, overwrite: bool) -> None:
        settings_path = self.out_dir / SETTINGS_FILE
        if settings_path.is_file():
            old = _read_json(settings_path)
            if old != self.settings:
                if not overwrite:
                    raise LwasrError(
                        f"{self.out_dir} holds a decode with other settings (differing:"
                        f" {', '.join(differing(old, self.settings))});"
                        " use --overwrite to start over, or another --out"
                    )
                self._start_over()
        elif (self.out_dir / HYP_FILE).exists():
            if not overwrite:
                raise LwasrError(f"{self.out_dir} holds a {HYP_FILE} without {SETTINGS_FILE}; use --overwrite")
            self._start_over()
        self.out_dir.mkdir(parents=True, exist_ok=True)
        write_json(settings_path, self.settings)

    def _start_over(self) -> None:
        """Remove the earlier decode's files (:data:`DECODE_FILES`); anything else in the dir stays."""
        for name in DECODE_FILES:
            (self.out_dir / name).unlink(missing_ok=True)

    def append(self, records: Iterable[dict[str, Any]]) -> None:
        """Append records and flush them to disk (one batch at a time)."""
        for rec in records:
            self._file.write(json.dumps(rec, ensure_ascii=False) + "\n")
            self.records.append(rec)
            self.done.add(rec["id"])
        self._file.flush()
        os.fsync(self._file.fileno())

    def finish(self, summary: dict[str, Any]) -> None:
        """Close ``hyp.jsonl``; write ``text`` and ``summary.json`` (marks the decode complete)."""
        self._file.close()
        lines = [text_line(r["id"], r["hyp"]) for r in sorted(self.records, key=lambda r: r["id"])]
        write_text(self.out_dir / TEXT_FILE, "".join(line + "\n" for line in lines))
        write_json(self.out_dir / SUMMARY_FILE, summary)

    def close(self) -> None:
        if not self._file.closed:
            self._file.close()


def _aware_hypotheses(settings: dict[str, Any]) -> dict[str, Any] | None:
    """What fixes the hypotheses of an aware decode, or of the aware part of a ``both`` decode (the same language
    batches, the same hypotheses: tests/test_decode_e2e.py): its settings without the part, the scenario and the
    options that only route the agnostic scenario. None for an agnostic decode."""
    if settings.get("part", settings.get("scenario")) != "aware":
        return None
    return {k: v for k, v in settings.items() if k not in ("part", "scenario", *AGNOSTIC_ONLY)}


def resume_settings(out_dir: str | Path, settings: dict[str, Any]) -> dict[str, Any]:
    """The settings to decode into ``out_dir`` with: those it holds when both are aware decodes with the same
    hypotheses (an aware decode resumed or kept by the aware part of a ``both`` decode, or the reverse), else
    ``settings``."""
    held = _read_json(Path(out_dir) / SETTINGS_FILE)
    same = _aware_hypotheses(settings) is not None and _aware_hypotheses(held) == _aware_hypotheses(settings)
    return held if same else settings


def is_complete(out_dir: str | Path, settings: dict[str, Any]) -> bool:
    """Whether ``out_dir`` holds a finished decode with exactly these settings."""
    out_dir = Path(out_dir)
    path = out_dir / SETTINGS_FILE
    return (out_dir / SUMMARY_FILE).is_file() and path.is_file() and _read_json(path) == settings
