"""`lwasr expand` on the tiny Whisper: warm start copies, MoE mixes exactly, base experts stay byte-identical."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from helpers import make_adapter, make_cuts, relabel
from safetensors.torch import load_file
from transformers import WhisperForConditionalGeneration

from lwasr.decoding.search import DecodeOptions, decode_cuts
from lwasr.decoding.systems import load_system
from lwasr.errors import LwasrError
from lwasr.expansion.expand import ExpandTrainer, expand, tree_hashes
from lwasr.expansion.moe import GATE_FILE, NEW, load_moe
from lwasr.expansion.similarity import SIMILARITY_FILE
from lwasr.models.trim import set_trimmed_input
from lwasr.training.checkpoint import trainable_state
from lwasr.units.meta import ModelMeta, base_fingerprint

SMALL = dict(max_steps=2, max_duration=2.5, num_buckets=2, warmup_steps=1, lr=1e-2, save_every=2, valid_every=2)
OPTS = DecodeOptions(max_new_tokens=1, batch_size=4)


@pytest.fixture(scope="module")
def exp(tmp_path_factory, tiny_whisper) -> dict[str, Path]:
    """exp/<tag>/ with experts pl, pt, the shared LoRA, a "full" model; manifests with pl, pt, it (and szl)."""
    root = tmp_path_factory.mktemp("expand")
    train = make_cuts(root / "data", langs=("pl", "pt", "it"), per_lang=3)
    dev = make_cuts(root / "dev", langs=("pl",), per_lang=2, name="cuts_dev")
    dev_it = make_cuts(root / "dev_it", langs=("it",), per_lang=2, name="cuts_dev")
    tag = root / "exp"
    for seed, lang in enumerate(("pl", "pt")):
        make_adapter(tiny_whisper, tag / "experts" / lang, seed, [lang])
    make_adapter(tiny_whisper, tag / "shared", 7, ["pl", "pt"])
    shutil.copytree(tiny_whisper, tag / "full")
    base = WhisperForConditionalGeneration.from_pretrained(tiny_whisper)
    ModelMeta("full", str(tiny_whisper), base_fingerprint(base), ["pl", "pt"]).save(tag / "full")
    szl = relabel(train, root / "data" / "cuts_szl.jsonl.gz", "it", "szl")
    dev_szl = relabel(dev_it, root / "dev_it" / "cuts_szl.jsonl.gz", "it", "szl")
    for lang, ranking in (("it", {"pt": 0.6, "pl": 0.2}), ("szl", {"pl": 0.7, "pt": 0.3})):
        rows = [{"lang": k, "prob": v} for k, v in ranking.items()]
        (root / f"sim_{lang}.json").write_text(json.dumps({"lang": lang, "ranking": rows}))
    return {
        "train": train,
        "dev": dev,
        "dev_it": dev_it,
        "szl": szl,
        "dev_szl": dev_szl,
        "sim_it": root / "sim_it.json",
        "sim_szl": root / "sim_szl.json",
        "experts": tag / "experts",
        "tag": tag,
    }


def _decode(system: str, cuts: Path, out: Path) -> list[dict]:
    decode_cuts(load_system(system), [cuts], out, OPTS, progress=False)
    return [json.loads(line) for line in (out / "hyp.jsonl").read_text().splitlines()]


def test_warm_start_copies_the_most_similar_expert_then_trains(exp, tmp_path, monkeypatch):
    before = tree_hashes([exp["experts"] / "pl", exp["experts"] / "pt"])
    ref = _decode(str(exp["experts"]), exp["dev"], tmp_path / "d0")
    seen: dict[str, torch.Tensor] = {}
    build = ExpandTrainer.build

    def spy(self, model):
        out = build(self, model)
        seen.update(trainable_state(out))
        return out

    monkeypatch.setattr(ExpandTrainer, "build", spy)
    unit = expand(
        experts=exp["experts"],
        new_lang="it",
        cuts=[exp["train"]],
        dev_cuts=[exp["dev_it"]],
        init="warm",
        overrides=SMALL,
    )
    assert unit == exp["tag"] / "expand_warm" / "it"
    sim = json.loads((unit.parent / "train_it" / SIMILARITY_FILE).read_text())
    assert sim["lang"] == "it" and sim["excluded"] == "it" and {r["lang"] for r in sim["ranking"]} == {"pl", "pt"}
    src = sim["ranking"][0]["lang"]
    meta = ModelMeta.load(unit)
    assert meta.kind == "lora" and meta.languages == ["it"] and meta.extra["prompt_lang"] == "it"
    assert meta.extra["expansion"]["source"] == str(exp["experts"] / src)
    source = load_file(exp["experts"] / src / "adapter_model.safetensors")
    initial = {k.replace(".default", ""): v for k, v in seen.items()}
    assert initial.keys() == source.keys() and all(torch.equal(initial[k], source[k]) for k in source)
    trained = load_file(unit / "adapter_model.safetensors")
    assert trained.keys() == source.keys() and any(not torch.equal(trained[k], source[k]) for k in source)
    assert tree_hashes([exp["experts"] / "pl", exp["experts"] / "pt"]) == before
    after = _decode(str(exp["experts"]), exp["dev"], tmp_path / "d1")
    assert len(ref) == 2 and ref == after  # base languages decode exactly as before


def _dense_reference(tiny: Path, unit: Path, experts: Path) -> WhisperForConditionalGeneration:
    """The base model with every adapted weight replaced by W + sum_j g_j * s_j * B_j @ A_j (gates as saved)."""
    meta = ModelMeta.load(unit)
    info = meta.extra["moe"]
    gates = load_file(unit / GATE_FILE) if info["gate"] == "learned" else None
    dense = WhisperForConditionalGeneration.from_pretrained(tiny)
    params = dict(dense.named_parameters())
    adapters = [(NEW, unit / NEW, 1.0)] + [(e["lang"], experts / e["lang"], e["weight"]) for e in info["experts"]]
    with torch.no_grad():
        for j, (_, path, weight) in enumerate(adapters):
            cfg = json.loads((path / "adapter_config.json").read_text())
            s = cfg["lora_alpha"] / cfg["r"]
            tensors = load_file(path / "adapter_model.safetensors")
            for key, A in tensors.items():
                if ".lora_A." not in key:
                    continue
                B = tensors[key.replace("lora_A", "lora_B")]
                module = key.removeprefix("base_model.model.").removesuffix(".lora_A.weight")
                g = gates[module].softmax(-1)[j].item() if gates is not None else weight
                params[module + ".weight"].add_(g * s * (B @ A))
    return dense.eval()


@pytest.mark.parametrize("gate", ["fixed", "learned"])
def test_moe_output_equals_the_dense_mixture(exp, tiny_whisper, gate):
    before = tree_hashes([exp["experts"] / "pl", exp["experts"] / "pt"])
    out = exp["tag"] / f"moe_{gate}" / "it"
    unit = expand(
        experts=exp["experts"],
        new_lang="it",
        cuts=[exp["train"]],
        init="moe",
        moe_gate=gate,
        similarity=exp["sim_it"],
        out=out,
        overrides=SMALL,
    )
    meta = ModelMeta.load(unit)
    info = meta.extra["moe"]
    assert meta.kind == "moe" and info["gate"] == gate and [e["lang"] for e in info["experts"]] == ["pt", "pl"]
    assert [e["weight"] for e in info["experts"]] == pytest.approx([0.75, 0.25])  # renormalised similarity
    assert (unit / GATE_FILE).is_file() == (gate == "learned")
    assert tree_hashes([exp["experts"] / "pl", exp["experts"] / "pt"]) == before
    new = load_file(unit / NEW / "adapter_model.safetensors")
    assert any(k.endswith("lora_B.weight") and v.abs().sum() > 0 for k, v in new.items())  # it trained
    if gate == "learned":
        logits = load_file(unit / GATE_FILE)
        assert any(not torch.allclose(v.softmax(-1)[0], torch.tensor(0.5)) for v in logits.values())

    model, mixture, _ = load_moe(unit)
    dense = _dense_reference(tiny_whisper, unit, exp["experts"])
    set_trimmed_input(model)
    set_trimmed_input(dense)
    torch.manual_seed(0)
    feats = torch.randn(2, 80, 200)
    ids = torch.tensor([[50258, 50274, 50359, 50363, 400, 401]] * 2)
    with torch.no_grad():
        # one linear layer by hand: y = W x + b + sum_j g_j s_j B_j A_j x
        name = "model.encoder.layers.0.fc1"
        layer = mixture.layers[name]
        x = torch.randn(3, layer.in_features)
        ref = torch.nn.functional.linear(x, dict(dense.named_parameters())[name + ".weight"], layer.base_layer.bias)
        assert torch.allclose(layer(x), ref, atol=1e-5)
        got = model(input_features=feats, decoder_input_ids=ids).logits
        want = dense(input_features=feats, decoder_input_ids=ids).logits
    assert torch.allclose(got, want, atol=1e-4), (got - want).abs().max()
    if gate == "learned":
        return
    system = load_system(str(unit))  # the registered moe loader: merged, decodes the new language only
    assert system.kind == "moe"
    set_trimmed_input(system.model)
    with torch.no_grad():
        merged = system.model(input_features=feats, decoder_input_ids=ids).logits
    assert torch.allclose(merged, want, atol=1e-4)
    with pytest.raises(LwasrError, match="does not decode pl"):
        system.check_languages(["pl"])


def test_language_outside_whisper_borrows_a_token_that_decode_uses(exp, tmp_path, monkeypatch):
    read, seen = ExpandTrainer.read_cuts, []

    def spy(self, paths):
        seen.append(read(self, paths))
        return seen[-1]

    monkeypatch.setattr(ExpandTrainer, "read_cuts", spy)
    unit = expand(
        experts=exp["experts"],
        new_lang="szl",
        cuts=[exp["szl"]],
        dev_cuts=[exp["dev_szl"]],
        init="random",
        similarity=exp["sim_szl"],
        overrides=SMALL,
    )
    meta = ModelMeta.load(unit)
    assert meta.languages == ["szl"] and meta.extra["prompt_lang"] == "pl"  # the most similar language's token
    sups = [c.supervisions[0] for cuts in seen for c in cuts]  # training, then dev: the szl cuts only, read as pl
    assert len(seen) == 2 and len(sups) == 5
    assert {s.language for s in sups} == {"pl"} and {s.custom["orig_language"] for s in sups} == {"szl"}
    assert not list((unit.parent / "train_szl").glob("*.jsonl*"))  # relabelled in memory: no manifest rewritten
    hyps = _decode(str(unit), exp["dev_szl"], tmp_path / "dec")
    assert {r["lang"] for r in hyps} == {"szl"} and len(hyps) == 2


@pytest.mark.parametrize("init", ["continue-full", "continue-shared"])
def test_forgetting_baselines_write_new_units(exp, init):
    over = {**SMALL, "lr": 1e-4} if init == "continue-full" else SMALL
    unit = expand(experts=exp["experts"], new_lang="it", cuts=[exp["train"]], init=init, overrides=over)
    meta = ModelMeta.load(unit)
    assert unit == exp["tag"] / f"expand_{init}" / "it"
    assert meta.kind == ("full" if init == "continue-full" else "lora") and meta.languages == ["it", "pl", "pt"]
    if init == "continue-shared":
        before = load_file(exp["tag"] / "shared" / "adapter_model.safetensors")
        after = load_file(unit / "adapter_model.safetensors")
        assert before.keys() == after.keys() and any(not torch.equal(before[k], after[k]) for k in before)


def test_bad_input_is_a_clear_error(exp, tmp_path, tiny_whisper):
    kw = dict(cuts=[exp["train"]], overrides=SMALL)
    with pytest.raises(LwasrError, match="already has an expert for 'pl'.*--overwrite"):
        expand(experts=exp["experts"], new_lang="pl", init="random", **kw)
    with pytest.raises(LwasrError, match="--moe-k 3 is larger than the number of base experts"):
        expand(experts=exp["experts"], new_lang="it", init="moe", moe_k=3, **kw)
    empty = tmp_path / "empty" / "experts"
    empty.mkdir(parents=True)
    with pytest.raises(LwasrError, match="no similar language can be found.*empty"):
        expand(experts=empty, new_lang="it", init="warm", model=str(tiny_whisper), **kw)
    with pytest.raises(LwasrError, match="base expert's directory"):
        expand(experts=exp["experts"], new_lang="it", init="random", out=exp["experts"] / "pt", **kw)
    with pytest.raises(LwasrError, match="not a language code"):
        expand(experts=exp["experts"], new_lang="Italian!", init="random", **kw)
