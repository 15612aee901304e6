"""The learned router (lwasr/routing): learns a toy separable problem, round-trips as a unit, routes the agnostic
decode deterministically; soft routing with one-hot weights equals hard routing; --lid-system."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from helpers import ROUTER_CONFIG as CONFIG
from helpers import hyps_by_id, same_records
from lhotse import CutSet
from typer.testing import CliRunner

from lwasr.cli import app
from lwasr.decoding.greedy import WhisperParts
from lwasr.decoding.search import DecodeOptions, decode_cuts
from lwasr.decoding.systems import load_system
from lwasr.errors import LwasrError
from lwasr.models.trim import set_trimmed_input
from lwasr.routing.config import RouterConfig
from lwasr.routing.model import WEIGHTS_FILE, load_router
from lwasr.routing.system import RouterSystem
from lwasr.routing.train import LOG_FILE, evaluate_router, train_router
from lwasr.units.meta import META_FILE
from lwasr.units.mixture import AdapterMixture, mixed_adapters

LANGS = ("pl", "pt")
AGNOSTIC = DecodeOptions(scenario="agnostic", max_new_tokens=4, batch_size=3)


@pytest.fixture
def exp(router_exp: dict[str, Path]) -> dict[str, Path]:
    """The session's experts, tone manifests and router (conftest.py::router_exp)."""
    return router_exp


def test_router_learns_a_separable_problem(exp: dict[str, Path]) -> None:
    meta, _ = load_router(exp["router"])
    info = meta.extra["router"]
    assert meta.kind == "router" and meta.languages == list(LANGS) and meta.trim_encoder_input  # as the experts
    assert set(info["dev_accuracy"]) == {"trimmed", "30s"}
    trimmed = info["dev_accuracy"]["trimmed"]
    assert trimmed["utterances"] == 8 and trimmed["router"] >= 0.875  # chance is 0.5
    assert set(trimmed) >= {"base", "base_over_experts", "per_language"}
    assert info["train_utterances"] == {"pl": 12, "pt": 12} and info["experts"]["relpath"] == "../experts"
    steps = [json.loads(line) for line in (exp["router"] / LOG_FILE).read_text().splitlines()]
    assert len(steps) == CONFIG.steps and steps[-1]["train_loss"] < steps[0]["train_loss"]
    assert (exp["router"] / WEIGHTS_FILE).is_file() and not list(exp["router"].glob("*.bin"))  # no pickle
    again = evaluate_router(exp["router"], [exp["dev"]], CONFIG, progress=False)
    assert again["trimmed"]["router"] == trimmed["router"]  # the same features: the same choices


def test_unit_round_trips_and_refuses_another_base(exp: dict[str, Path], tmp_path: Path) -> None:
    _, head = load_router(exp["router"])
    _, head2 = load_router(exp["router"])
    for (k, a), (_, b) in zip(head.state_dict().items(), head2.state_dict().items(), strict=True):
        assert torch.equal(a, b), k
    system = load_system(str(exp["router"]))
    assert isinstance(system, RouterSystem) and system.languages == LANGS
    assert system.describe()["kind"] == "router" and system.describe()["router_trained_on"] == "trimmed"
    moved = tmp_path / "moved"
    shutil.copytree(exp["router"], moved)  # the relative path breaks, the absolute one still finds the experts
    assert load_system(str(moved)).languages == LANGS
    meta = json.loads((moved / META_FILE).read_text())
    meta["base_fingerprint"] = "0123456789abcdef"
    (moved / META_FILE).write_text(json.dumps(meta))
    with pytest.raises(LwasrError, match="fingerprint 0123456789abcdef"):
        load_system(str(moved))
    with pytest.raises(LwasrError, match="not a router"):
        load_router(exp["experts"] / "pl")
    (moved / WEIGHTS_FILE).write_bytes(b"damaged")
    with pytest.raises(LwasrError, match="cannot be loaded"):
        load_router(moved)


