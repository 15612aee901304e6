"""Agnostic decoding of experts regrouped by routed expert across batches (lwasr/decoding/regroup.py): the same
records as routing each utterance on its own; ``both``, trimmed input and a resumed decode."""

from __future__ import annotations

import dataclasses
import gzip
import json
from pathlib import Path

import pytest
import torch
from helpers import ROUTER_CONFIG, hyps_by_id, killed_decode, same_records, tone_cuts
from lhotse import CutSet

from lwasr.decoding.batching import make_batches, utterances
from lwasr.decoding.decoder import Decoder
from lwasr.decoding.search import DecodeOptions, decode_cuts
from lwasr.decoding.systems import System
from lwasr.loaders import load_system
from lwasr.routing.train import train_router

LANGS = ("pl", "pt")
# untrimmed: every clip sees 30 s, so a hypothesis does not depend on the other clips of its batch
AGNOSTIC = DecodeOptions(max_new_tokens=6, batch_size=3, trim=False, scenario="agnostic", lid_langs=LANGS)


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """10 tone clips (5 per language) of 0.5-1.5 s: the router tells the languages apart, the batches mix them."""
    return tone_cuts(tmp_path_factory.mktemp("regroup"), "regroup", 5, seed=7)


@pytest.fixture(scope="module")
def router_30s(router_exp: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A router of the session's experts trained on 30-s input (the session's reads trimmed input), for the
    untrimmed decodes."""
    out = tmp_path_factory.mktemp("router_30s") / "router"
    config = dataclasses.replace(ROUTER_CONFIG, trim_encoder_input=False)
    train_router(router_exp["experts"], [router_exp["train"]], [router_exp["dev"]], out, config, progress=False)
    return out


def routing(router_exp: dict[str, Path], router: Path, lid: str) -> tuple[System, System | None, DecodeOptions]:
    """The system, the ``--lid-system`` and the options of a routing: ``router`` (the ``router`` unit's own LID),
    ``lid-system`` (the experts routed by that router as --lid-system), ``base`` (the experts' base-model LID)."""
    if lid == "router":
        return load_system(str(router)), None, AGNOSTIC
    experts = load_system(str(router_exp["experts"]))
    if lid == "base":
        return experts, None, AGNOSTIC
    opts = DecodeOptions(**{**AGNOSTIC.__dict__, "lid_system": str(router)})
    return experts, load_system(str(router)), opts


def mixed_batches(data: Path, got: dict[str, dict]) -> int:
    """How many of the language-ID batches (by duration, languages mixed) hold more than one detected language."""
    batches = make_batches(utterances(CutSet.from_file(data)), AGNOSTIC)
    return sum(len({got[u.id]["detected_lang"] for u in b}) > 1 for b in batches)


@pytest.mark.parametrize("lid", ["router", "lid-system", "base"])
def test_regrouped_records_equal_routing_each_utterance_alone(
    lid: str, router_exp: dict[str, Path], router_30s: Path, data: Path, tmp_path: Path
) -> None:
    """Each utterance identified and decoded on its own (a batch of one) gets the record the regrouped decode of
    all of them gave: the same language, probability and hypothesis (its scores to rounding)."""
    system, lid_system, opts = routing(router_exp, router_30s, lid)
    decode_cuts(system, [data], tmp_path / "all", opts, lid_system=lid_system, progress=False)
    got = hyps_by_id(tmp_path / "all")
    assert len(got) == 10
    if lid != "base":  # the tiny random base model's own LID ignores its input: one expert for all
        assert {r["detected_lang"] for r in got.values()} == set(LANGS)
        assert mixed_batches(data, got) >= 2  # batches of mixed languages: the regrouping matters
    decoder = Decoder(system, opts, torch.device("cpu"), lid_system)  # a batch of one: routed on its own
    with torch.inference_mode():
        alone = {u.id: decoder([u])["agnostic"][0] for u in utterances(CutSet.from_file(data))}
    assert same_records(alone, got), lid


def relabelled(data: Path, langs: dict[str, str], out: Path) -> Path:
    """``data`` with each cut's language replaced by ``langs[id]``."""
    cuts = [json.loads(line) for line in gzip.open(data, "rt")]
    for cut in cuts:
        cut["supervisions"][0]["language"] = langs[cut["id"]]
    with gzip.open(out, "wt") as f:
        f.writelines(json.dumps(c) + "\n" for c in cuts)
    return out


def test_trimmed_regrouped_batches_are_the_aware_batches_of_the_detected_languages(
    router_exp: dict[str, Path], data: Path, tmp_path: Path
) -> None:
    """Trimmed input, a hypothesis depends on its batch's padding, so it may differ from its utterance decoded
    alone; it is exactly the aware hypothesis of its utterance labelled with its detected language (the same
    batches: one expert each, longest first)."""
    system = load_system(str(router_exp["router"]))
    trimmed = DecodeOptions(**{**AGNOSTIC.__dict__, "trim": True})
    decode_cuts(system, [data], tmp_path / "agnostic", trimmed, progress=False)
    got = hyps_by_id(tmp_path / "agnostic")
    assert mixed_batches(data, got) >= 2
    detected = relabelled(data, {u: r["detected_lang"] for u, r in got.items()}, tmp_path / "detected.jsonl.gz")
    aware = DecodeOptions(**{**trimmed.__dict__, "scenario": "aware"})
    decode_cuts(system, [detected], tmp_path / "aware", aware, progress=False)
    assert {u: r["hyp"] for u, r in hyps_by_id(tmp_path / "aware").items()} == {u: r["hyp"] for u, r in got.items()}


def test_both_scenarios_equal_two_decodes(router_30s: Path, data: Path, tmp_path: Path) -> None:
    """``both``: the aware decode, and the agnostic one (aware hypotheses kept where the detected language is the
    given one, the others regrouped by expert) equal the two scenarios decoded on their own."""
    system = load_system(str(router_30s))
    # three clips labelled with the other language, from both languages' batches: the router sends them back
    wrong = {"regroup_pl_0": "pt", "regroup_pl_3": "pt", "regroup_pt_1": "pl"}
    langs = {c.id: wrong.get(c.id, c.supervisions[0].language) for c in CutSet.from_file(data)}
    labels = relabelled(data, langs, tmp_path / "labels.jsonl.gz")
    both = DecodeOptions(**{**AGNOSTIC.__dict__, "scenario": "both"})
    decode_cuts(system, [labels], tmp_path / "aware", both, agnostic_out=tmp_path / "agnostic", progress=False)
    redone = {u for u, r in hyps_by_id(tmp_path / "agnostic").items() if r["detected_lang"] != r["lang"]}
    assert redone == set(wrong)
    for scenario in ("aware", "agnostic"):
        alone = DecodeOptions(**{**both.__dict__, "scenario": scenario})
        decode_cuts(system, [labels], tmp_path / f"{scenario}_alone", alone, progress=False)
        assert hyps_by_id(tmp_path / scenario) == hyps_by_id(tmp_path / f"{scenario}_alone"), scenario


def test_a_resumed_trimmed_decode_gives_the_records_of_an_uninterrupted_one(
    router_exp: dict[str, Path], data: Path, tmp_path: Path
) -> None:
    """A decode killed after its first regrouped batch (and in the middle of the next record) resumes to the same
    records, trimmed input included: language ID runs again on the batches of all utterances, so it sees the
    padding the first run saw."""
    system = load_system(str(router_exp["router"]))
    trimmed = DecodeOptions(**{**AGNOSTIC.__dict__, "trim": True})
    full = tmp_path / "full"
    decode_cuts(system, [data], full, trimmed, progress=False)
    part = killed_decode(full, tmp_path / "part", 3)
    # a new process: merging and unmerging experts moves a loaded model's weights in their last bits
    summary = decode_cuts(load_system(str(router_exp["router"])), [data], part, trimmed, progress=False)
    assert summary["decoded_this_run"] == 7
    assert hyps_by_id(part) == hyps_by_id(full)
