"""A long-form test set from a test manifest: each language's cuts concatenated, with pauses, into 1-3 minute
recordings whose reference is the cuts' transcripts in order.

It measures what chunking costs: ``lwasr transcribe OUT/wav --reference OUT/longform_cuts.jsonl.gz`` scored with
``lwasr score`` against ``lwasr decode --cuts OUT/parts_cuts.jsonl.gz`` (the same speech, one cut at a time).

``OUT`` (written atomically, marked as ``lwasr prepare longform``'s output) holds:

- ``wav/<id>.wav``: 16 kHz recordings, ``longform_<lang>_<k>``;
- ``longform_cuts.jsonl.gz``: one cut per recording, its supervision holding the concatenated reference and the
  language, with the parts' ids and times (``custom``: ``parts``, ``part_times``);
- ``parts_cuts.jsonl.gz``: the source cuts that went into the recordings;
- ``longform.json``: the settings, and per language the recordings, their seconds and any cuts left out.

A language's cuts are cut into ``ceil(total / max_seconds)`` recordings of about equal length (never over
``max_seconds``); a recording shorter than ``min_seconds`` (too little audio in a language) is left out and
counted.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
from lhotse import CutSet, MonoCut, Recording, SupervisionSegment
from lhotse.audio import AudioSource
from lhotse.cut import Cut

from lwasr.atomic import atomic_path, check_output, write_json
from lwasr.data.audio import SAMPLE_RATE
from lwasr.data.cuts import cut_lang, cut_text, load_cuts
from lwasr.decoding.audio import load_audio
from lwasr.decoding.batching import MAX_SECONDS, utterances
from lwasr.errors import LwasrError
from lwasr.progress import tqdm

PRODUCER = "lwasr prepare longform"
LONGFORM_MANIFEST = "longform_cuts.jsonl.gz"
PARTS_MANIFEST = "parts_cuts.jsonl.gz"
INFO_FILE = "longform.json"


def plan_recordings(durations: Sequence[float], max_seconds: float, pause: float) -> list[list[int]]:
    """Indices of consecutive clips grouped into recordings of about equal length, each at most ``max_seconds``
    (clips of ``durations`` seconds joined by ``pause`` seconds)."""
    total = sum(durations) + pause * max(0, len(durations) - 1)
    target = total / max(1, math.ceil(total / max_seconds))
    groups: list[list[int]] = []
    length = 0.0
    for i, d in enumerate(durations):
        if not groups or length >= target or length + pause + d > max_seconds:
            groups.append([i])
            length = d
        else:
            groups[-1].append(i)
            length += pause + d
    return groups


def build_longform_set(
    cuts_paths: Sequence[str | Path],
    out: str | Path,
    *,
    langs: Sequence[str] | None = None,
    min_seconds: float = 60.0,
    max_seconds: float = 180.0,
    pause_seconds: float = 1.0,
    force: bool = False,
    progress: bool = True,
) -> dict[str, Any]:
    """Write the long-form set of ``cuts_paths`` (only ``langs``, if given) to ``out``; return ``longform.json``.

    An earlier output of the same settings is kept (``force`` rebuilds it).
    """
    if not 0 < min_seconds <= max_seconds or max_seconds < MAX_SECONDS or pause_seconds < 0:
        raise LwasrError(
            f"need 0 < --min-seconds <= --max-seconds, --max-seconds >= {MAX_SECONDS:.0f} (a cut may be that long)"
            " and --pause >= 0"
        )
    out = Path(out)
    settings = {
        "cuts": [str(Path(p).resolve()) for p in cuts_paths],
        "langs": sorted(langs) if langs else None,
        "min_seconds": min_seconds,
        "max_seconds": max_seconds,
        "pause_seconds": pause_seconds,
    }
    if check_output(out, PRODUCER) and not force and (out / INFO_FILE).is_file():
        info = json.loads((out / INFO_FILE).read_text(encoding="utf-8"))
        if info.get("settings") == settings:
            return info
    by_lang = _by_language(load_cuts(cuts_paths, split=None), langs)
    info: dict[str, Any] = {"settings": settings, "languages": {}}
    long_cuts: list[Cut] = []
    parts: list[Cut] = []
    bar = tqdm(total=sum(map(len, by_lang.values())), unit="cut", desc="longform", disable=not progress)
    with atomic_path(out, is_dir=True, producer=PRODUCER) as tmp, bar:
        (tmp / "wav").mkdir()
        for lang, cuts in sorted(by_lang.items()):
            groups = plan_recordings([c.duration for c in cuts], max_seconds, pause_seconds)
            stats = {"recordings": 0, "seconds": 0.0, "cuts": 0, "left_out_cuts": 0, "left_out_seconds": 0.0}
            for group in groups:
                chosen = [cuts[i] for i in group]
                bar.update(len(chosen))
                if sum(c.duration for c in chosen) + pause_seconds * (len(chosen) - 1) < min_seconds:
                    stats["left_out_cuts"] += len(chosen)
                    stats["left_out_seconds"] = round(stats["left_out_seconds"] + sum(c.duration for c in chosen), 2)
                    continue
                rec_id = f"longform_{lang}_{stats['recordings']:03d}"
                cut = _concatenate(chosen, rec_id, lang, pause_seconds, tmp / "wav", out.resolve() / "wav")
                long_cuts.append(cut)
                parts += chosen
                stats["recordings"] += 1
                stats["cuts"] += len(chosen)
                stats["seconds"] = round(stats["seconds"] + cut.duration, 2)
            info["languages"][lang] = stats
        if not long_cuts:
            raise LwasrError(
                f"no language of {', '.join(map(str, cuts_paths))} has {min_seconds:.0f} s of audio for a long"
                " recording; lower --min-seconds"
            )
        CutSet.from_cuts(long_cuts).to_file(tmp / LONGFORM_MANIFEST)
        CutSet.from_cuts(parts).to_file(tmp / PARTS_MANIFEST)
        write_json(tmp / INFO_FILE, info)
    return info


def _by_language(cuts: CutSet, langs: Sequence[str] | None) -> dict[str, list[Cut]]:
    by_lang: dict[str, list[Cut]] = defaultdict(list)
    for cut in cuts:
        by_lang[cut_lang(cut)].append(cut)
    missing = sorted(set(langs or ()) - set(by_lang))
    if missing:
        have = ", ".join(sorted(by_lang))
        raise LwasrError(f"no cuts in language(s) {', '.join(missing)}; the manifests have {have}")
    return {lang: c for lang, c in by_lang.items() if not langs or lang in langs}


def _concatenate(cuts: Sequence[Cut], rec_id: str, lang: str, pause: float, tmp_dir: Path, final_dir: Path) -> Cut:
    """Write the cuts' audio (as decoding reads it), ``pause`` seconds of silence apart, to ``tmp_dir/<id>.wav``;
    the cut of that recording, whose source is its path once the output is in place (``final_dir``)."""
    gap = np.zeros(round(pause * SAMPLE_RATE), dtype=np.float32)
    pieces: list[np.ndarray] = []
    times: list[list[float]] = []
    at = 0
    for k, utt in enumerate(utterances(cuts)):
        if k:
            pieces.append(gap)
            at += len(gap)
        audio = load_audio([utt])[0].numpy()
        pieces.append(audio)
        times.append([round(at / SAMPLE_RATE, 3), round((at + len(audio)) / SAMPLE_RATE, 3)])
        at += len(audio)
    sf.write(tmp_dir / f"{rec_id}.wav", np.concatenate(pieces), SAMPLE_RATE)
    source = AudioSource(type="file", channels=[0], source=str(final_dir / f"{rec_id}.wav"))
    rec = Recording(rec_id, [source], SAMPLE_RATE, num_samples=at, duration=at / SAMPLE_RATE)
    text = " ".join(cut_text(c) for c in cuts)
    custom = {"parts": [c.id for c in cuts], "part_times": times}
    sup = SupervisionSegment(rec_id, rec_id, 0.0, rec.duration, text=text, language=lang, custom=custom)
    return MonoCut(rec_id, 0.0, rec.duration, 0, recording=rec, supervisions=[sup])
