"""`lwasr model import-adapter`: a PEFT LoRA adapter made as the Hugging Face blog recipe makes it (no lwasr.json)
becomes an expert unit that decodes as the adapter attached by hand, joins an experts dir, warm-starts and exports."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from helpers import OPTS, hyps_by_id, make_cuts, run_main, small
from peft import PeftModel
from safetensors.torch import load_file
from transformers import WhisperForConditionalGeneration, WhisperTokenizerFast

from lwasr.atomic import OUTPUT_MARKER
from lwasr.decoding.search import decode_cuts
from lwasr.decoding.systems import System, load_system
from lwasr.export.run import export
from lwasr.training import loop
from lwasr.units.base import quiet_peft_wrapping
from lwasr.units.import_adapter import import_adapter
from lwasr.units.meta import LoraShape, ModelMeta, base_fingerprint, lora_shape

FEATS = torch.randn(2, 80, 3000, generator=torch.Generator().manual_seed(0))
IDS = torch.tensor([[50258, 50269, 50359, 50363, 400, 401]] * 2)


@pytest.fixture(scope="module")
def unit(blog_adapter: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return import_adapter(blog_adapter, tmp_path_factory.mktemp("imported") / "it", "it")


def by_hand(tiny_whisper: Path, adapter: Path) -> PeftModel:
    base = WhisperForConditionalGeneration.from_pretrained(tiny_whisper).eval()
    with quiet_peft_wrapping():
        return PeftModel.from_pretrained(base, adapter).eval()


def logits(model: torch.nn.Module) -> torch.Tensor:
    with torch.no_grad():
        return model(input_features=FEATS, decoder_input_ids=IDS).logits


def test_the_unit_is_an_expert_of_the_adapters_base_and_shape(unit, blog_adapter, tiny_whisper):
    meta = ModelMeta.load(unit)
    base = WhisperForConditionalGeneration.from_pretrained(tiny_whisper)
    assert (meta.kind, meta.languages, meta.base_model) == ("lora", ["it"], str(tiny_whisper))
    assert meta.base_fingerprint == base_fingerprint(base)
    assert (meta.lang_token, meta.trim_encoder_input) == (True, False)  # the blog recipe pads to 30 s
    assert lora_shape(unit) == LoraShape(4, 8, ("q_proj", "v_proj"), 0.05)
    assert meta.extra["imported_from"] == str(blog_adapter.resolve())
    for name in ("adapter_config.json", "adapter_model.safetensors"):
        assert (unit / name).read_bytes() == (blog_adapter / name).read_bytes()
    assert json.loads((unit / OUTPUT_MARKER).read_text())["producer"] == "lwasr model import-adapter"


def test_the_unit_decodes_as_the_adapter_attached_by_hand(unit, blog_adapter, tiny_whisper, tmp_path):
    system = load_system(str(unit))
    hand = by_hand(tiny_whisper, blog_adapter)
    want = logits(hand)
    with hand.disable_adapter():
        assert not torch.allclose(want, logits(hand), atol=1e-3)  # the adapter changes the model
    assert torch.allclose(logits(system.model), want, atol=1e-5), (logits(system.model) - want).abs().max()

    cuts = make_cuts(tmp_path / "data", langs=("it",), per_lang=3, name="it_cuts")
    tok = WhisperTokenizerFast.from_pretrained(tiny_whisper)
    decode_cuts(system, [cuts], tmp_path / "unit", OPTS, progress=False)
    decode_cuts(System(hand, tok, source=str(blog_adapter)), [cuts], tmp_path / "hand", OPTS, progress=False)
    got, expected = hyps_by_id(tmp_path / "unit"), hyps_by_id(tmp_path / "hand")
    assert all(r["hyp"] for r in got.values())
    assert len(got) == 3 and {k: r["hyp"] for k, r in got.items()} == {k: r["hyp"] for k, r in expected.items()}


def test_the_unit_joins_an_experts_dir_and_decodes(monkeypatch, capsys, blog_adapter, experts, tmp_path):
    joined = tmp_path / "exp" / "experts"
    shutil.copytree(experts, joined)
    args = ["model", "import-adapter", str(blog_adapter), str(joined / "it"), "--lang", "it"]
    code, _ = run_main(monkeypatch, capsys, *args, "--trim-encoder-input")  # as the fixture's experts were trained
    assert code == 0 and ModelMeta.load(joined / "it").trim_encoder_input
    cuts = make_cuts(tmp_path / "data", langs=("pl", "pt", "it"), per_lang=1, name="all_cuts")
    decode = ["decode", "--system", str(joined), "--cuts", str(cuts), "--out", str(tmp_path / "decode")]
    code, err = run_main(monkeypatch, capsys, *decode)
    assert code == 0, err
    hyps = hyps_by_id(tmp_path / "decode")
    assert sorted(r["lang"] for r in hyps.values()) == ["it", "pl", "pt"]


def test_the_unit_warm_starts_training(unit, tiny_whisper, manifests, tmp_path):
    cfg = small(tmp_path, tiny_whisper, manifests, init_adapter=str(unit), lora_rank=8, lora_alpha=16, max_steps=1)
    trained = loop.train(cfg)
    meta = ModelMeta.load(trained)
    assert meta.extra["init_adapter"] == str(unit) and meta.extra["steps"] == 1
    shape = lora_shape(trained)
    assert (shape.rank, shape.alpha, shape.target_modules) == (4, 8, ("q_proj", "v_proj"))  # not the settings' 8, 16
    start, end = load_file(unit / "adapter_model.safetensors"), load_file(trained / "adapter_model.safetensors")
    assert set(start) == set(end) and any(not torch.equal(start[k], end[k]) for k in start)


def test_the_unit_exports_as_base_plus_adapter(unit, blog_adapter, tiny_whisper, tmp_path):
    out = tmp_path / "hf"
    export(str(unit), out, "hf", progress=False)
    exported = WhisperForConditionalGeneration.from_pretrained(out).eval()
    want = logits(by_hand(tiny_whisper, blog_adapter))
    assert torch.allclose(logits(exported), want, atol=1e-4), (logits(exported) - want).abs().max()
    assert ModelMeta.load(out).languages == ["it"]


def test_model_overrides_the_recorded_base_and_an_earlier_import_is_kept(blog_adapter, tiny_whisper, tmp_path):
    moved = shutil.copytree(tiny_whisper, tmp_path / "moved-base")
    src = shutil.copytree(blog_adapter, tmp_path / "adapter")
    config = json.loads((src / "adapter_config.json").read_text())
    (src / "adapter_config.json").write_text(json.dumps({**config, "base_model_name_or_path": "/nowhere/whisper"}))
    dst = import_adapter(src, tmp_path / "it", "it", model=str(moved))
    assert ModelMeta.load(dst).base_model == str(moved)
    before = (dst / "lwasr.json").stat().st_mtime_ns
    assert import_adapter(src, dst, "it", model=str(moved)) == dst  # the same settings: kept
    assert (dst / "lwasr.json").stat().st_mtime_ns == before
