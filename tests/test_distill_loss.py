"""Distillation pieces: teacher/student alignment on text positions, the KD loss, the teacher cache."""

from __future__ import annotations

import pytest
import torch
from helpers import make_cuts
from transformers import AutoTokenizer

from lwasr.data.cuts import load_cuts
from lwasr.distill.cache import TeacherCache
from lwasr.distill.config import DistillConfig, parse_init
from lwasr.distill.teachers import kd_loss, teacher_inputs
from lwasr.errors import LwasrError
from lwasr.training import data as D


@pytest.mark.parametrize(("student", "teacher"), [(False, True), (True, True), (True, False)])
def test_teacher_inputs_align_on_text_positions(tiny_whisper, tmp_path, student, teacher):
    tok = AutoTokenizer.from_pretrained(tiny_whisper)
    cuts = load_cuts([make_cuts(tmp_path, per_lang=2)])
    student_batch = D.AsrDataset(tok, lang_token=student)[cuts]
    want = D.AsrDataset(tok, lang_token=teacher)[cuts]  # what the teacher would see on its own
    ids, mask = teacher_inputs(tok, student_batch, student, teacher)
    assert torch.equal(ids, want["decoder_input_ids"]) and torch.equal(mask, want["labels"] != D.IGNORE)
    s_mask = student_batch["labels"] != D.IGNORE
    assert torch.equal(student_batch["labels"][s_mask], want["labels"][mask])  # same tokens, same order


def test_kd_loss():
    torch.manual_seed(0)
    s, t = torch.randn(5, 50), torch.randn(5, 50)
    assert kd_loss(t, t, 2.0).abs() < 1e-5
    p_t, log_p_s = (t / 2).softmax(-1), (s / 2).log_softmax(-1)
    torch.testing.assert_close(kd_loss(s, t, 2.0), (p_t * (p_t.log() - log_p_s)).sum())
    values, indices = t.topk(50, dim=-1)  # top-k with k = V is the full distribution
    torch.testing.assert_close(kd_loss(s, (values, indices), 2.0), kd_loss(s, t, 2.0))
    values, indices = t.topk(5, dim=-1)
    p_k = (values / 2).softmax(-1)
    want = (p_k * (p_k.log() - log_p_s.gather(-1, indices))).sum()
    torch.testing.assert_close(kd_loss(s, (values, indices), 2.0), want)


def test_cache_roundtrip_and_refusal(tmp_path):
    info = {"base_fingerprint": "f", "topk": 2, "teacher_lang_token": True, "trim_encoder_input": True}
    cache = TeacherCache(tmp_path, {**info, "teachers": {"pl": "a"}})
    v, i = torch.randn(3, 2), torch.randint(0, 9, (3, 2))
    cache.write(0, [("u1", v, i), ("u2", v[:1], i[:1])])
    again = TeacherCache(tmp_path, {**info, "teachers": {"pl": "a", "pt": "b"}})  # another language is fine
    assert again.missing(["u1", "u2", "u3"]) == ["u3"]
    values, indices = again.targets(["u2", "u1"], [1, 3])
    torch.testing.assert_close(values, torch.cat([v[:1], v]).half())
    assert torch.equal(indices, torch.cat([i[:1], i]).int())
    with pytest.raises(LwasrError, match="other number of text positions"):
        again.targets(["u1"], [2])
    with pytest.raises(LwasrError, match="other pl"):
        TeacherCache(tmp_path, {**info, "teachers": {"pl": "changed"}})
    with pytest.raises(LwasrError, match="other topk"):
        TeacherCache(tmp_path, {**info, "topk": 4, "teachers": {"pl": "a"}})


def test_config_checks():
    assert parse_init("fused:exp/f") == ("fused", __import__("pathlib").Path("exp/f"))
    assert parse_init("exp/x")[0] == "path" and parse_init("scratch") == ("scratch", None)
    for bad, message in [
        ({"alpha": 1.5}, "alpha"),
        ({"temperature": 0}, "temperature"),
        ({"teachers": ""}, "--teachers"),
        ({"mode": "expert", "lang": "pl"}, "mode must be shared"),
        ({"init": "fused:"}, "directory after"),
    ]:
        with pytest.raises(LwasrError, match=message):
            DistillConfig(**{"teachers": "t", **bad})
