"""`lwasr export` on the tiny Whisper: merged weights, CTranslate2 tokens, model cards, output rules, every kind."""

from __future__ import annotations

import json
from pathlib import Path

import ctranslate2
import numpy as np
import pytest
import torch
import yaml
from helpers import make_adapter, make_cuts, relabel
from peft import PeftModel
from transformers import WhisperFeatureExtractor, WhisperForConditionalGeneration, pipeline
from typer.testing import CliRunner

from lwasr.atomic import OUTPUT_MARKER
from lwasr.cli import app
from lwasr.data.cuts import load_cuts
from lwasr.decoding.batching import token_budget
from lwasr.decoding.io import HYP_FILE, read_hyps
from lwasr.decoding.search import DecodeOptions, decode_cuts
from lwasr.decoding.systems import load_system
from lwasr.errors import LwasrError
from lwasr.expansion.moe import NEW, expert_refs
from lwasr.export.ct2 import ct2_max_length
from lwasr.export.run import export
from lwasr.fusion.run import fuse
from lwasr.scoring.metrics import score_dir
from lwasr.units.base import quiet_peft_wrapping
from lwasr.units.experts import load_experts
from lwasr.units.meta import ModelMeta, base_fingerprint

runner = CliRunner()
FEATS = torch.randn(2, 80, 3000, generator=torch.Generator().manual_seed(0))
IDS = torch.tensor([[50258, 50269, 50359, 50363, 400, 401]] * 2)


@pytest.fixture(scope="module")
def exp(tmp_path_factory, tiny_whisper) -> dict[str, Path]:
    """exp/<tag>/ with experts pl, pt, a shared LoRA, a moe unit for szl (borrowing <|pl|>); manifests."""
    root = tmp_path_factory.mktemp("export")
    cuts = make_cuts(root / "data" / "manifests", langs=("pl", "pt"), per_lang=3, name="toy_all_test_cuts")
    it = make_cuts(root / "data" / "it", langs=("it",), per_lang=3, name="toy_it_test_cuts")
    tag = root / "exp"
    for seed, lang in enumerate(("pl", "pt")):
        make_adapter(tiny_whisper, tag / "experts" / lang, seed, [lang])
    make_adapter(tiny_whisper, tag / "shared", 7, ["pl", "pt"])
    moe = tag / "moe" / "szl"
    make_adapter(tiny_whisper, moe / NEW, 11, ["szl"])
    experts = load_experts(tag / "experts", ["pl", "pt"])
    base = WhisperForConditionalGeneration.from_pretrained(tiny_whisper)
    info = {"gate": "fixed", "k": 2, "new_adapter": NEW, "experts": expert_refs(experts, [0.7, 0.3], moe)}
    extra = {"prompt_lang": "pl", "expansion": {"init": "moe", "new_lang": "szl"}, "moe": info}
    ModelMeta("moe", str(tiny_whisper), base_fingerprint(base), ["szl"], extra=extra).save(moe)
    return {
        "cuts": cuts,
        "szl": relabel(it, root / "data" / "szl_cuts.jsonl.gz", "it", "szl"),
        "tag": tag,
        "experts": tag / "experts",
    }


def logits(model: torch.nn.Module) -> torch.Tensor:
    with torch.no_grad():
        return model(input_features=FEATS, decoder_input_ids=IDS).logits


