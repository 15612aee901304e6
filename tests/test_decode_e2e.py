"""`lwasr decode` on a tiny random Whisper with peft-made experts and generated audio."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import OPTS, hyps_by_id, killed_decode, same_records, write_cuts
from lhotse import CutSet

from lwasr.decoding.io import HYP_FILE, SETTINGS_FILE
from lwasr.decoding.search import DecodeOptions, decode_cuts
from lwasr.decoding.systems import ExpertSystem, load_experts, load_system
from lwasr.errors import LwasrError

LANGS = ("pl", "pt")
# Comparisons across different batchings: trimmed input makes a hypothesis depend on its batch's padding
# (the encoder attends over the padded frames), so they run untrimmed, where every clip sees 30 s.
SAME_INPUT = DecodeOptions(max_new_tokens=6, batch_size=3, trim=False)


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("cuts")
    specs = [(f"{lang}_{i}", lang, 0.6 + 0.3 * i) for lang in LANGS for i in range(3)]
    return write_cuts(out, specs)


def test_aware_routes_each_language_to_its_expert(experts: Path, data: Path, tmp_path: Path) -> None:
    system = load_system(str(experts))
    assert isinstance(system, ExpertSystem) and system.languages == LANGS
    assert system.trim_default  # trained trimmed -> decodes trimmed
    summary = decode_cuts(system, [data], tmp_path / "all", SAME_INPUT, progress=False)
    assert summary["utterances"] == 6 and summary["real_time_factor"] > 0
    got = hyps_by_id(tmp_path / "all")
    assert set(got) == {f"{lang}_{i}" for lang in LANGS for i in range(3)}
    for lang in LANGS:  # the same utterances decoded by a system holding only that language's expert
        single = load_experts(experts, languages=[lang])
        out = tmp_path / f"only_{lang}"
        decode_cuts(
            single,
            [data],
            out,
            DecodeOptions(**{**SAME_INPUT.__dict__, "scenario": "agnostic", "lid_langs": (lang,)}),
            progress=False,
        )
        ref = hyps_by_id(out)
        for uid, rec in got.items():
            if rec["lang"] == lang:
                assert rec["hyp"] == ref[uid]["hyp"], uid
    # routing matters: the two experts disagree somewhere
    other = hyps_by_id(tmp_path / "only_pt")
    assert any(other[u]["hyp"] != got[u]["hyp"] for u in got if got[u]["lang"] == "pl")
    text = (tmp_path / "all" / "text").read_text().splitlines()
    assert len(text) == 6 and text[0].startswith("pl_0")


@pytest.mark.parametrize("beam_size", [1, 2])
def test_per_sample_routing_matches_group(experts: Path, data: Path, tmp_path: Path, beam_size: int) -> None:
    """Greedy, and beam search through generate (peft repeats each row's adapter name for its beams)."""
    system = load_system(str(experts))
    group = DecodeOptions(**{**SAME_INPUT.__dict__, "beam_size": beam_size})
    decode_cuts(system, [data], tmp_path / "g", group, progress=False)
    opts = DecodeOptions(**{**group.__dict__, "routing": "per-sample"})
    decode_cuts(system, [data], tmp_path / "p", opts, progress=False)
    g, p = hyps_by_id(tmp_path / "g"), hyps_by_id(tmp_path / "p")
    assert {k: v["hyp"] for k, v in g.items()} == {k: v["hyp"] for k, v in p.items()}


def test_agnostic_writes_detected_language(experts: Path, tiny_whisper: Path, data: Path, tmp_path: Path) -> None:
    opts = DecodeOptions(**{**OPTS.__dict__, "scenario": "agnostic", "lid_langs": LANGS})
    for name, spec in (("experts", str(experts)), ("base", str(tiny_whisper))):
        decode_cuts(load_system(spec), [data], tmp_path / name, opts, progress=False)
        for rec in hyps_by_id(tmp_path / name).values():
            assert rec["detected_lang"] in LANGS
            assert 0.5 <= rec["lid_prob"] <= 1.0  # two languages: the best has at least half


def test_both_scenarios_in_one_pass_equal_two_separate_decodes(
    experts: Path, tiny_whisper: Path, data: Path, tmp_path: Path
) -> None:
    both = DecodeOptions(**{**SAME_INPUT.__dict__, "scenario": "both", "lid_langs": LANGS})
    for name, spec in (("experts", str(experts)), ("base", str(tiny_whisper))):
        system = load_system(spec)
        out, agn = tmp_path / name / "aware", tmp_path / name / "agnostic"
        decode_cuts(system, [data], out, both, agnostic_out=agn, progress=False)
        for scenario, got in (("aware", out), ("agnostic", agn)):
            alone = tmp_path / name / f"{scenario}_alone"
            opts = DecodeOptions(**{**both.__dict__, "scenario": scenario})
            decode_cuts(system, [data], alone, opts, progress=False)
            assert same_records(hyps_by_id(got), hyps_by_id(alone)), (name, scenario)
            assert json.loads((got / SETTINGS_FILE).read_text())["part"] == scenario
        detected = hyps_by_id(agn)
        assert any(r["detected_lang"] != r["lang"] for r in detected.values())  # some utterances were re-decoded
        again = decode_cuts(system, [data], out, both, agnostic_out=agn, progress=False)  # complete: nothing to do
        assert again["decoded_this_run"] == 6
    with pytest.raises(LwasrError, match="--agnostic-out"):
        decode_cuts(load_system(str(tiny_whisper)), [data], tmp_path / "x", both, progress=False)


def test_aware_decode_and_the_aware_part_of_both_are_one_decode(experts: Path, data: Path, tmp_path: Path) -> None:
    """An aware decode is kept by a later ``both`` decode into the same dir (which then adds the agnostic one),
    and the aware part of a ``both`` decode counts as the aware decode: recipes can add an agnostic routing later."""
    system = load_system(str(experts))
    aware = DecodeOptions(**{**OPTS.__dict__, "lid_langs": LANGS})
    both = DecodeOptions(**{**aware.__dict__, "scenario": "both"})
    decode_cuts(system, [data], tmp_path / "a", aware, progress=False)
    first = hyps_by_id(tmp_path / "a")
    decode_cuts(system, [data], tmp_path / "a", both, agnostic_out=tmp_path / "agn", progress=False)
    assert hyps_by_id(tmp_path / "a") == first
    assert len(hyps_by_id(tmp_path / "agn")) == len(first)
    decode_cuts(system, [data], tmp_path / "b", both, agnostic_out=tmp_path / "agn_b", progress=False)
    again = decode_cuts(system, [data], tmp_path / "b", aware, progress=False)  # complete: nothing to do
    assert again["decoded_this_run"] == len(first)
    assert hyps_by_id(tmp_path / "b") == first
    with pytest.raises(LwasrError, match="other settings"):  # what changes the aware hypotheses still counts
        decode_cuts(system, [data], tmp_path / "a", DecodeOptions(**{**aware.__dict__, "beam_size": 2}), progress=False)


def test_resume_after_truncated_hyp(tiny_whisper: Path, data: Path, tmp_path: Path) -> None:
    system = load_system(str(tiny_whisper))
    assert not system.trim_default  # a base model decodes untrimmed by default
    full = tmp_path / "full"
    decode_cuts(system, [data], full, OPTS, progress=False)
    lines = (full / HYP_FILE).read_text().splitlines(keepends=True)
    part = killed_decode(full, tmp_path / "part", 3)
    summary = decode_cuts(system, [data], part, OPTS, progress=False)
    assert summary["decoded_this_run"] == 3
    assert sorted((part / HYP_FILE).read_text().splitlines()) == sorted(x.rstrip("\n") for x in lines)
    # other settings: refused unless --overwrite
    with pytest.raises(LwasrError, match="other settings"):
        decode_cuts(system, [data], part, DecodeOptions(**{**OPTS.__dict__, "beam_size": 2}), progress=False)
    summary = decode_cuts(
        system, [data], part, DecodeOptions(**{**OPTS.__dict__, "beam_size": 2}), overwrite=True, progress=False
    )
    assert summary["decoded_this_run"] == 6
    assert json.loads((part / SETTINGS_FILE).read_text())["beam_size"] == 2


def test_missing_expert_names_existing_ones(experts: Path, tmp_path: Path) -> None:
    cuts = write_cuts(tmp_path, [("el_0", "el", 0.5), ("pl_0", "pl", 0.5)])
    with pytest.raises(LwasrError, match=r"no expert for language\(s\) el.*experts exist for: pl, pt"):
        decode_cuts(load_system(str(experts)), [cuts], tmp_path / "out", OPTS, progress=False)


def test_input_errors(tiny_whisper: Path, tmp_path: Path) -> None:
    system = load_system(str(tiny_whisper))
    long = write_cuts(tmp_path, [("pl_long", "pl", 31.0)])
    with pytest.raises(LwasrError, match="lwasr prepare"):
        decode_cuts(system, [long], tmp_path / "o1", OPTS, progress=False)
    empty = tmp_path / "empty.jsonl.gz"
    CutSet.from_cuts([]).to_file(empty)
    with pytest.raises(LwasrError, match="empty|no utterances"):
        decode_cuts(system, [empty], tmp_path / "o2", OPTS, progress=False)


def test_group_routing_merges_each_expert_once(experts: Path, data: Path, tmp_path: Path) -> None:
    """Batches of one language in a row keep their expert merged (three batches per language, two merges), and
    the hypotheses are those of per-sample routing, which never merges."""
    system = load_system(str(experts))
    merged: list[str] = []
    merge = system.model.merge_adapter
    system.model.merge_adapter = lambda *a, **k: (merged.append(system.model.active_adapters[0]), merge(*a, **k))
    one_per_batch = DecodeOptions(**{**SAME_INPUT.__dict__, "batch_size": 1})
    decode_cuts(system, [data], tmp_path / "g", one_per_batch, progress=False)
    assert merged == sorted(LANGS)
    opts = DecodeOptions(**{**one_per_batch.__dict__, "routing": "per-sample"})
    decode_cuts(system, [data], tmp_path / "p", opts, progress=False)
    g, p = hyps_by_id(tmp_path / "g"), hyps_by_id(tmp_path / "p")
    assert {k: v["hyp"] for k, v in g.items()} == {k: v["hyp"] for k, v in p.items()}
