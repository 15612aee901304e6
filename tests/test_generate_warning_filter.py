"""The one transformers warning Whisper's own generate causes is dropped while lwasr's generate call runs, and only
then: importing lwasr installs no logging filter, and none is left after a decode."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from lhotse import CutSet, MonoCut, Recording, SupervisionSegment

GENERATION_LOG = "transformers.generation.utils"


def test_importing_the_decoder_installs_no_filter() -> None:
    """In a fresh interpreter: the decoding modules imported, transformers' generation logger has no filter."""
    code = (
        "import logging, lwasr.decoding.search, lwasr.transcribe.run, lwasr.cli;"
        f" print(len(logging.getLogger({GENERATION_LOG!r}).filters))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "0"


def test_beam_decode_drops_the_warning_and_leaves_no_filter(
    tiny_whisper: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from lwasr.decoding.search import DecodeOptions, decode_cuts
    from lwasr.decoding.systems import load_system

    wav = tmp_path / "a.wav"
    sf.write(wav, (0.1 * np.random.default_rng(0).standard_normal(8000)).astype(np.float32), 16000)
    rec = Recording.from_file(wav, recording_id="a")
    sup = SupervisionSegment("a", "a", 0.0, rec.duration, text="ref", language="pl")
    CutSet.from_cuts([MonoCut("a", 0.0, rec.duration, 0, recording=rec, supervisions=[sup])]).to_file(
        tmp_path / "cuts.jsonl.gz"
    )
    logger = logging.getLogger(GENERATION_LOG)
    before = list(logger.filters)
    with caplog.at_level(logging.WARNING, logger=GENERATION_LOG):
        opts = DecodeOptions(beam_size=2, max_new_tokens=4)  # beam search: transformers' generate
        decode_cuts(
            load_system(str(tiny_whisper)), [tmp_path / "cuts.jsonl.gz"], tmp_path / "out", opts, progress=False
        )
    assert (tmp_path / "out" / "summary.json").is_file()
    assert not [r for r in caplog.records if "Passing `generation_config` together" in r.getMessage()]
    assert logger.filters == before


@pytest.mark.parametrize(
    ("named", "dropped"),
    [("{'num_beams'}", True), ("{'suppress_tokens', 'begin_suppress_tokens'}", True), ("{'temperature'}", False)],
)
def test_the_filter_drops_only_the_arguments_lwasr_passes(named: str, dropped: bool) -> None:
    """Since decode passes ``num_beams`` beside the config (for peft), transformers names it alone; a warning that
    names an argument lwasr does not pass knowingly still shows."""
    from lwasr.decoding.decoder import _SuppressTokensWarning

    msg = f"Passing `generation_config` together with generation-related arguments=({named}) is deprecated."
    record = logging.LogRecord(GENERATION_LOG, logging.WARNING, __file__, 1, msg, None, None)
    assert _SuppressTokensWarning().filter(record) is not dropped
