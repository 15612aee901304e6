"""`lwasr prepare validate`: lhotse's own checks plus the lwasr manifest contract, on every cut."""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from lhotse.cut import Cut
from lhotse.qa import validate_cut

from lwasr.data.audio import MAX_SECONDS, SAMPLE_RATE, error_text, truncation
from lwasr.data.limits import CutLimits
from lwasr.data.manifests import read_cuts
from lwasr.errors import LwasrError
from lwasr.langcodes import is_whisper_code
from lwasr.progress import tqdm


def check_cut(cut: Cut, limits: CutLimits | None = None) -> list[str]:
    """Problems of one cut, without reading audio: lhotse's validation and the lwasr contract."""
    problems = []
    try:
        validate_cut(cut, read_data=False)
    except Exception as e:  # noqa: BLE001 - lhotse reports by AssertionError, but anything here is a problem
        problems.append(f"lhotse validation: {e}")
    if len(cut.supervisions) != 1:
        problems.append(f"{len(cut.supervisions)} supervisions (expected exactly 1)")
    for sup in cut.supervisions[:1]:
        if not (sup.text or "").strip():
            problems.append("empty text")
        if not is_whisper_code(sup.language):
            problems.append(f"language {sup.language!r} is not a Whisper code")
        if short := (limits or CutLimits()).too_short(cut.duration, sup.text or ""):
            problems.append(f"too short: {short}")
    if cut.duration > MAX_SECONDS:
        problems.append(f"duration {cut.duration:.2f} s > {MAX_SECONDS:.0f} s")
    if cut.sampling_rate != SAMPLE_RATE:
        problems.append(f"sampling rate {cut.sampling_rate} (expected {SAMPLE_RATE}: add cut.resample({SAMPLE_RATE}))")
    if cut.num_channels != 1:
        problems.append(f"{cut.num_channels} channels (expected a mono cut)")
    return problems


def check_audio(cut_dict: dict[str, Any]) -> str | None:
    """Load a cut's audio; return the problem, or None when it decodes to finite 16 kHz mono samples and its
    file holds all the samples its header declares."""
    try:
        from lhotse.serialization import deserialize_item

        cut = deserialize_item(cut_dict)
        audio = cut.load_audio()
        src = cut.recording.sources[0]
        short = truncation(src.source) if src.type == "file" else None
    except Exception as e:  # noqa: BLE001 - any failure to load is the problem reported
        return f"audio unreadable: {error_text(e)}"
    if short:
        return f"audio truncated: {short}"
    if audio.ndim != 2 or audio.shape[0] != 1:
        return f"audio has shape {tuple(audio.shape)} (expected (1, samples))"
    if abs(audio.shape[1] - cut.num_samples) > 0.01 * SAMPLE_RATE:
        return f"audio has {audio.shape[1]} samples, manifest says {cut.num_samples}"
    if not np.isfinite(audio).all():
        return "audio has NaN or infinite samples"
    return None


def validate_manifest(
    path: str | Path, *, read_audio: bool = True, jobs: int = 1, limits: CutLimits | None = None
) -> tuple[int, list[str]]:
    """Check every cut of the manifest at ``path``; return (number of cuts, problems as ``<cut id>: <what>``)."""
    path = Path(path)
    if not path.is_file():
        raise LwasrError(f"no such manifest: {path}")
    try:
        cuts = read_cuts(path)
    except Exception as e:  # noqa: BLE001 - a manifest that does not parse is the user's problem to see
        raise LwasrError(f"{path}: cannot read the manifest: {e}") from e
    problems: list[str] = []
    if len(cuts) == 0:
        problems.append(f"{path.name}: no cuts")
    for cut_id, n in Counter(c.id for c in cuts).items():
        if n > 1:
            problems.append(f"{cut_id}: id appears {n} times")
    for cut in tqdm(cuts, desc="checking cuts", unit="cut", leave=False, disable=len(cuts) < 500):
        problems += [f"{cut.id}: {p}" for p in check_cut(cut, limits)]
    if read_audio:
        dicts = [c.to_dict() for c in cuts]
        bar = dict(total=len(dicts), desc="reading audio", unit="cut", leave=False, disable=len(dicts) < 200)
        if jobs > 1 and len(dicts) >= 200:
            with ProcessPoolExecutor(max_workers=jobs) as pool:
                results = list(tqdm(pool.map(check_audio, dicts, chunksize=32), **bar))
        else:
            results = [check_audio(d) for d in tqdm(dicts, **bar)]
        problems += [f"{c.id}: {r}" for c, r in zip(cuts, results, strict=True) if r]
    return len(cuts), problems
