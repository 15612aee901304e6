"""A decode whose manifest points at audio that is gone: one clear line, nothing lost, a rerun resumes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import OPTS, write_cuts

from lwasr.decoding.io import HYP_FILE, SUMMARY_FILE
from lwasr.decoding.search import decode_cuts
from lwasr.decoding.systems import load_system
from lwasr.errors import LwasrError


def test_missing_wav_is_one_line_and_the_decode_resumes_once_it_is_back(tiny_whisper: Path, tmp_path: Path) -> None:
    specs = [(f"pl_{i}", "pl", 0.4 + 0.1 * i) for i in range(6)]  # longest first, batches of 3: pl_5-3, pl_2-0
    cuts = write_cuts(tmp_path, specs)
    wav = tmp_path / "pl_1.wav"
    kept = wav.read_bytes()
    wav.unlink()
    out = tmp_path / "out"
    system = load_system(str(tiny_whisper))
    with pytest.raises(LwasrError, match=r"cannot read the audio of pl_1 \(.*pl_1\.wav\): .*run again; it resumes"):
        decode_cuts(system, [cuts], out, OPTS, progress=False)
    done = [json.loads(line)["id"] for line in (out / HYP_FILE).read_text().splitlines()]
    assert sorted(done) == ["pl_3", "pl_4", "pl_5"]  # the first batch is kept
    assert not (out / SUMMARY_FILE).exists()  # and the decode is not marked complete
    wav.write_bytes(kept)
    summary = decode_cuts(system, [cuts], out, OPTS, progress=False)
    ids = [json.loads(line)["id"] for line in (out / HYP_FILE).read_text().splitlines()]
    assert sorted(ids) == [s[0] for s in specs] and summary["utterances"] == 6