def test_router_routing_is_deterministic(exp: dict[str, Path], tmp_path: Path) -> None:
    system = load_system(str(exp["router"]))
    first, second = tmp_path / "a", tmp_path / "b"
    decode_cuts(system, [exp["test"]], first, AGNOSTIC, progress=False)
    decode_cuts(load_system(str(exp["router"])), [exp["test"]], second, AGNOSTIC, progress=False)
    a, b = hyps_by_id(first), hyps_by_id(second)
    assert a == b
    assert sum(r["detected_lang"] == r["lang"] for r in a.values()) >= 5  # the router's choices, 6 utterances
    settings = json.loads((first / "settings.json").read_text())
    assert settings["system"]["kind"] == "router" and settings["trim"] is True  # decoded as the router was trained


def test_soft_routing_with_one_hot_weights_equals_hard_routing(exp: dict[str, Path], tmp_path: Path) -> None:
    system = load_system(str(exp["router"]))
    # untrimmed: group routing decodes batches regrouped by expert, the others the batches whole (trimmed, a
    # hypothesis depends on its batch)
    same_input = DecodeOptions(**{**AGNOSTIC.__dict__, "trim": False})
    hard = {}
    for routing in ("group", "per-sample"):
        decode_cuts(
            system,
            [exp["test"]],
            tmp_path / routing,
            DecodeOptions(**{**same_input.__dict__, "routing": routing}),
            progress=False,
        )
        hard[routing] = hyps_by_id(tmp_path / routing)
    soft = DecodeOptions(**{**same_input.__dict__, "soft_top_k": 1})
    decode_cuts(system, [exp["test"]], tmp_path / "soft", soft, progress=False)
    assert same_records(hard["group"], hard["per-sample"])
    assert same_records(hyps_by_id(tmp_path / "soft"), hard["group"])
    two = DecodeOptions(**{**AGNOSTIC.__dict__, "soft_top_k": 2})
    decode_cuts(system, [exp["test"]], tmp_path / "soft2", two, progress=False)
    assert {r["detected_lang"] for r in hyps_by_id(tmp_path / "soft2").values()} <= set(LANGS)


@pytest.mark.parametrize("k", [1, 2])
def test_both_scenarios_with_soft_routing_equal_two_decodes(exp: dict[str, Path], tmp_path: Path, k: int) -> None:
    system = load_system(str(exp["router"]))
    # untrimmed: both batches by language, agnostic alone does not (trimmed, a hypothesis depends on its batch)
    both = DecodeOptions(**{**AGNOSTIC.__dict__, "scenario": "both", "soft_top_k": k, "trim": False})
    decode_cuts(system, [exp["test"]], tmp_path / "aware", both, agnostic_out=tmp_path / "agnostic", progress=False)
    for scenario in ("aware", "agnostic"):
        alone = DecodeOptions(**{**both.__dict__, "scenario": scenario, "soft_top_k": k * (scenario == "agnostic")})
        decode_cuts(system, [exp["test"]], tmp_path / f"{scenario}_alone", alone, progress=False)
        assert hyps_by_id(tmp_path / scenario) == hyps_by_id(tmp_path / f"{scenario}_alone"), scenario


def test_one_hot_mixture_gives_the_logits_of_per_sample_adapters(exp: dict[str, Path]) -> None:
    system = load_system(str(exp["experts"]))
    model, parts = system.model, WhisperParts.of(system.model)
    set_trimmed_input(model, True)
    torch.manual_seed(0)
    feats = torch.randn(2, 80, 120)
    start = torch.full((2, 1), 50258)

    def logits() -> torch.Tensor:
        return parts.step(start, parts.encode(feats))[0]

    with torch.inference_mode():
        with model._enable_peft_forward_hooks(adapter_names=list(LANGS)):
            per_sample = logits()
        with system.activate(None):
            with mixed_adapters(model, AdapterMixture(LANGS, torch.eye(2))):
                one_hot = logits()
            with mixed_adapters(model, AdapterMixture(LANGS, torch.full((2, 2), 0.5))):
                halves = logits()
            base = logits()
    assert torch.allclose(one_hot, per_sample, atol=1e-5)
    assert not torch.allclose(halves, per_sample, atol=1e-3) and not torch.allclose(halves, base, atol=1e-3)
    mix = AdapterMixture.top_k(torch.tensor([[0.2, 0.7, 0.1], [0.5, 0.1, 0.4]]), ("a", "b", "c"), 2)
    assert torch.allclose(mix.weights, torch.tensor([[2 / 9, 7 / 9, 0], [5 / 9, 0, 4 / 9]]))
    assert not mix.single(0) and AdapterMixture.top_k(mix.weights, ("a", "b", "c"), 1).single(1)