def test_hf_export_of_a_lora_gives_the_logits_of_base_plus_adapter(exp, tiny_whisper, tmp_path):
    out = tmp_path / "shared_hf"
    lines = export(str(exp["tag"] / "shared"), out, "hf", progress=False)
    assert lines == [f"{out}: parity check skipped: no --cuts given (give --cuts MANIFEST to compare decodes)"]
    base = WhisperForConditionalGeneration.from_pretrained(tiny_whisper).eval()
    with quiet_peft_wrapping():
        with_adapter = PeftModel.from_pretrained(base, exp["tag"] / "shared").eval()
    want = logits(with_adapter)
    with with_adapter.disable_adapter():
        assert not torch.allclose(want, logits(with_adapter), atol=1e-3)  # the adapter changes the model
    exported = WhisperForConditionalGeneration.from_pretrained(out).eval()
    assert not any("lora" in name for name, _ in exported.named_parameters())
    assert torch.allclose(logits(exported), want, atol=1e-4), (logits(exported) - want).abs().max()
    gen, ref = exported.generation_config, WhisperForConditionalGeneration.from_pretrained(tiny_whisper)
    assert gen.lang_to_id == ref.generation_config.lang_to_id and gen.suppress_tokens
    assert gen.alignment_heads == ref.generation_config.alignment_heads
    assert gen.begin_suppress_tokens == ref.generation_config.begin_suppress_tokens
    meta = ModelMeta.load(out)
    assert meta.kind == "full" and meta.languages == ["pl", "pt"] and meta.extra["export"]["format"] == "hf"
    asr = pipeline("automatic-speech-recognition", model=str(out), device="cpu")
    text = asr(np.zeros(16000, dtype=np.float32), generate_kwargs={"language": "pl", "max_new_tokens": 3})["text"]
    assert isinstance(text, str)
    assert json.loads((out / "parity.json").read_text())["skipped"].startswith("no --cuts")


def test_ct2_export_gives_the_greedy_tokens_of_lwasr_on_untrimmed_input(exp, tmp_path):
    out = tmp_path / "pl_ct2"
    export(str(exp["experts"]), out, "ct2", lang="pl", quantization="float32", cuts=[exp["cuts"]], progress=False)
    assert {"model.bin", "config.json", "tokenizer.json", "preprocessor_config.json", "README.md"} <= {
        p.name for p in out.iterdir()
    }
    parity = json.loads((out / "parity.json").read_text())
    assert parity["cuts"] == 3 and parity["token_identity"] == 100.0 and list(parity["error_rates"]) == ["pl"]
    row = parity["error_rates"]["pl"]
    assert row["difference"] == 0.0 and "padding_cost" in row and "pads every clip to 30 s" in parity["trimmed_input"]

    # independently: lwasr decode (one cut per batch, untrimmed) against ctranslate2 fed by the exported files
    opts = DecodeOptions(trim=False, batch_size=1)
    decode_cuts(load_system(str(exp["experts"])), [exp["cuts"]], tmp_path / "dec", opts, progress=False)
    lwasr_hyps = {r["id"]: r["hyp"] for r in read_hyps(tmp_path / "dec" / HYP_FILE) if r["lang"] == "pl"}
    model = ctranslate2.models.Whisper(str(out), device="cpu")
    features = WhisperFeatureExtractor.from_pretrained(out)
    system = load_system(str(exp["tag"] / "shared"))  # for the tokenizer only
    prompt = [50258, system.tokenizer.convert_tokens_to_ids("<|pl|>"), 50359, 50363]
    for cut in load_cuts([exp["cuts"]], split=None):
        if cut.supervisions[0].language != "pl":
            continue
        feats = features(cut.load_audio()[0], sampling_rate=16000, return_tensors="np").input_features
        budget = token_budget(cut.duration, opts)
        res = model.generate(ctranslate2.StorageView.from_array(feats), [prompt], beam_size=1,
                             max_length=ct2_max_length(budget, len(prompt)))  # fmt: skip
        tokens = res[0].sequences_ids[0]
        assert len(tokens) > 3
        assert system.tokenizer.decode(tokens, skip_special_tokens=True).strip() == lwasr_hyps[cut.id]


def test_ct2_export_loads_in_faster_whisper(exp, tmp_path):
    import faster_whisper  # the dev extra

    out = tmp_path / "pt_ct2"
    export(str(exp["experts"]), out, "ct2", lang="pt", quantization="int8", progress=False)
    model = faster_whisper.WhisperModel(str(out), device="cpu", compute_type="int8")
    cut = next(iter(load_cuts([exp["cuts"]], split=None)))
    segments, info = model.transcribe(
        cut.load_audio()[0], language="pt", beam_size=1, temperature=0.0, without_timestamps=True, max_new_tokens=4
    )
    assert info.language == "pt" and isinstance([s.text for s in segments], list)


