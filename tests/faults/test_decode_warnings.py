"""What a decode warns about: nothing from transformers' deprecations; an expert used on another language's cuts."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import pytest
from helpers import OPTS, make_expert, write_cuts

from lwasr.decoding.search import DecodeOptions, decode_cuts
from lwasr.decoding.systems import load_system

SEARCH_LOG = "lwasr.decoding.search"


@pytest.fixture(scope="module")
def experts(tiny_whisper: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An experts dir with a pl expert only (in place of conftest.py's pl and pt)."""
    root = tmp_path_factory.mktemp("exp") / "experts"
    make_expert(tiny_whisper, root / "pl", 1, "pl")
    return root


@pytest.fixture(scope="module")
def cuts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One pl cut and two pt cuts."""
    specs = [("pl_0", "pl", 0.5), ("pt_0", "pt", 0.6), ("pt_1", "pt", 0.7)]
    return write_cuts(tmp_path_factory.mktemp("cuts"), specs)


@pytest.mark.parametrize("unit", ["experts", "lora"])
def test_decode_emits_no_future_warning(experts: Path, cuts: Path, tmp_path: Path, unit: str) -> None:
    """peft reads the deprecated `is_gradient_checkpointing` of the base model whenever it wraps one."""
    spec = experts if unit == "experts" else experts / "pl"
    opts = DecodeOptions(**{**OPTS.__dict__, "scenario": "agnostic", "lid_langs": ("pl",)})
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        decode_cuts(load_system(str(spec)), [cuts], tmp_path / "out", opts, progress=False)
    assert [str(w.message) for w in seen if issubclass(w.category, FutureWarning)] == []


def foreign_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == SEARCH_LOG and r.levelno == logging.WARNING]


def test_expert_on_another_languages_cuts_warns_once(
    experts: Path, cuts: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A pl-only unit asked to decode pt cuts: one warning with the counts, in every scenario."""
    system = load_system(str(experts / "pl"))
    for scenario in ("aware", "agnostic"):
        caplog.clear()
        opts = DecodeOptions(**{**OPTS.__dict__, "scenario": scenario, "batch_size": 1})
        with caplog.at_level(logging.WARNING, logger=SEARCH_LOG):
            decode_cuts(system, [cuts], tmp_path / scenario, opts, progress=False)
        (msg,) = foreign_warnings(caplog)
        assert "trained on pl" in msg and "decodes 2 cuts labelled pt" in msg and str(experts / "pl") in msg


def test_experts_agnostic_warns_for_languages_without_expert(
    experts: Path, cuts: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    opts = DecodeOptions(**{**OPTS.__dict__, "scenario": "agnostic"})
    with caplog.at_level(logging.WARNING, logger=SEARCH_LOG):
        decode_cuts(load_system(str(experts)), [cuts], tmp_path / "agn", opts, progress=False)
    (msg,) = foreign_warnings(caplog)
    assert "decodes 2 cuts labelled pt" in msg


def test_matching_languages_do_not_warn(
    experts: Path, tiny_whisper: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A unit on its own language, and a base model (trained on no language in particular): no warning."""
    (tmp_path / "pl").mkdir()
    pl = write_cuts(tmp_path / "pl", [("pl_0", "pl", 0.5)])
    with caplog.at_level(logging.WARNING, logger=SEARCH_LOG):
        decode_cuts(load_system(str(experts / "pl")), [pl], tmp_path / "unit", OPTS, progress=False)
        decode_cuts(load_system(str(tiny_whisper)), [pl], tmp_path / "base", OPTS, progress=False)
    assert foreign_warnings(caplog) == []
