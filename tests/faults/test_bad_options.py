"""Option values of the right type that the inputs cannot honour: one line (exit 2) before any work, never a
silent reinterpretation (a rank 0 read as the default, a top-k larger than the experts recorded as given)."""

from __future__ import annotations

import pytest
from helpers import fuse_args, one_line_error, run_main

from lwasr.decoding.options import DecodeOptions
from lwasr.decoding.search import decode_cuts
from lwasr.decoding.systems import load_system
from lwasr.errors import LwasrError


def test_fuse_svd_rank_0_is_refused_not_read_as_the_default(pl_pt_experts, tmp_path, monkeypatch, capsys):
    out = tmp_path / "fused"
    args = fuse_args(pl_pt_experts, out, "--langs", "pl,pt", "--method", "svd", "--rank", "0")
    status, err = run_main(monkeypatch, capsys, *args)
    assert status == 2
    assert one_line_error(err) == "error: --rank must be at least 1 (leave it out for the experts' rank), got 0"
    assert not out.exists()


def test_soft_top_k_above_the_experts_is_refused_before_any_write(experts, manifests, tmp_path):
    """`--soft-top-k 5` over 2 experts was accepted and recorded as 5 in settings.json, mixing 2."""
    out = tmp_path / "decode"
    opts = DecodeOptions(scenario="agnostic", soft_top_k=5, lid_langs=("pl", "pt"), max_new_tokens=6, batch_size=3)
    with pytest.raises(
        LwasrError, match=r"^--soft-top-k 5: language ID chooses among 2 experts \(pl, pt\); give at most 2$"
    ):
        decode_cuts(load_system(str(experts)), [manifests[1]], out, opts, progress=False)
    assert not out.exists()


def test_negative_step_threads_is_one_line_before_any_work(manifests, tmp_path, monkeypatch, capsys):
    out = tmp_path / "decode"
    args = ["decode", "--system", "embedded:whisper-base", "--cuts", str(manifests[1]), "--out", str(out)]
    status, err = run_main(monkeypatch, capsys, *args, "--step-threads", "-1")
    assert status == 2
    assert one_line_error(err) == "error: --step-threads must be 0 (as --num-threads) or more, not -1"
    assert not out.exists()
