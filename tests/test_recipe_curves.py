"""egs/espeak8/local/curves.py: the dev curves of a recipe run's logs and of a study's kept, gzipped logs."""

from __future__ import annotations

import gzip
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "egs" / "espeak8" / "local" / "curves.py"

WER_LOG = """\
2026-12-07 09:10:00 INFO step 10 epoch 0 loss 1.2000 lr 1e-03 | 7.0 audio-s/s 3.00 utt/s
2026-12-07 09:11:40 INFO step 20 dev loss 0.4341 dev wer 24.1758 (best)
2026-12-07 09:12:00 INFO step 20 dev loss 0.4341 dev wer 24.1758 (best)
2026-12-07 09:16:02 INFO step 40 dev loss 0.3306 dev wer 8.7912 (best)
2026-12-07 09:17:00 INFO step 50 epoch 2 loss 0.0500 lr 1e-04 | 7.0 audio-s/s 3.00 utt/s
2026-12-07 09:20:13 INFO step 60 dev loss 0.2663 dev wer 14.2857
"""
LOSS_LOG = "x INFO step 5 dev loss 0.9000\nx INFO step 10 dev loss 0.7000\nx INFO step 15 dev loss 0.8000\n"


def test_curves_reads_kept_and_running_logs(tmp_path: Path) -> None:
    kept = tmp_path / "kept"
    kept.mkdir()
    (kept / "train_expert_pl.log.gz").write_bytes(gzip.compress(WER_LOG.encode()))
    exp = tmp_path / "exp"
    (exp / "train_shared").mkdir(parents=True)
    (exp / "train_shared" / "train.log").write_text(LOSS_LOG)
    out = subprocess.run(
        [sys.executable, str(SCRIPT), str(kept), str(exp)], capture_output=True, text=True, check=True
    ).stdout
    cells = [[c.strip() for c in line.strip("|").split("|")] for line in out.splitlines()[2:]]
    rows = {c[0]: c for c in cells}
    pl = rows["kept/expert_pl"]
    # the resume's repeated validation at step 20 counts once; best by WER (epoch 2), not by loss (epoch 3)
    assert pl[3:7] == ["0.434 / 0.331 / 0.266", "24.2 / 8.8 / 14.3", "2 of 3", "0.050"]
    shared = rows["exp/shared"]
    assert shared[3:6] == ["0.900 / 0.700 / 0.800", "-", "2 of 3"]  # no WER logged: best by loss
