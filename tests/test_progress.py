"""Progress bars: redrawn in a terminal, whole lines at intervals in a log (issue 28.4: stage logs were full of
carriage-return frames)."""

from __future__ import annotations

import io

from lwasr import progress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def run_bar(stream: io.StringIO, n: int = 50) -> str:
    for _ in progress.tqdm(range(n), file=stream, desc="decode", mininterval=0, miniters=1):
        pass
    return stream.getvalue()


def test_a_log_gets_whole_lines_the_first_and_last_state_without_frames(monkeypatch):
    monkeypatch.setattr(progress, "LOG_EVERY_S", 3600.0)
    out = run_bar(io.StringIO())
    assert "\r" not in out
    lines = out.splitlines()
    assert len(lines) == 2 and lines[0].startswith("decode:   0%") and lines[-1].startswith("decode: 100%")
    assert "50/50" in lines[-1]


def test_a_log_gets_a_line_per_interval_when_every_is_short(monkeypatch):
    monkeypatch.setattr(progress, "LOG_EVERY_S", 0.0)
    lines = run_bar(io.StringIO(), n=5).splitlines()
    shown = sorted({line.split("|")[0].strip() for line in lines})
    assert shown == [f"decode: {p:3d}%" for p in (0, 20, 40, 60, 80, 100)]


def test_a_terminal_keeps_tqdms_bar_redrawn_in_place():
    out = run_bar(Terminal())
    assert out.count("\r") > 10


def test_a_bar_that_does_not_stay_writes_no_empty_line():
    stream = io.StringIO()
    for _ in progress.tqdm(range(3), file=stream, leave=False):
        pass
    assert all(line.strip() for line in stream.getvalue().splitlines())