def test_lid_system_routes_experts(exp: dict[str, Path], tmp_path: Path) -> None:
    experts = load_system(str(exp["experts"]))
    by_router = DecodeOptions(**{**AGNOSTIC.__dict__, "lid_system": str(exp["router"])})
    decode_cuts(
        experts, [exp["test"]], tmp_path / "r", by_router, lid_system=load_system(str(exp["router"])), progress=False
    )
    decode_cuts(load_system(str(exp["router"])), [exp["test"]], tmp_path / "own", AGNOSTIC, progress=False)
    assert hyps_by_id(tmp_path / "r") == hyps_by_id(tmp_path / "own")
    # a single model's own LID (here the base model): what the experts' base-model LID gives
    by_base = DecodeOptions(**{**AGNOSTIC.__dict__, "lid_system": str(exp["base"]), "lid_langs": LANGS})
    decode_cuts(
        experts, [exp["test"]], tmp_path / "b", by_base, lid_system=load_system(str(exp["base"])), progress=False
    )
    plain = DecodeOptions(**{**AGNOSTIC.__dict__, "lid_langs": LANGS})
    decode_cuts(experts, [exp["test"]], tmp_path / "plain", plain, progress=False)
    assert hyps_by_id(tmp_path / "b") == hyps_by_id(tmp_path / "plain")


