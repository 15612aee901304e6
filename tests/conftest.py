"""Shared fixtures, built once per session: a tiny randomly initialised Whisper with the real multilingual
tokenizer, units made on it, manifests. Plain helpers live in helpers.py.

Every fixture here is only read by the tests that use it (a test that changes one works on a copy); a module
that needs another set of experts defines its own fixture of the same name, which pytest uses there instead.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import (
    ALL_TARGETS,
    ROUTER_CONFIG,
    build_tiny_whisper,
    make_blog_adapter,
    make_ct2,
    make_cuts,
    make_expert,
    make_shaped_expert,
    tone_cuts,
)


@pytest.fixture(scope="session")
def tiny_whisper(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Path of a tiny random Whisper model directory in Hugging Face format (built once per session)."""
    return build_tiny_whisper(tmp_path_factory.mktemp("tiny_whisper"))


@pytest.fixture(scope="session")
def other_base(tmp_path_factory) -> Path:
    """A tiny Whisper with the same architecture but other weights."""
    return build_tiny_whisper(tmp_path_factory.mktemp("other_base"), seed=1)


@pytest.fixture(scope="session")
def tiny_ct2(tiny_whisper: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny Whisper as a faster-whisper (CTranslate2) directory."""
    return make_ct2(tiny_whisper, tmp_path_factory.mktemp("ct2") / "tiny")


@pytest.fixture(scope="session")
def blog_adapter(tiny_whisper: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A PEFT LoRA adapter made as the Hugging Face blog recipe makes it (:func:`helpers.make_blog_adapter`, no
    lwasr.json) on the tiny Whisper, which its adapter_config.json names as its base."""
    return make_blog_adapter(tiny_whisper, tmp_path_factory.mktemp("blog") / "whisper-lora-it")


@pytest.fixture(scope="session")
def manifests(tmp_path_factory) -> tuple[Path, Path]:
    """Train (6 per language) and dev (2 per language) manifests of pl and pt, for :func:`helpers.small`."""
    root = tmp_path_factory.mktemp("data")
    return make_cuts(root / "train", per_lang=6), make_cuts(root / "dev", per_lang=2, name="cuts_dev")


@pytest.fixture(scope="session")
def experts(tiny_whisper: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An experts dir for decoding: pl and pt made by :func:`helpers.make_expert` (seeds 1 and 2; faults/
    test_decode_warnings.py has its own)."""
    root = tmp_path_factory.mktemp("exp") / "experts"
    for seed, lang in enumerate(("pl", "pt")):
        make_expert(tiny_whisper, root / lang, seed + 1, lang)
    return root


@pytest.fixture(scope="session")
def pl_pt_experts(tiny_whisper, tmp_path_factory) -> Path:
    """An experts dir with pl and pt, rank 4 on all targets (seeds 0 and 1)."""
    root = tmp_path_factory.mktemp("cli") / "experts"
    for seed, lang in enumerate(("pl", "pt")):
        make_shaped_expert(tiny_whisper, root / lang, lang, 4, 8, False, ALL_TARGETS, seed=seed)
    return root


@pytest.fixture(scope="session")
def experts_dir(tiny_whisper, other_base, tmp_path_factory) -> Path:
    """pl (rank 4), pt (rank 8), de (rank 4, q/v only), and cy from another base (test_fuse_static has its own)."""
    root = tmp_path_factory.mktemp("learned") / "experts"
    make_shaped_expert(tiny_whisper, root / "pl", "pl", 4, 8, False, ALL_TARGETS, seed=0)
    make_shaped_expert(tiny_whisper, root / "pt", "pt", 8, 16, False, ALL_TARGETS, seed=1)
    make_shaped_expert(tiny_whisper, root / "de", "de", 4, 8, False, ["q_proj", "v_proj"], seed=2)
    make_shaped_expert(other_base, root / "cy", "cy", 4, 8, False, ALL_TARGETS, seed=3)
    return root


@pytest.fixture(scope="session")
def router_exp(tiny_whisper: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Experts pl and pt (:func:`helpers.make_expert`), tone manifests (:func:`helpers.tone_cuts`: train 12, dev 4
    and test 3 per language) and a router trained on them (``router``), with the base model (``base``)."""
    from lwasr.routing.train import train_router

    root = tmp_path_factory.mktemp("router")
    for seed, lang in enumerate(("pl", "pt")):
        make_expert(tiny_whisper, root / "experts" / lang, seed + 1, lang)
    paths = {
        name: tone_cuts(root / "data", name, n, seed)
        for seed, (name, n) in enumerate((("train", 12), ("dev", 4), ("test", 3)))
    }
    line = train_router(
        root / "experts", [paths["train"]], [paths["dev"]], root / "router", ROUTER_CONFIG, progress=False
    )
    assert line.startswith(str(root / "router"))
    return {**paths, "experts": root / "experts", "router": root / "router", "base": tiny_whisper}


@pytest.fixture
def no_model(monkeypatch: pytest.MonkeyPatch) -> None:
    """Loading a Whisper model or an adapter fails the test (``--print-config`` plans only)."""
    from peft import PeftModel
    from transformers import WhisperForConditionalGeneration

    def refuse(*args, **kwargs):
        raise AssertionError("--print-config loaded a model")

    monkeypatch.setattr(WhisperForConditionalGeneration, "from_pretrained", refuse)
    monkeypatch.setattr(PeftModel, "from_pretrained", refuse)
