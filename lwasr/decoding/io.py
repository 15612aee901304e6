"""Decode inputs and resumable outputs.

A decode directory holds:

- ``settings.json``: the decode settings, written first. A restart with other settings is refused
  (or, with ``overwrite``, the partial output is removed and decoding starts over): outputs of two
  settings are never mixed.
- ``hyp.jsonl``: one JSON record per utterance (id, lang, ref, hyp, detected_lang, lid_prob,
  duration), appended and flushed per batch. On restart, decoded ids are skipped and a truncated
  last line (a kill mid-write) is cut off.
- ``text`` (Kaldi style, ``id hyp``) and ``summary.json``, written atomically when all is decoded;
  ``summary.json`` marks the decode complete.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from lwasr.atomic import write_json, write_text
from lwasr.errors import LwasrError

HYP_FILE = "hyp.jsonl"
SETTINGS_FILE = "settings.json"
TEXT_FILE = "text"
SUMMARY_FILE = "summary.json"


def load_cuts(paths: Sequence[str | Path]):
    """One eager CutSet from one or more manifest files (LwasrError when one is missing or empty)."""
    from lwasr.data.manifests import load_cuts as load_manifests

    cuts = load_manifests(list(paths), split=None).to_eager()
    if len(cuts) == 0:
        raise LwasrError(f"no utterances in {', '.join(map(str, paths))}")
    return cuts


def read_hyps(path: str | Path, *, repair: bool = False) -> list[dict[str, Any]]:
    """Records of a ``hyp.jsonl``; a truncated last line is ignored (and cut from the file if ``repair``)."""
    path = Path(path)
    if not path.is_file():
        return []
    data = path.read_bytes()
    records, good_end = [], 0
    for line in data.splitlines(keepends=True):
        try:
            if not line.endswith(b"\n"):
                raise ValueError("unterminated line")
            records.append(json.loads(line))
        except ValueError:
            break
        good_end += len(line)
    if repair and good_end < len(data):
        with open(path, "r+b") as f:
            f.truncate(good_end)
    return records


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
            old = json.loads(settings_path.read_text())
            if old != self.settings:
                if not overwrite:
                    diff = sorted(k for k in set(old) | set(self.settings) if old.get(k) != self.settings.get(k))
                    raise LwasrError(
                        f"{self.out_dir} holds a decode with other settings (differing: {', '.join(diff)});"
                        " use --overwrite to start over, or another --out"
                    )
                shutil.rmtree(self.out_dir)
        elif (self.out_dir / HYP_FILE).exists():
            if not overwrite:
                raise LwasrError(f"{self.out_dir} holds a {HYP_FILE} without {SETTINGS_FILE}; use --overwrite")
            shutil.rmtree(self.out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        write_json(settings_path, self.settings)

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
        lines = [f"{r['id']} {r['hyp']}".rstrip() for r in sorted(self.records, key=lambda r: r["id"])]
        write_text(self.out_dir / TEXT_FILE, "".join(line + "\n" for line in lines))
        write_json(self.out_dir / SUMMARY_FILE, summary)

    def close(self) -> None:
        if not self._file.closed:
            self._file.close()


def is_complete(out_dir: str | Path, settings: dict[str, Any]) -> bool:
    """Whether ``out_dir`` holds a finished decode with exactly these settings."""
    out_dir = Path(out_dir)
    path = out_dir / SETTINGS_FILE
    return (out_dir / SUMMARY_FILE).is_file() and path.is_file() and json.loads(path.read_text()) == settings
