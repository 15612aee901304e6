"""CTranslate2 import: a tiny WhisperSpec model.bin made from HF weights converts back exactly; bad input fails."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import ALIAS, build_tiny_whisper, embedded_asset, hf_state, make_ct2
from safetensors.torch import load_file
from transformers import GenerationConfig, WhisperConfig

from lwasr.errors import LwasrError
from lwasr.models.ct2 import ct2_to_hf, read_ct2, write_ct2

CAST = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16"])
def test_roundtrip_is_exact(dtype, tiny_whisper, tmp_path):
    from lwasr.models.ct2 import convert_ct2

    src = make_ct2(tiny_whisper, tmp_path / "ct2", dtype)
    dst = convert_ct2(src, tmp_path / "hf")
    ref, got = hf_state(tiny_whisper), hf_state(dst)
    assert set(ref) == set(got)
    for name, tensor in ref.items():
        expected = tensor.to(CAST[dtype]).float()
        assert got[name].dtype == torch.float32, name
        assert torch.equal(got[name], expected), name
    assert got["proj_out.weight"].data_ptr() == got["model.decoder.embed_tokens.weight"].data_ptr()

    want, have = WhisperConfig.from_pretrained(tiny_whisper), WhisperConfig.from_pretrained(dst)
    for key in ("vocab_size", "d_model", "num_mel_bins", "encoder_layers", "decoder_layers",
                "encoder_attention_heads", "decoder_attention_heads", "encoder_ffn_dim", "decoder_ffn_dim",
                "max_source_positions", "max_target_positions", "decoder_start_token_id", "eos_token_id"):  # fmt: skip
        assert getattr(have, key) == getattr(want, key), key
    gen = GenerationConfig.from_pretrained(dst)
    assert len(gen.lang_to_id) == 99 and gen.lang_to_id["<|pl|>"] == 50269
    assert len(gen.suppress_tokens) == 88 and gen.begin_suppress_tokens == [220, 50257]
    assert gen.alignment_heads[0] == [3, 1]


def test_128_mel_bins_and_keep_dtype(tmp_path):
    from lwasr.models.ct2 import convert_ct2

    hf = build_tiny_whisper(tmp_path / "tiny128", num_mel_bins=128, seed=1)
    dst = convert_ct2(make_ct2(hf, tmp_path / "ct2", "float16"), tmp_path / "hf", keep_dtype=True)
    assert WhisperConfig.from_pretrained(dst).num_mel_bins == 128
    weights = load_file(dst / "model.safetensors")
    assert {t.dtype for t in weights.values()} == {torch.float16}
    ref = hf_state(hf)
    assert all(torch.equal(weights[k], ref[k].half()) for k in weights)


def test_reader_and_writer_agree(tiny_ct2, tiny_whisper):
    ckpt = read_ct2(tiny_ct2 / "model.bin")
    assert (ckpt.spec, ckpt.revision, ckpt.aliases) == ("WhisperSpec", 3, ALIAS)
    assert int(ckpt.variables["encoder/num_heads"]) == 4
    assert ckpt.variables["encoder/layer_1/self_attention/linear_0/weight"].shape == (192, 64)
    assert not np.any(ckpt.variables["decoder/layer_0/attention/linear_1/bias"][:64])  # the zero key bias
    assert set(ct2_to_hf(ckpt.variables)) == set(hf_state(tiny_whisper)) - {"proj_out.weight"}


def test_real_checkpoint_header_is_understood():
    """The embedded checkpoint starts the way the writer writes: binary version 6, then the spec name."""
    raw = embedded_asset("model.bin.part1").read_bytes()[:64]
    assert raw[:4] == (6).to_bytes(4, "little") and raw[6:18] == b"WhisperSpec\0"


def test_cli_import(tiny_ct2, tmp_path):
    from typer.testing import CliRunner

    from lwasr.cli import app

    result = CliRunner().invoke(app, ["model", "import-ct2", str(tiny_ct2), str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "out" / "config.json").is_file()


# ------------------------------------------------------------------------------------------- errors


def convert_fails(src: Path, tmp_path: Path, match: str) -> None:
    from lwasr.models.ct2 import convert_ct2

    out_root = tmp_path / "out"
    out_root.mkdir()
    with pytest.raises(LwasrError, match=match):
        convert_ct2(src, out_root / "hf")
    assert list(out_root.iterdir()) == [], "a failed conversion left something behind"


def copy_dir(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def test_garbage_file(tiny_ct2, tmp_path):
    src = copy_dir(tiny_ct2, tmp_path / "src")
    (src / "model.bin").write_bytes(b"this is not a model, just some text\n" * 10)
    convert_fails(src, tmp_path, "not a CTranslate2 model.bin")


@pytest.mark.parametrize("keep", [3, 30, 100_000, -10])
def test_truncated_file(keep, tiny_ct2, tmp_path):
    src = copy_dir(tiny_ct2, tmp_path / "src")
    data = (src / "model.bin").read_bytes()
    (src / "model.bin").write_bytes(data[:keep])
    convert_fails(src, tmp_path, "truncated")


def test_wrong_spec(tiny_whisper, tmp_path):
    src = make_ct2(tiny_whisper, tmp_path / "src", spec="TransformerSpec")
    convert_fails(src, tmp_path, "'TransformerSpec' model; only WhisperSpec")


def test_int8_is_refused(tiny_ct2, tmp_path):
    ckpt = read_ct2(tiny_ct2 / "model.bin")
    variables = dict(ckpt.variables)
    w = variables["encoder/layer_0/ffn/linear_0/weight"]
    scale = np.abs(w).max(axis=1) / 127
    variables["encoder/layer_0/ffn/linear_0/weight"] = np.round(w / scale[:, None]).astype(np.int8)
    variables["encoder/layer_0/ffn/linear_0/weight_scale"] = scale.astype(np.float32)
    src = copy_dir(tiny_ct2, tmp_path / "src")
    write_ct2(src / "model.bin", variables, ckpt.aliases)
    convert_fails(src, tmp_path, "quantized.*int8.*--quantization float16")


@pytest.mark.parametrize("missing", ["tokenizer.json", "config.json", "model.bin"])
def test_missing_file(missing, tiny_ct2, tmp_path):
    src = copy_dir(tiny_ct2, tmp_path / "src")
    (src / missing).unlink()
    convert_fails(src, tmp_path, f"{missing} is missing")


def test_missing_tensor(tiny_ct2, tmp_path):
    ckpt = read_ct2(tiny_ct2 / "model.bin")
    variables = {k: v for k, v in ckpt.variables.items() if k != "decoder/layer_1/ffn/linear_1/bias"}
    src = copy_dir(tiny_ct2, tmp_path / "src")
    write_ct2(src / "model.bin", variables, ckpt.aliases)
    convert_fails(src, tmp_path, "lacks the tensor decoder/layer_1/ffn/linear_1/bias")
