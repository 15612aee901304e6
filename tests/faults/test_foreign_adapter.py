"""`lwasr model import-adapter` with an adapter that cannot become an expert: one line, exit 2, nothing written."""

from __future__ import annotations

import json
import os
import pickle
import shutil
from pathlib import Path

import pytest
import torch
from helpers import one_line_error, run_main
from peft import IA3Config, get_peft_model
from safetensors.torch import load_file, save_file
from transformers import WhisperForConditionalGeneration

WEIGHTS = "adapter_model.safetensors"
Q_A = "base_model.model.model.encoder.layers.0.self_attn.q_proj.lora_A.weight"


def adapter_copy(blog_adapter: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(blog_adapter, tmp_path / "adapter"))


def refused(monkeypatch, capsys, src: Path, dst: Path, *extra: str) -> str:
    """The one error line of importing ``src`` to ``dst``, checking it exits 2 and writes nothing at ``dst``."""
    status, err = run_main(monkeypatch, capsys, "model", "import-adapter", str(src), str(dst), "--lang", "it", *extra)
    assert status == 2, err
    assert not dst.exists()
    return one_line_error(err)


def edit_config(src: Path, **changes) -> None:
    config = json.loads((src / "adapter_config.json").read_text())
    (src / "adapter_config.json").write_text(json.dumps({**config, **changes}))


def test_a_factor_of_another_shape_is_one_line_naming_the_tensor_and_both_shapes(
    blog_adapter, monkeypatch, capsys, tmp_path
):
    src = adapter_copy(blog_adapter, tmp_path)
    tensors = load_file(src / WEIGHTS)
    assert tensors[Q_A].shape == (4, 64)
    save_file({**tensors, Q_A: torch.randn(4, 96)}, src / WEIGHTS)  # made on a base 96 wide
    line = refused(monkeypatch, capsys, src, tmp_path / "it")
    assert Q_A in line and "(4, 96)" in line and "(4, 64)" in line


def test_a_pickled_adapter_is_refused_and_never_unpickled(blog_adapter, monkeypatch, capsys, tmp_path):
    src = adapter_copy(blog_adapter, tmp_path)
    ran = tmp_path / "payload-ran"
    (src / WEIGHTS).unlink()
    (src / "adapter_model.bin").write_bytes(pickle.dumps(Payload(str(ran))))
    line = refused(monkeypatch, capsys, src, tmp_path / "it")
    assert "adapter_model.bin" in line and "pickle" in line and "safe_serialization=True" in line
    assert not ran.exists()


class Payload:
    """Unpickling it creates the file ``path`` (what a hostile adapter_model.bin could do, and worse)."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return os.mknod, (self.path,)


def test_an_adapter_of_another_peft_type_is_one_line(tiny_whisper, monkeypatch, capsys, tmp_path):
    base = WhisperForConditionalGeneration.from_pretrained(tiny_whisper)
    config = IA3Config(target_modules=["k_proj", "v_proj", "fc2"], feedforward_modules=["fc2"])
    src = tmp_path / "ia3"
    get_peft_model(base, config).save_pretrained(src)
    line = refused(monkeypatch, capsys, src, tmp_path / "it")
    assert "'IA3' adapter" in line and "only LoRA" in line


@pytest.mark.parametrize(
    ("option", "named"), [({"use_dora": True}, "uses use_dora"), ({"rank_pattern": {"fc1": 8}}, "uses rank_pattern")]
)
def test_a_lora_with_options_an_expert_cannot_carry_is_one_line(
    option, named, blog_adapter, monkeypatch, capsys, tmp_path
):
    src = adapter_copy(blog_adapter, tmp_path)
    edit_config(src, **option)
    assert named in refused(monkeypatch, capsys, src, tmp_path / "it")


@pytest.mark.parametrize("content", [None, "{not json", "[1, 2]"])
def test_a_missing_or_garbage_adapter_config_is_one_line(content, blog_adapter, monkeypatch, capsys, tmp_path):
    src = adapter_copy(blog_adapter, tmp_path)
    if content is None:
        (src / "adapter_config.json").unlink()
    else:
        (src / "adapter_config.json").write_text(content)
    line = refused(monkeypatch, capsys, src, tmp_path / "it")
    assert "adapter_config.json" in line


def test_an_adapter_for_a_model_that_is_not_whisper_is_one_line(blog_adapter, monkeypatch, capsys, tmp_path):
    bert = tmp_path / "bert-base"
    bert.mkdir()
    (bert / "config.json").write_text(json.dumps({"model_type": "bert", "hidden_size": 64}))
    src = adapter_copy(blog_adapter, tmp_path)
    edit_config(src, base_model_name_or_path=str(bert))
    line = refused(monkeypatch, capsys, src, tmp_path / "it")
    assert "'bert' model, not Whisper" in line


def test_factors_of_modules_the_whisper_base_lacks_are_one_line(blog_adapter, monkeypatch, capsys, tmp_path):
    src = adapter_copy(blog_adapter, tmp_path)
    llama = {k.replace("model.encoder.layers", "model.layers"): v for k, v in load_file(src / WEIGHTS).items()}
    save_file(llama, src / WEIGHTS)
    line = refused(monkeypatch, capsys, src, tmp_path / "it")
    assert "model.layers.0.self_attn.q_proj, which is not a linear layer of the Whisper base" in line


def test_an_adapter_with_nan_weights_is_one_line(blog_adapter, monkeypatch, capsys, tmp_path):
    src = adapter_copy(blog_adapter, tmp_path)
    tensors = load_file(src / WEIGHTS)
    tensors[Q_A][0, 0] = float("nan")
    save_file(tensors, src / WEIGHTS)
    line = refused(monkeypatch, capsys, src, tmp_path / "it")
    assert Q_A in line and "NaN" in line


def test_an_output_holding_something_else_or_another_import_is_refused(blog_adapter, monkeypatch, capsys, tmp_path):
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "NOTES.txt").write_text("mine")
    status, err = run_main(
        monkeypatch, capsys, "model", "import-adapter", str(blog_adapter), str(foreign), "--lang", "it", "--overwrite"
    )
    assert status == 2 and "NOTES.txt" in one_line_error(err)
    assert [p.name for p in foreign.iterdir()] == ["NOTES.txt"]
    dst = tmp_path / "it"
    status, err = run_main(monkeypatch, capsys, "model", "import-adapter", str(blog_adapter), str(dst), "--lang", "it")
    assert status in (0, None), err
    before = (dst / "lwasr.json").read_bytes()
    status, err = run_main(monkeypatch, capsys, "model", "import-adapter", str(blog_adapter), str(dst), "--lang", "pt")
    assert status == 2 and "lang: it -> pt" in one_line_error(err) and "--overwrite" in err
    assert (dst / "lwasr.json").read_bytes() == before
    status, err = run_main(
        monkeypatch, capsys, "model", "import-adapter", str(blog_adapter), str(dst), "--lang", "pt", "--overwrite"
    )
    assert status in (0, None), err
    assert json.loads((dst / "lwasr.json").read_text())["languages"] == ["pt"]
