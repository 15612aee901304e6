"""The LoRA shape of a unit: recorded once in its lwasr.json (``extra.lora``), read by one function."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import torch
from peft import LoraConfig, get_peft_model
from transformers import WhisperForConditionalGeneration

from lwasr.errors import LwasrError
from lwasr.fusion.run import fuse
from lwasr.training.config import TrainConfig
from lwasr.units.meta import ADAPTER_CONFIG, LoraShape, ModelMeta, base_fingerprint, lora_shape

SHAPE = LoraShape(rank=4, alpha=8, target_modules=("v_proj", "q_proj"), dropout=0.1)


def expert(base_dir: Path, out: Path, lang: str, rank: int, record: bool = True) -> Path:
    """A LoRA unit made with peft directly (random non-zero factors); ``record``: its lwasr.json has extra.lora."""
    base = WhisperForConditionalGeneration.from_pretrained(base_dir)
    torch.manual_seed(rank)
    config = LoraConfig(r=rank, lora_alpha=2 * rank, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    get_peft_model(base, config).save_pretrained(out)
    extra = {"lora": LoraShape.of_config(config).record()} if record else {}
    ModelMeta("lora", str(base_dir), base_fingerprint(base), [lang], extra=extra).save(out)
    return out


def test_the_record_is_read_back_and_gives_the_run_settings(tmp_path: Path) -> None:
    ModelMeta("lora", "embedded:whisper-base", "", ["pl"], extra={"lora": SHAPE.record()}).save(tmp_path)
    assert lora_shape(tmp_path) == SHAPE and SHAPE.target_modules == ("q_proj", "v_proj")
    settings = SHAPE.settings()
    assert set(settings) <= {f.name for f in dataclasses.fields(TrainConfig)}
    assert LoraShape.of_settings(TrainConfig(**settings, mode="shared", langs=["pl"], cuts=["c"])) == SHAPE


def test_a_unit_that_does_not_record_it_has_it_in_its_adapter_config(tiny_whisper: Path, tmp_path: Path) -> None:
    unit = expert(tiny_whisper, tmp_path / "pl", "pl", rank=3, record=False)
    config = json.loads((unit / ADAPTER_CONFIG).read_text())
    assert lora_shape(unit) == LoraShape(3, 6, ("q_proj", "v_proj"), config["lora_dropout"])


def test_a_unit_without_a_lora_is_one_clear_error(tmp_path: Path) -> None:
    ModelMeta("full", "embedded:whisper-base", "", ["pl"]).save(tmp_path / "full")
    with pytest.raises(LwasrError, match="holds no LoRA adapter"):
        lora_shape(tmp_path / "full")
    ModelMeta("lora", "embedded:whisper-base", "", ["pl"]).save(tmp_path / "ia3")
    (tmp_path / "ia3" / ADAPTER_CONFIG).write_text(json.dumps({"peft_type": "IA3"}))
    with pytest.raises(LwasrError, match="is not a LoRA adapter"):
        lora_shape(tmp_path / "ia3")
    ModelMeta("lora", "embedded:whisper-base", "", ["pl"], extra={"lora": {"rank": 4}}).save(tmp_path / "bad")
    with pytest.raises(LwasrError, match="malformed"):
        lora_shape(tmp_path / "bad")


def test_a_fused_unit_records_the_shape_of_its_adapter(tiny_whisper: Path, tmp_path: Path) -> None:
    for lang, rank in (("pl", 2), ("pt", 3)):
        expert(tiny_whisper, tmp_path / "experts" / lang, lang, rank)
    fused = fuse(tmp_path / "experts", ["pl", "pt"], "sum", tmp_path / "fused")
    recorded = ModelMeta.load(fused).extra["lora"]
    assert LoraShape.of_record(recorded) == LoraShape.of_config(json.loads((fused / ADAPTER_CONFIG).read_text()))
    assert recorded["rank"] == 5