def test_model_card_names_base_languages_lora_data_and_results(exp, tiny_whisper, tmp_path):
    run = exp["tag"] / "train_expert_pl"  # what `lwasr train` leaves: config.yaml naming the manifests
    run.mkdir(exist_ok=True)
    (run / "config.yaml").write_text(yaml.safe_dump({"cuts": [str(exp["cuts"])]}))
    report = exp["cuts"].with_name("toy_all_test_report.json")  # the prepare sidecar of that manifest
    report.write_text(json.dumps({"lang": "pl", "seconds": 5400.0}))
    dec = exp["tag"] / "decode_experts_aware_test"
    decode_cuts(load_system(str(exp["experts"])), [exp["cuts"]], dec, DecodeOptions(max_new_tokens=2),
                progress=False)  # fmt: skip
    scored = score_dir(dec)
    out = tmp_path / "pl_hf"
    export(str(exp["experts"]), out, "hf", lang="pl", progress=False)
    card = (out / "README.md").read_text()
    head = yaml.safe_load(card.split("---\n")[1])
    assert head["license"] == "other" and head["language"] == ["pl"] and head["library_name"] == "transformers"
    assert f"`{tiny_whisper}`" in card  # the base model
    assert "| languages | pl |" in card and "rank 4, alpha 8" in card and "q_proj" in card
    assert "| training data | pl 1.50 h |" in card
    assert f"| decode_experts_aware_test | aware | pl | WER | {scored['languages']['pl']['rate']} |" in card
    assert "| decode_experts_aware_test | aware | pt |" not in card  # the pt expert's result is not this model's
    assert "lwasr 0.1.0" in card and 'pipeline("automatic-speech-recognition"' in card


