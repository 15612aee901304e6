"""Mismatched units: a router built for other experts, and `train pick` between runs that cannot be compared."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import pytest
from helpers import make_cuts, make_expert, one_line_error, run_main, small
from transformers import WhisperConfig

from lwasr.data.cuts import cuts_fingerprint, load_cuts
from lwasr.errors import LwasrError
from lwasr.routing.model import RouterHead, experts_ref, save_router
from lwasr.training.loop import train
from lwasr.training.select import DEV_SET, pick_lowest_dev_loss
from lwasr.units.meta import META_FILE, ModelMeta


def router_for(experts: Path, unit: Path, base: Path) -> Path:
    """An (untrained) router unit over the experts under ``experts``, as `lwasr router train` lays it out."""
    langs = sorted(p.name for p in experts.iterdir())
    first = ModelMeta.load(experts / langs[0])
    d_model = WhisperConfig.from_pretrained(base).d_model
    unit.mkdir(parents=True)
    extra = {"router": {"head": "linear", "hidden": 0, "d_model": d_model, "experts": experts_ref(experts, unit)}}
    meta = ModelMeta("router", first.base_model, first.base_fingerprint, langs, extra=extra)
    save_router(unit, RouterHead(d_model, len(langs)), meta)
    return unit


def test_a_router_built_for_other_experts_is_refused_before_decoding(
    tmp_path, tiny_whisper, experts, manifests, monkeypatch, capsys
):
    router = router_for(experts, tmp_path / "router", tiny_whisper)  # routes pl and pt
    mine = tmp_path / "experts"  # pl and it: no expert for pt
    shutil.copytree(experts / "pl", mine / "pl")
    make_expert(tiny_whisper, mine / "it", 3, "it")
    out = tmp_path / "decode"
    args = ["decode", "--system", str(mine), "--cuts", str(manifests[1]), "--out", str(out)]
    status, err = run_main(monkeypatch, capsys, *args, "--scenario", "agnostic", "--lid-system", str(router))
    line = one_line_error(err)
    assert status == 2
    assert line.startswith(f"error: --lid-system {router} identifies pt, which {mine} has no expert for;")
    assert "--lid-langs pl" in line
    assert not out.exists()


@pytest.fixture(scope="module")
def pl_runs(tiny_whisper, manifests, tmp_path_factory) -> dict[str, Path]:
    """pl experts trained one step: two on one dev set, one on another; and a pt expert."""
    root = tmp_path_factory.mktemp("pick")
    other_dev = make_cuts(root / "dev2", langs=("pl",), per_lang=1, name="cuts_dev")
    runs = {
        "a": (manifests[1], "pl"),
        "b": (manifests[1], "pl"),
        "other_dev": (other_dev, "pl"),
        "pt": (manifests[1], "pt"),
    }
    units = {}
    for name, (dev, lang) in runs.items():
        cfg = small(root / name, tiny_whisper, (manifests[0], dev), lang=lang, max_steps=1, valid_every=1)
        units[name] = train(cfg)
    return units


def test_training_records_the_fingerprint_of_its_dev_set(pl_runs, manifests):
    dev_pl = load_cuts([manifests[1]], split=None).filter(lambda c: c.supervisions[0].language == "pl")
    recorded = {name: ModelMeta.load(unit).extra[DEV_SET] for name, unit in pl_runs.items()}
    assert recorded["a"] == recorded["b"] == cuts_fingerprint(dev_pl)
    assert recorded["other_dev"] != recorded["a"] and recorded["pt"] != recorded["a"]


@pytest.mark.parametrize(("other", "differing"), [("other_dev", "dev set"), ("pt", "languages")])
def test_pick_between_losses_on_different_dev_sets_or_languages_is_refused(
    pl_runs, tmp_path, monkeypatch, capsys, other, differing
):
    out = tmp_path / "chosen"
    status, err = run_main(
        monkeypatch, capsys, "train", "pick", str(pl_runs["a"]), str(pl_runs[other]), "--out", str(out)
    )
    assert status == 2
    assert f"the candidates differ in their {differing} (" in one_line_error(err)
    assert not out.exists() and not (tmp_path / "chosen.selection.json").exists()
    assert pick_lowest_dev_loss([pl_runs["a"], pl_runs["b"]], out) in (pl_runs["a"], pl_runs["b"])


def unit(path: Path, kind: str, **extra) -> Path:
    path.mkdir(parents=True)
    ModelMeta(kind, "embedded:whisper-base", "f", ["pl"], extra=extra).save(path)
    return path


def test_pick_refuses_another_kind_and_a_loss_that_is_not_finite(tmp_path):
    lora = unit(tmp_path / "lora", "lora", best_dev_loss=0.5, dev_set="d1")
    full = unit(tmp_path / "full", "full", best_dev_loss=0.4, dev_set="d1")
    with pytest.raises(LwasrError, match="differ in their kind"):
        pick_lowest_dev_loss([lora, full], tmp_path / "x")
    nan = unit(tmp_path / "nan", "lora", dev_set="d1")
    meta = json.loads((nan / META_FILE).read_text())
    (nan / META_FILE).write_text(json.dumps({**meta, "extra": {**meta["extra"], "best_dev_loss": float("nan")}}))
    with pytest.raises(LwasrError, match="has a dev loss of nan"):
        pick_lowest_dev_loss([lora, nan], tmp_path / "x")
    assert not (tmp_path / "x").exists()


def test_pick_between_units_without_a_dev_set_fingerprint_warns(tmp_path, caplog):
    old = unit(tmp_path / "old", "lora", best_dev_loss=0.5)
    new = unit(tmp_path / "new", "lora", best_dev_loss=0.7, dev_set="d1")
    with caplog.at_level(logging.WARNING, logger="lwasr.training.select"):
        assert pick_lowest_dev_loss([old, new], tmp_path / "x") == old
    assert f"{old}: no dev-set fingerprint" in caplog.text


def test_decoding_experts_that_disagree_on_trimmed_input_is_refused(experts, tmp_path, monkeypatch, capsys):
    """An experts dir whose experts were trained on trimmed and on padded input decoded with the first one's setting,
    silently (an adapter imported without --trim-encoder-input beside lwasr's experts); now refused, as fuse, distill
    and expand refuse it, before any model is loaded or anything written."""
    mixed = shutil.copytree(experts, tmp_path / "experts")
    meta = json.loads((mixed / "pt" / META_FILE).read_text())
    meta["trim_encoder_input"] = not meta["trim_encoder_input"]
    (mixed / "pt" / META_FILE).write_text(json.dumps(meta))
    cuts = make_cuts(tmp_path / "cuts", langs=("pl",), per_lang=1)
    out = tmp_path / "d"
    code, err = run_main(monkeypatch, capsys, "decode", "--system", str(mixed), "--cuts", str(cuts), "--out", str(out))
    assert code == 2 and "the experts disagree on trim_encoder_input" in one_line_error(err)
    assert not out.exists()
