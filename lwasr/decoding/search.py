"""The decode loop over manifests: resumable outputs, batches, the decoder (:class:`lwasr.decoding.decoder.Decoder`)
and the summary.

The pieces: the settings (lwasr/decoding/options.py), utterances and batches (batching.py), their audio (audio.py),
the decoder of a batch with its scenarios and routing of experts (decoder.py; per-row adapters: rows.py), and the
decode directory (io.py).
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from lwasr.data.cuts import load_cuts
from lwasr.decoding.batching import Utt, make_batches, utterances
from lwasr.decoding.decoder import Decoder, system_options
from lwasr.decoding.io import SUMMARY_FILE, HypWriter, is_complete, resume_settings
from lwasr.decoding.options import DecodeOptions, check_lid_system, decode_outputs
from lwasr.decoding.regroup import Routed, regroup
from lwasr.decoding.systems import System
from lwasr.errors import LwasrError
from lwasr.progress import tqdm

log = logging.getLogger(__name__)


def warn_other_languages(system: System, utts: Sequence[Utt]) -> None:
    """Warn once, with the counts, when cuts are labelled with a language the system was not trained for."""
    trained = system.trained_languages
    other = Counter(u.lang for u in utts if u.lang is not None and u.lang not in trained)
    if trained and other:
        counts = ", ".join(f"{n} cuts labelled {lang}" for lang, n in sorted(other.items()))
        log.warning(
            "%s (%s, trained on %s) decodes %s: a model used on a language it was not trained for",
            system.source,
            system.kind,
            ",".join(trained),
            counts,
        )


def settings_for(
    system: System, cuts_paths: Sequence[str | Path], opts: DecodeOptions, part: str | None = None
) -> dict[str, Any]:
    """The JSON-normalised settings recorded in settings.json (``part``: which output of a ``both`` decode)."""
    settings = {"system": system.describe(), "cuts": [str(Path(p).resolve()) for p in cuts_paths], **asdict(opts)}
    if part is not None:
        settings["part"] = part
    return json.loads(json.dumps(settings))


def decode_cuts(
    system: System,
    cuts_paths: Sequence[str | Path],
    out_dir: str | Path,
    opts: DecodeOptions,
    *,
    agnostic_out: str | Path | None = None,
    lid_system: System | None = None,
    device: str | torch.device = "cpu",
    step_threads: int | None = None,
    overwrite: bool = False,
    progress: bool = True,
) -> dict[str, Any]:
    """Decode manifests into ``out_dir`` (resuming a matching partial decode); return the summary.

    Scenario ``both`` writes the aware decode to ``out_dir`` and the agnostic one to ``agnostic_out``.
    ``lid_system``: the loaded ``opts.lid_system``. ``step_threads``: CPU threads of greedy search's one-token
    steps (None: torch's).
    """
    check_lid_system(opts)
    opts = system_options(opts, system, torch.device(device))
    outs = decode_outputs(opts.scenario, out_dir, agnostic_out)
    both = len(outs) > 1
    settings = {
        part: resume_settings(d, settings_for(system, cuts_paths, opts, part if both else None))
        for part, d in outs.items()
    }
    if not overwrite and all(is_complete(d, settings[part]) for part, d in outs.items()):
        log.info("%s is already decoded with these settings", " and ".join(map(str, outs.values())))
        return json.loads((Path(out_dir) / SUMMARY_FILE).read_text())
    utts = utterances(load_cuts(cuts_paths, split=None))
    if opts.scenario != "agnostic":
        if any(u.lang is None for u in utts):
            raise LwasrError("the aware scenario needs a language on every supervision; use --scenario agnostic")
        system.check_languages(sorted({u.lang for u in utts}))
    warn_other_languages(system, utts)
    # its checks run before --out is created
    decoder = Decoder(system, opts, torch.device(device), lid_system, step_threads=step_threads)
    writers = {part: HypWriter(d, settings[part], overwrite=overwrite) for part, d in outs.items()}
    try:
        todo = [u for u in utts if any(u.id not in w.done for w in writers.values())]
        start = time.perf_counter()
        with torch.inference_mode():
            _decode_todo(decoder, utts, todo, writers, progress=progress)
        elapsed = time.perf_counter() - start
        summaries = {
            part: _summary(settings[part], todo, elapsed, len(w.records), str(device)) for part, w in writers.items()
        }
        for part, w in writers.items():
            w.finish(summaries[part])
    finally:
        for w in writers.values():
            w.close()
    return summaries["aware" if both else opts.scenario]


def _decode_todo(
    decoder: Decoder, utts: Sequence[Utt], todo: Sequence[Utt], writers: dict[str, HypWriter], *, progress: bool
) -> None:
    """Decode the utterances of ``todo`` into their ``writers`` (by scenario part), batch by batch.

    The batches are those of all ``utts`` that hold one of ``todo``, so that a resumed decode sees the batches
    (the padding, the language ID) of an uninterrupted one. Where the decoder regroups (hard group routing of
    experts), the agnostic decodes wait for a second pass over batches of one expert each
    (:mod:`lwasr.decoding.regroup`).
    """
    opts, system = decoder.opts, decoder.system
    regrouping = decoder.regroups
    left = {u.id for u in todo}
    by_language = opts.scenario != "agnostic" and system.routes_by_language and opts.routing == "group"
    batches = [b for b in make_batches(utts, opts, by_language=by_language) if any(u.id in left for u in b)]
    waiting: list[Routed] = []
    first = "language ID" if regrouping and opts.scenario == "agnostic" else "decode"
    with tqdm(total=len(todo), unit="utt", disable=not progress, desc=first) as bar:
        for batch in batches:
            records, routed = decoder.decode_batch(batch, regroup=regrouping)
            for part, recs in records.items():
                writers[part].append(r for r in recs if r["id"] not in writers[part].done)
            waiting += [r for r in routed if r.utt.id not in writers["agnostic"].done]
            bar.update(sum(u.id in left for u in batch))
    if not waiting:
        return
    with tqdm(total=len(waiting), unit="utt", disable=not progress, desc="decode per expert") as bar:
        for group in regroup(waiting, opts, system.adapter_for):
            writers["agnostic"].append(decoder.decode_routed(group))
            bar.update(len(group))


def _summary(settings: dict[str, Any], decoded: Sequence[Utt], elapsed: float, total: int, device: str) -> dict:
    audio = sum(u.duration for u in decoded)
    return {
        "utterances": total,
        "decoded_this_run": len(decoded),
        "audio_seconds": round(audio, 2),
        "decode_seconds": round(elapsed, 2),
        "utterances_per_second": round(len(decoded) / elapsed, 3) if elapsed else None,
        "real_time_factor": round(elapsed / audio, 4) if audio else None,
        "device": device,
        "torch_threads": torch.get_num_threads(),
        "settings": settings,
    }
