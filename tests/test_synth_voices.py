"""`lwasr prepare synth` speakers: the test split's espeak-ng voice variants are unseen in train and dev.

The corpora are tiny (a few utterances of the shipped sentence lists), so espeak-ng takes a second or two."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from helpers import one_line_error, run_main

from lwasr.data.cuts import load_cuts
from lwasr.data.synth import DEFAULT_VARIANTS, ESPEAK_VOICES, TEST_VARIANTS, espeak_variants, prepare_synth
from lwasr.errors import LwasrError

pytestmark = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")
SIZES = {"train": 8, "dev": 2, "test": 6}


def speakers(out: Path, split: str) -> dict[str, str]:
    """Cut id -> the variant of its speaker (``pl+m3`` -> ``m3``), over every language of ``split``."""
    return {c.id: c.supervisions[0].speaker.split("+", 1)[1] for c in load_cuts(out, split=split)}


def test_test_speakers_are_unseen_in_train_and_dev_and_the_split_is_recorded(tmp_path):
    out = tmp_path / "a"
    prepare_synth(["pl", "it"], out, sizes=SIZES, jobs=2, seed=1)
    seen = set(speakers(out, "train").values()) | set(speakers(out, "dev").values())
    test = set(speakers(out, "test").values())
    assert seen <= set(DEFAULT_VARIANTS) and test <= set(TEST_VARIANTS)
    assert test and not (test & seen)
    side = json.loads((out / "manifests" / "synth_pl_test_report.json").read_text())
    assert side["fingerprint"]["variants"] == list(TEST_VARIANTS)
    train_side = json.loads((out / "manifests" / "synth_pl_train_report.json").read_text())
    assert train_side["fingerprint"]["variants"] == list(DEFAULT_VARIANTS)
    # deterministic: another run elsewhere draws the same speakers
    prepare_synth(["pl", "it"], tmp_path / "b", sizes=SIZES, jobs=1, seed=1)
    for split in SIZES:
        assert speakers(tmp_path / "b", split) == speakers(out, split)


def test_seen_test_voices_and_a_test_seen_split(tmp_path):
    seen_out = tmp_path / "seen"
    prepare_synth(["pl"], seen_out, sizes=SIZES, jobs=1, test_voices="seen")
    assert set(speakers(seen_out, "test").values()) <= set(DEFAULT_VARIANTS)

    out = tmp_path / "both"
    prepare_synth(["pl"], out, sizes=SIZES, jobs=1, test_seen=3)
    test_seen = load_cuts(out, "pl", split="test-seen")
    assert len(test_seen) == 3 and set(speakers(out, "test-seen").values()) <= set(DEFAULT_VARIANTS)
    test_texts = {c.supervisions[0].text for c in load_cuts(out, "pl", split="test")}
    assert {c.supervisions[0].text for c in test_seen} <= test_texts  # the test sentences, seen speakers


def test_voice_split_errors(tmp_path, monkeypatch, capsys):
    with pytest.raises(LwasrError, match="--test-variants shares m1 with --variants"):
        prepare_synth(["pl"], tmp_path, test_variants=["m1", "m8"])
    with pytest.raises(LwasrError, match="--test-seen 2 needs a test split of unseen speakers"):
        prepare_synth(["pl"], tmp_path, test_voices="seen", test_seen=2)
    with pytest.raises(LwasrError, match="--test-voices 'all': use one of unseen, seen"):
        prepare_synth(["pl"], tmp_path, test_voices="all")
    code, err = run_main(monkeypatch, capsys, "prepare", "synth", "--out", str(tmp_path), "--test-variants", "f1")
    assert code == 2 and one_line_error(err).startswith("error: --test-variants shares f1 with --variants")
    assert not (tmp_path / "manifests").exists()


def test_espeak_variants_reads_the_file_column():
    """Names with a space ("Mr serious") and rows with Other Languages ("Storm ... (en-us 5)") parse whole."""
    have = espeak_variants()
    assert {"Mr serious", "Storm"} <= have and not {"serious", "5)"} & have


def test_every_variant_changes_the_voice_of_every_language():
    """espeak-ng ignores an unknown variant silently, so each one must make audio unlike the plain voice."""

    def speak(voice: str, text: str) -> bytes:
        res = subprocess.run(["espeak-ng", "-v", voice, "--stdout", text], capture_output=True, timeout=30)
        assert res.returncode == 0 and len(res.stdout) > 1000, (voice, res.stderr)
        return res.stdout

    for lang, voice in ESPEAK_VOICES.items():
        builtin = Path(__file__).parents[1] / "lwasr" / "data" / "text" / f"{lang}.txt"
        # a voice with no built-in list (an adaptation language: fr) reads numbers, in its own language
        text = builtin.read_text().split("\n")[0] if builtin.is_file() else "123 456 7890"
        plain = speak(voice, text)
        for variant in (*DEFAULT_VARIANTS, *TEST_VARIANTS):
            assert speak(f"{voice}+{variant}", text) != plain, f"{voice}+{variant} sounds like {voice}"
