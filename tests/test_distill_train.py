"""`lwasr distill` on the tiny Whisper: alpha=1 is plain fine-tuning, KD runs and resumes, the cache, init, decode."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from helpers import ALL_TARGETS, build_tiny_whisper, make_cuts, make_shaped_expert
from safetensors.torch import load_file
from transformers import AutoTokenizer, WhisperForConditionalGeneration
from typer.testing import CliRunner

from lwasr.cli import app
from lwasr.data.cuts import load_cuts
from lwasr.decoding.search import DecodeOptions, decode_cuts
from lwasr.decoding.systems import load_system
from lwasr.distill import trainer as distill_trainer
from lwasr.distill.cache import TeacherCache, cache_info
from lwasr.distill.config import DistillConfig
from lwasr.distill.teachers import Teachers
from lwasr.distill.trainer import DistillTrainer, distill
from lwasr.errors import LwasrError
from lwasr.features import LogMel
from lwasr.fusion.run import fuse
from lwasr.training import data as D
from lwasr.training.config import TrainConfig
from lwasr.training.loop import train
from lwasr.units.experts import load_experts
from lwasr.units.meta import ModelMeta


@pytest.fixture(scope="module")
def setup(tiny_whisper, pl_pt_experts, tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("distill")
    train_cuts = make_cuts(root / "train", per_lang=3)
    dev_cuts = make_cuts(root / "dev", per_lang=1, name="cuts_dev")
    return {"experts": pl_pt_experts, "train": train_cuts, "dev": dev_cuts, "base": tiny_whisper}


def common(s: dict, tmp: Path, **kw) -> dict:
    base = dict(
        model=str(s["base"]),
        cuts=[str(s["train"])],
        dev_cuts=[str(s["dev"])],
        exp_dir=str(tmp),
        max_duration=2.5,
        num_buckets=2,
        lora_rank=4,
        lora_alpha=8,
        lora_dropout=0.1,
        spec_augment=True,
        lr=1e-2,
        warmup_steps=1,
        max_steps=3,
        save_every=2,
        valid_every=2,
    )
    return {**base, **kw}


def adapter(unit: Path) -> dict[str, torch.Tensor]:
    return load_file(unit / "adapter_model.safetensors")


def test_alpha_one_equals_shared_fine_tuning(setup, tmp_path):
    shared = train(TrainConfig(mode="shared", **common(setup, tmp_path / "a")))
    cfg = DistillConfig(teachers=str(setup["experts"]), alpha=1.0, **common(setup, tmp_path / "b"))
    student = train(cfg, trainer=DistillTrainer)
    a, b = adapter(shared), adapter(student)
    assert a.keys() == b.keys() and all(torch.allclose(a[k], b[k]) for k in a)
    assert any(not torch.equal(v, torch.zeros_like(v)) for k, v in b.items() if "lora_B" in k)
    meta = ModelMeta.load(student)
    assert meta.extra["distill"]["alpha"] == 1.0 and meta.languages == ["pl", "pt"]


def check_cache_holds_the_teachers_top_k(setup: dict, cache_dir: Path) -> None:
    experts = load_experts(setup["experts"], ["pl", "pt"])
    teachers = Teachers(experts, str(setup["base"]), torch.device("cpu"), autocast=None)
    tok = AutoTokenizer.from_pretrained(setup["base"])
    cache = TeacherCache(cache_dir, cache_info(experts, ModelMeta.load(experts[0].path).base_fingerprint, 8))
    dataset = D.AsrDataset(tok, lang_token=False)
    # the batches of the teacher pass (zero padding in a batch changes Whisper's outputs slightly)
    sampler = D.make_sampler(
        load_cuts([setup["train"]]), 2.5, num_buckets=2, shuffle=False, seed=42, world_size=1, rank=0
    )
    for batch in D.make_loader(dataset, D.SkipFirst(sampler), 0):
        want = teachers.logits(batch, tok, LogMel(80), student_lang_token=False).topk(8, dim=-1)
        values, indices = cache.targets(batch["ids"], (batch["labels"] != D.IGNORE).sum(1).tolist())
        torch.testing.assert_close(values.float(), want.values, atol=2e-2, rtol=1e-3)  # float16 in the cache
        assert (indices == want.indices).float().mean() > 0.95  # near-ties may swap after float16 rounding


def test_cached_kd_resumes_exactly_and_students_share_the_cache(setup, tmp_path, monkeypatch):
    kw = dict(alpha=0.3, temperature=2.0, lang_token=False, max_steps=3, final_model="last", cache_topk=8)
    kw |= dict(teachers=str(setup["experts"]), teacher_cache=str(tmp_path / "cache"))
    first = distill(None, common(setup, tmp_path / "a", **kw))  # fills the cache
    assert len(list((tmp_path / "cache").glob("shard-*.safetensors"))) == 1
    check_cache_holds_the_teachers_top_k(setup, tmp_path / "cache")

    def no_teachers(*args, **kwargs):
        raise AssertionError("the teachers must not run when the cache is complete")

    monkeypatch.setattr(distill_trainer, "Teachers", no_teachers)

    def kill(step: int) -> None:
        if step == 2:
            raise KeyboardInterrupt

    cfg = DistillConfig(**common(setup, tmp_path / "b", **kw))
    with pytest.raises(KeyboardInterrupt):
        train(cfg, on_step=kill, trainer=DistillTrainer)
    resumed = train(cfg, trainer=DistillTrainer)
    a, b = adapter(first), adapter(resumed)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    meta = ModelMeta.load(resumed)
    assert not meta.lang_token and meta.extra["distill"]["cache_topk"] == 8
    assert (meta.extra["mode"], meta.kind) == ("shared", "lora")
    # an aware student with another alpha reuses the same cache
    aware = distill(None, common(setup, tmp_path / "a", **{**kw, "lang_token": True, "alpha": 0.7, "name": "aware"}))
    assert ModelMeta.load(aware).lang_token


def test_init_from_fused_lora_and_full(setup, tmp_path):
    fused = fuse(setup["experts"], ["pl", "pt"], "sum", tmp_path / "fused", merge=True)
    # one step at a negligible learning rate leaves the student at its init (a run of 0 steps is refused)
    zero = dict(max_steps=1, lr=1e-12, alpha=0.5, teachers=str(setup["experts"]))
    student = distill(None, {**common(setup, tmp_path, **zero), "init": f"fused:{fused}", "name": "from_fused"})
    a, b = adapter(fused), adapter(student)
    assert a.keys() == b.keys() and all(torch.allclose(a[k], b[k]) for k in a)
    assert ModelMeta.load(student).extra["lora"]["rank"] == 8

    full = distill(None, {**common(setup, tmp_path, **zero), "mode": "full", "init": str(fused), "name": "full"})
    assert ModelMeta.load(full).kind == "full"
    got = WhisperForConditionalGeneration.from_pretrained(full).state_dict()
    want = WhisperForConditionalGeneration.from_pretrained(fused / "merged").state_dict()
    assert all(torch.allclose(got[k], want[k]) for k in want)


def test_bad_init(setup, tmp_path):
    fused = fuse(setup["experts"], ["pl", "pt"], "sum", tmp_path / "fused")
    full = tmp_path / "full"
    WhisperForConditionalGeneration.from_pretrained(setup["base"]).save_pretrained(full)
    meta = ModelMeta.load(fused)
    ModelMeta("full", meta.base_model, meta.base_fingerprint, ["pl"]).save(full)
    kw = {**common(setup, tmp_path, max_steps=1), "teachers": str(setup["experts"])}
    for init, message in [
        (f"shared:{fused}", "not a shared or full baseline"),
        (str(full), "LoRA student needs a LoRA unit"),
        (f"fused:{setup['experts'] / 'pl'}", "not an `lwasr fuse` output"),
        (str(tmp_path / "nothing"), "not an lwasr model"),
    ]:
        with pytest.raises(LwasrError, match=message):
            distill(None, {**kw, "init": init})


def test_missing_expert_and_foreign_base(setup, tmp_path):

    experts = tmp_path / "experts"
    make_shaped_expert(setup["base"], experts / "pl", "pl", 4, 8, False, ALL_TARGETS, seed=0)
    with pytest.raises(LwasrError, match="no training cuts for language.*it"):
        distill(None, {**common(setup, tmp_path, max_steps=1), "teachers": str(experts), "langs": ["pl", "it"]})
    with pytest.raises(LwasrError, match="no expert for pt"):
        distill(None, {**common(setup, tmp_path, max_steps=1), "teachers": str(experts)})
    other = build_tiny_whisper(tmp_path / "other", seed=1)
    make_shaped_expert(other, experts / "pt", "pt", 4, 8, False, ALL_TARGETS, seed=1)
    with pytest.raises(LwasrError, match="different base models"):
        distill(None, {**common(setup, tmp_path, max_steps=1), "teachers": str(experts)})


def test_cli_agnostic_student_decodes_without_language_token(setup, tmp_path):
    args = ["distill", "--teachers", str(setup["experts"]), "--cuts", str(setup["train"]), "--exp-dir", str(tmp_path)]
    args += ["--no-lang-token", "--max-steps", "1", "--max-duration", "2.5", "--alpha", "0.2", "--temperature", "1"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    unit = tmp_path / "distilled_agnostic"
    assert not ModelMeta.load(unit).lang_token and (tmp_path / "train_distilled_agnostic" / "train.log").is_file()

    system = load_system(str(unit))
    assert not system.lang_token
    prompts = []
    hook = lambda mod, args, kw: prompts.append(kw["input_ids"][:, :4]) if kw["input_ids"].shape[1] > 1 else None  # noqa: E731
    system.model.model.decoder.register_forward_pre_hook(hook, with_kwargs=True)
    lang_ids = set(system.model.generation_config.lang_to_id.values())
    for scenario in ("aware", "agnostic"):
        opts = DecodeOptions(scenario=scenario, max_new_tokens=3, batch_size=4)
        summary = decode_cuts(system, [setup["dev"]], tmp_path / scenario, opts, progress=False)
        assert summary["utterances"] == 2
    assert prompts and not any(int(t) in lang_ids for p in prompts for t in p[:, 1])
