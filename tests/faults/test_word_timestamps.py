"""`lwasr transcribe --word-timestamps` options that cannot work: one line each, nothing created."""

from __future__ import annotations

import pytest
from helpers import one_line_error, run_main, write_wav


@pytest.mark.parametrize(
    ("extra", "named"),
    [
        (["--max-cue-seconds", "0"], "--max-cue-seconds > 0"),
        (["--max-line-chars", "0"], "--max-line-chars > 0"),
        (["--split-pause-seconds", "-1"], "--split-pause-seconds >= 0"),
        (["--route-per", "chunk", "--lid-langs", "pl,pt", "--soft-top-k", "2"], "--soft-top-k mixes several"),
    ],
)
def test_impossible_word_timestamp_options_are_one_line_and_create_nothing(
    tiny_whisper, tmp_path, monkeypatch, capsys, extra, named
):
    write_wav(tmp_path / "a.wav")
    out = tmp_path / "out"
    args = ["transcribe", str(tmp_path / "a.wav"), "--system", str(tiny_whisper), "--out", str(out)]
    status, err = run_main(monkeypatch, capsys, *args, "--word-timestamps", *extra)
    assert status == 2 and named in one_line_error(err)
    assert not out.exists()
