import pytest
from transformers import WhisperForConditionalGeneration

from lwasr.errors import LwasrError
from lwasr.units.meta import ModelMeta, base_fingerprint, check_same_base


def test_meta_round_trip(tmp_path):
    meta = ModelMeta(kind="lora", base_model="embedded:whisper-base", base_fingerprint="abc", languages=["pl"])
    meta.save(tmp_path)
    assert ModelMeta.load(tmp_path) == meta


def test_missing_meta_is_a_clear_error(tmp_path):
    with pytest.raises(LwasrError, match="not an lwasr model"):
        ModelMeta.load(tmp_path)


def test_fingerprint_sees_weight_changes_and_ignores_lora(tiny_whisper):
    import torch
    from peft import LoraConfig, get_peft_model

    model = WhisperForConditionalGeneration.from_pretrained(tiny_whisper)
    fp = base_fingerprint(model)
    assert fp == base_fingerprint(WhisperForConditionalGeneration.from_pretrained(tiny_whisper))
    peft_model = get_peft_model(model, LoraConfig(r=4, target_modules=["q_proj", "v_proj"]))
    assert base_fingerprint(peft_model) == fp
    other = WhisperForConditionalGeneration.from_pretrained(tiny_whisper)
    with torch.no_grad():
        other.model.encoder.conv1.weight.add_(1.0)
    assert base_fingerprint(other) != fp
    with pytest.raises(LwasrError, match="different base models"):
        check_same_base({"pl": fp, "pt": base_fingerprint(other)})


def test_atomic_outputs_get_normal_permissions(tmp_path):
    import os

    from lwasr.atomic import atomic_path, write_text

    write_text(tmp_path / "a.txt", "x")
    with atomic_path(tmp_path / "d", is_dir=True) as d:
        (d / "f").write_text("y")
    umask = os.umask(0)
    os.umask(umask)
    assert (tmp_path / "a.txt").stat().st_mode & 0o777 == 0o666 & ~umask
    assert (tmp_path / "d").stat().st_mode & 0o777 == 0o777 & ~umask