def test_export_over_a_foreign_directory_is_refused_and_nothing_is_lost(exp, tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    with pytest.raises(LwasrError, match="notes.txt.*not an earlier output of `lwasr export`"):
        export(str(exp["tag"] / "shared"), out, "hf", overwrite=True, progress=False)
    assert [p.name for p in out.iterdir()] == ["notes.txt"] and (out / "notes.txt").read_text() == "keep me"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary left behind
    with pytest.raises(LwasrError, match="--quantization is for --format ct2"):
        export(str(exp["tag"] / "shared"), tmp_path / "x", "hf", quantization="int8", progress=False)
    with pytest.raises(LwasrError, match="--lang is for an experts directory"):
        export(str(exp["tag"] / "shared"), tmp_path / "x", "hf", lang="pl", progress=False)
    with pytest.raises(LwasrError, match="no expert for 'it'.*pl, pt"):
        export(str(exp["experts"]), tmp_path / "x", "hf", lang="it", progress=False)
    with pytest.raises(LwasrError, match="no cut of pl, pt .*--parity-cuts 0"):
        export(str(exp["tag"] / "shared"), tmp_path / "x", "hf", cuts=[exp["szl"]], progress=False)
    assert not (tmp_path / "x").exists()


def test_an_earlier_export_is_kept_or_replaced_with_overwrite(exp, tmp_path):
    out = tmp_path / "shared_hf"
    export(str(exp["tag"] / "shared"), out, "hf", progress=False)
    stamp = (out / "README.md").stat().st_mtime_ns
    assert "earlier export; kept" in export(str(exp["tag"] / "shared"), out, "hf", progress=False)[0]
    assert (out / "README.md").stat().st_mtime_ns == stamp
    export(str(exp["tag"] / "shared"), out, "ct2", overwrite=True, progress=False)
    assert (out / "model.bin").is_file() and not (out / "model.safetensors").exists()


def test_experts_dir_without_lang_gives_one_model_per_language(exp, tmp_path):
    out = tmp_path / "all"
    lines = export(str(exp["experts"]), out, "hf", cuts=[exp["cuts"]], parity_cuts_per_lang=2, progress=False)
    assert sorted(p.name for p in out.iterdir()) == [OUTPUT_MARKER, "pl", "pt"]
    assert len(lines) == 2 and all("100.0% token-identical" in line for line in lines)
    for lang in ("pl", "pt"):
        parity = json.loads((out / lang / "parity.json").read_text())
        assert parity["cuts"] == 2 and list(parity["error_rates"]) == [lang] and parity["token_identity"] == 100.0
        assert ModelMeta.load(out / lang).languages == [lang]
    pl, pt = (WhisperForConditionalGeneration.from_pretrained(out / lang).eval() for lang in ("pl", "pt"))
    assert not torch.allclose(logits(pl), logits(pt), atol=1e-3)  # each carries its own expert


def test_a_moe_unit_exports_merged_with_its_borrowed_prompt(exp, tmp_path):
    out = tmp_path / "szl_hf"
    export(str(exp["tag"] / "moe" / "szl"), out, "hf", cuts=[exp["szl"]], progress=False)
    exported = WhisperForConditionalGeneration.from_pretrained(out).eval()
    gen = exported.generation_config
    assert gen.lang_to_id["szl"] == gen.lang_to_id["<|pl|>"]  # decoded as lwasr decodes it: with <|pl|>
    system = load_system(str(exp["tag"] / "moe" / "szl"))
    assert torch.allclose(logits(exported), logits(system.model), atol=1e-4)
    parity = json.loads((out / "parity.json").read_text())
    assert list(parity["error_rates"]) == ["szl"] and parity["token_identity"] == 100.0
    assert "`<|pl|>` (borrowed by szl)" in (out / "README.md").read_text()
    assert "gate fixed" in (out / "README.md").read_text()
    decode_cuts(load_system(str(out)), [exp["szl"]], tmp_path / "dec", DecodeOptions(max_new_tokens=2), progress=False)
    assert [r["lang"] for r in read_hyps(tmp_path / "dec" / HYP_FILE)] == ["szl"] * 3  # lwasr decodes the export


@pytest.mark.parametrize("kind", ["base", "full", "fused"])
def test_every_kind_exports_the_model_lwasr_decodes_with(exp, tiny_whisper, tmp_path, kind):
    if kind == "base":
        spec = str(tiny_whisper)
    elif kind == "full":  # a full fine-tune: a whole model with lwasr.json kind full
        spec = str(tmp_path / "full")
        model = WhisperForConditionalGeneration.from_pretrained(tiny_whisper)
        with torch.no_grad():
            model.model.decoder.layers[0].fc1.weight.add_(0.5)
        model.save_pretrained(spec)
        ModelMeta("full", str(tiny_whisper), base_fingerprint(model), ["pt"]).save(spec)
    else:  # a fused adapter: kind lora with extra.fusion
        spec = str(fuse(exp["experts"], ["pl", "pt"], "sum", tmp_path / "fused"))
    out = tmp_path / f"{kind}_hf"
    export(spec, out, "hf", cuts=[exp["cuts"]], parity_cuts_per_lang=1, progress=False)
    want = logits(load_system(spec).model)
    assert torch.allclose(logits(WhisperForConditionalGeneration.from_pretrained(out).eval()), want, atol=1e-4)
    parity = json.loads((out / "parity.json").read_text())
    assert parity["token_identity"] == 100.0 and parity["cuts"] == (2 if kind != "full" else 1)
    assert ("trimmed_input" in parity) == (kind != "base")  # a base model is decoded untrimmed
    assert (out / "README.md").read_text().startswith("---\nlicense:")


def test_cli_help_and_errors(exp, tmp_path):
    result = runner.invoke(app, ["export", "--help"], env={"COLUMNS": "300"})
    assert result.exit_code == 0 and "lwasr export exp/t/experts --lang pl --format ct2" in result.output
    assert "--parity-cuts" in result.output and "int8_float16" in result.output
    result = runner.invoke(app, ["export", str(exp["tag"] / "shared"), "--out", str(tmp_path / "o"), "--format", "x"])
    assert result.exit_code == 2
    args = ["export", str(exp["tag"] / "shared"), "--out", str(tmp_path / "o"), "--parity-cuts=-1"]
    result = runner.invoke(app, args)
    assert isinstance(result.exception, LwasrError) and "--parity-cuts" in str(result.exception)
    args = ["export", str(exp["tag"] / "shared"), "--out", str(tmp_path / "o"), "--format", "ct2"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "parity check skipped" in result.output and (tmp_path / "o" / "model.bin").is_file()
