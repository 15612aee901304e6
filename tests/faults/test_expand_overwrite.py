"""`lwasr expand --overwrite` replaces only what lwasr wrote, and only once the new unit is complete (issue 26.1)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from peft import LoraConfig

from lwasr.atomic import OUTPUT_MARKER
from lwasr.errors import LwasrError
from lwasr.expansion.expand import expand
from lwasr.training.config import LORA_TARGETS
from lwasr.units.meta import ModelMeta


def lora_unit(path: Path, langs: list[str], producer: str) -> Path:
    path.mkdir(parents=True)
    LoraConfig(r=4, lora_alpha=8, target_modules=list(LORA_TARGETS)).save_pretrained(str(path))
    ModelMeta("lora", "embedded:whisper-base", "f" * 16, langs).save(path)
    (path / OUTPUT_MARKER).write_text(json.dumps({"producer": producer}) + "\n")
    return path


def hashes(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in root.rglob("*") if p.is_file()
    }


def test_expand_overwrite_keeps_the_earlier_run_until_the_new_unit_is_complete(tmp_path, monkeypatch):
    """Before the fix, `expand --overwrite` deleted train_<lang>/ (checkpoints, logs, a user's file) first."""
    experts = tmp_path / "exp" / "experts"
    for lang in ("pl", "pt"):
        lora_unit(experts / lang, [lang], "lwasr train")
    out = lora_unit(tmp_path / "exp" / "expand_random" / "it", ["it"], "lwasr expand")
    run = out.parent / "train_it"
    (run / "checkpoints").mkdir(parents=True)
    (run / "train.log").write_text("the earlier run\n")
    (run / "my_notes.txt").write_text("mine\n")
    before = hashes(out.parent)

    def interrupted(cfg, trainer=None):  # the new run dies before its unit is complete
        raise LwasrError("interrupted")

    monkeypatch.setattr("lwasr.expansion.expand.train", interrupted)
    with pytest.raises(LwasrError, match="interrupted"):
        expand(
            experts=experts, new_lang="it", cuts=[tmp_path / "cuts.jsonl.gz"], init="random", out=out, overwrite=True
        )
    assert hashes(out.parent) == before  # the earlier unit, its run dir and the user's file are all still there
