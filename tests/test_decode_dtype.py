"""`lwasr decode --dtype`: bfloat16 and dynamic int8 on the tiny Whisper; what int8 refuses."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from helpers import make_expert, write_cuts
from torch import nn

from lwasr.decoding.io import SETTINGS_FILE, read_hyps
from lwasr.decoding.precision import apply_precision
from lwasr.decoding.search import DecodeOptions, decode_cuts
from lwasr.decoding.systems import load_experts, load_system
from lwasr.errors import LwasrError

SPECS = [(f"u{i}", "pl", 1.0 + 0.4 * i) for i in range(6)]


def decode(model: Path, cuts: Path, out: Path, dtype: str) -> list[dict]:
    opts = DecodeOptions(max_new_tokens=6, batch_size=3, dtype=dtype)
    decode_cuts(load_system(str(model)), [cuts], out, opts, progress=False)
    assert json.loads((out / SETTINGS_FILE).read_text())["dtype"] == dtype  # a resume must match it
    return read_hyps(out)


def test_int8_and_bfloat16_decode_close_to_float32(tmp_path: Path, tiny_whisper: Path) -> None:
    cuts = write_cuts(tmp_path, SPECS)
    ref = {h["id"]: h["hyp"] for h in decode(tiny_whisper, cuts, tmp_path / "f32", "float32")}
    for dtype in ("int8", "bfloat16"):
        hyps = decode(tiny_whisper, cuts, tmp_path / dtype, dtype)
        assert sorted(h["id"] for h in hyps) == sorted(ref)
        same = sum(h["hyp"] == ref[h["id"]] for h in hyps)
        # a random tiny model has near-uniform logits, so a few argmax flips are expected; most must agree
        assert same >= len(ref) // 2, (dtype, same)


def test_int8_quantizes_every_linear_layer_and_keeps_the_logits(tiny_whisper: Path) -> None:
    system = load_system(str(tiny_whisper))
    feats = torch.randn(2, 80, 3000)
    ids = torch.tensor([[50258, 50259, 50359, 50363]] * 2)
    with torch.no_grad():
        want = system.model(input_features=feats, decoder_input_ids=ids).logits
        assert apply_precision(system.model, "int8", torch.device("cpu"), routes_by_language=False) == torch.float32
        got = system.model(input_features=feats, decoder_input_ids=ids).logits
    assert not any(type(m) is nn.Linear for m in system.model.modules())
    quantized = [m for m in system.model.modules() if type(m).__name__ == "Linear" and type(m) is not nn.Linear]
    assert quantized and all("quantized" in type(m).__module__ for m in quantized)
    err = (got - want).abs().max() / want.std()
    assert err < 0.2, f"int8 logits deviate by {err:.3f} standard deviations"


def test_int8_refuses_experts_and_gpus(tmp_path: Path, tiny_whisper: Path) -> None:
    experts = tmp_path / "experts"
    make_expert(tiny_whisper, experts / "pl", 1, "pl")
    system = load_experts(experts)
    with pytest.raises(LwasrError, match="cannot switch language experts"):
        apply_precision(system.model, "int8", torch.device("cpu"), routes_by_language=system.routes_by_language)
    with pytest.raises(LwasrError, match="dynamic quantization for CPU, not cuda"):
        apply_precision(nn.Linear(2, 2), "int8", torch.device("cuda"), routes_by_language=False)
    with pytest.raises(LwasrError, match="unknown --dtype 'fp16'"):
        DecodeOptions(dtype="fp16")


@pytest.mark.parametrize("native", [True, False])
def test_auto_decodes_fine_tuned_systems_in_bf16_where_native_and_base_models_in_float32(
    tmp_path: Path, tiny_whisper: Path, monkeypatch: pytest.MonkeyPatch, native: bool
) -> None:
    monkeypatch.setattr("lwasr.decoding.precision.device_has_bf16", lambda device: native)
    cuts = write_cuts(tmp_path, SPECS[:2])
    expert = make_expert(tiny_whisper, tmp_path / "experts" / "pl", 1, "pl")
    for system, want in ((expert.parent, "bfloat16" if native else "float32"), (tiny_whisper, "float32")):
        out = tmp_path / f"auto_{system.name}"
        opts = DecodeOptions(max_new_tokens=4, batch_size=3, dtype="auto")
        first = decode_cuts(load_system(str(system)), [cuts], out, opts, progress=False)
        assert json.loads((out / SETTINGS_FILE).read_text())["dtype"] == want  # the dtype it chose
        again = DecodeOptions(max_new_tokens=4, batch_size=3, dtype=want)
        assert decode_cuts(load_system(str(system)), [cuts], out, again, progress=False) == first  # the same decode
