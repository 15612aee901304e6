"""Option values of the right type that the inputs cannot honour: one line (exit 2) before any work, never a
silent reinterpretation (a rank 0 read as the default, a top-k larger than the experts recorded as given)."""

from __future__ import annotations

from helpers import fuse_args, one_line_error, run_main


def test_fuse_svd_rank_0_is_refused_not_read_as_the_default(pl_pt_experts, tmp_path, monkeypatch, capsys):
    out = tmp_path / "fused"
    args = fuse_args(pl_pt_experts, out, "--langs", "pl,pt", "--method", "svd", "--rank", "0")
    status, err = run_main(monkeypatch, capsys, *args)
    assert status == 2
    assert one_line_error(err) == "error: --rank must be at least 1 (leave it out for the experts' rank), got 0"
    assert not out.exists()