def test_bad_routing_options(exp: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(LwasrError, match="--scenario agnostic or both"):
        DecodeOptions(soft_top_k=2)
    with pytest.raises(LwasrError, match="--lid-system routes by language ID, which the aware scenario does not use"):
        router = str(exp["router"])
        aware = DecodeOptions(lid_system=router)
        decode_cuts(load_system(router), [exp["test"]], tmp_path / "a", aware, lid_system=load_system(router))
    with pytest.raises(LwasrError, match="--soft-top-k needs language ID over the experts' languages"):
        decode_cuts(
            load_system(str(exp["experts"])),
            [exp["test"]],
            tmp_path / "x",
            DecodeOptions(**{**AGNOSTIC.__dict__, "soft_top_k": 2}),
            progress=False,
        )
    with pytest.raises(LwasrError, match="identifies only pl, pt"):
        decode_cuts(
            load_system(str(exp["router"])),
            [exp["test"]],
            tmp_path / "y",
            DecodeOptions(**{**AGNOSTIC.__dict__, "lid_langs": ("pl", "de")}),
            progress=False,
        )
    with pytest.raises(LwasrError, match="--head must be one of"):
        RouterConfig(head="forest")
    one = tmp_path / "one"
    shutil.copytree(exp["experts"] / "pl", one / "pl")
    with pytest.raises(LwasrError, match="a router chooses between at least two"):
        train_router(one, [exp["train"]], [exp["dev"]], tmp_path / "r1", CONFIG, progress=False)
    only_pl = tmp_path / "pl_cuts.jsonl.gz"
    CutSet.from_cuts([c for c in CutSet.from_file(exp["train"]) if c.supervisions[0].language == "pl"]).to_file(only_pl)
    with pytest.raises(LwasrError, match=r"no training cuts for language\(s\) pt"):
        train_router(exp["experts"], [only_pl], [exp["dev"]], tmp_path / "r2", CONFIG, progress=False)


def test_cli_train_decode_eval(exp: dict[str, Path], tmp_path: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "router"
    args = ["router", "train", "--experts", str(exp["experts"]), "--train", str(exp["train"]), "--dev", str(exp["dev"])]
    result = runner.invoke(
        app, [*args, "--out", str(out), "--steps", "20", "--head", "mlp", "--hidden", "8", "--device", "cpu"]
    )
    assert result.exit_code == 0, result.output
    assert "LID accuracy on 8 utterances, trimmed: router" in result.output
    assert load_router(out)[0].extra["router"]["head"] == "mlp"
    result = runner.invoke(app, [*args, "--out", str(out), "--steps", "20"])
    assert result.exit_code == 0 and "already trained" in result.output
    decoded = tmp_path / "decode"
    result = runner.invoke(
        app,
        [
            "decode",
            "--system",
            str(out),
            "--cuts",
            str(exp["test"]),
            "--out",
            str(decoded),
            "--scenario",
            "agnostic",
            "--soft-top-k",
            "2",
            "--device",
            "cpu",
        ],
    )
    assert result.exit_code == 0, result.output
    assert len(hyps_by_id(decoded)) == 6
    result = runner.invoke(
        app,
        [
            "router",
            "eval",
            "--router",
            str(out),
            "--cuts",
            str(exp["test"]),
            "--out",
            str(tmp_path / "acc.json"),
            "--device",
            "cpu",
        ],
    )
    assert result.exit_code == 0, result.output
    assert set(json.loads((tmp_path / "acc.json").read_text())) == {"trimmed", "30s"}


def test_transcribe_routes_files_or_chunks_by_the_router(exp: dict[str, Path], tmp_path: Path) -> None:
    """`lwasr transcribe --lid-system ROUTER` routes each file as the router identifies it, and --soft-top-k
    mixes the experts per chunk as the agnostic decode with the router does (untrimmed input, one batch)."""
    from lwasr.transcribe.run import transcribe

    wavs = sorted((exp["train"].parent).glob("test_*.wav"))
    assert len(wavs) == 2 * 3
    opts = DecodeOptions(scenario="agnostic", batch_size=16, trim=False)
    records = {}
    for name, k in (("hard", 0), ("soft", 2)):
        decode_opts = DecodeOptions(**{**opts.__dict__, "soft_top_k": k})
        decode_cuts(load_system(str(exp["router"])), [exp["test"]], tmp_path / name, decode_opts, progress=False)
        lines = (tmp_path / name / "hyp.jsonl").read_text().splitlines()
        records[name] = {r["id"]: r for r in map(json.loads, lines)}
    # plain search, as the decodes compared with (transcribe's default falls back to sampling)
    common = {
        "system": str(exp["experts"]),
        "trim": False,
        "progress": False,
        "temperatures": "0",
        "no_speech_threshold": None,
    }
    per_file = transcribe(wavs, lid_system=str(exp["router"]), **common)
    detected = {n: r["detected_lang"] for n, r in records["hard"].items()}
    assert {n: t.language for n, t in per_file.transcripts.items()} == detected
    for lang in set(detected.values()):  # each file decoded by the expert of the language the router chose
        mine = [w for w in wavs if detected[w.stem] == lang]
        given = transcribe(mine, language=lang, **common)
        assert {w.stem: given.transcripts[w.stem].text for w in mine} == {
            w.stem: per_file.transcripts[w.stem].text for w in mine
        }
    mixed = transcribe(wavs, route_per="chunk", lid_system=str(exp["router"]), soft_top_k=2, **common)
    assert {n: t.text for n, t in mixed.transcripts.items()} == {n: r["hyp"] for n, r in records["soft"].items()}
    with pytest.raises(LwasrError, match="add --route-per chunk"):
        transcribe(wavs, soft_top_k=2, **common)
    with pytest.raises(LwasrError, match="--language gives the language instead"):
        transcribe(wavs, language="pl", lid_system=str(exp["router"]), **common)
