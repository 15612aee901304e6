"""`lwasr prepare hf`: a local Hugging Face dataset (save_to_disk, parquet) into manifests (issue 28 item 3)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from datasets import ClassLabel, DatasetDict
from helpers import hf_dataset
from lhotse import CutSet
from typer.testing import CliRunner

from lwasr.cli import app
from lwasr.data.hf_dataset import prepare_hf
from lwasr.data.manifests import manifest_path
from lwasr.data.validate import validate_manifest
from lwasr.errors import LwasrError

#: seconds and sampling rate of each clip: 8 kHz, 22.05 kHz and 16 kHz sources
CLIPS = [(1.0, 8000), (1.5, 22050), (2.0, 16000)]
#: FLEURS, Common Voice and English-name codes: pl, pt, zh
ROWS = {"sentence": ["ala ma kota", "um dois três", "你好世界"], "locale": ["pl_pl", "pt-BR", "Mandarin"]}


def _cuts(out: Path, corpus: str, lang: str, split: str) -> list:
    return list(CutSet.from_file(manifest_path(out, corpus, lang, split)))


def _check(out: Path, corpus: str, split: str) -> None:
    """The three rows, one manifest per language: ids, texts, durations, 16 kHz mono audio; validate accepts them."""
    for row, (lang, (seconds, _)) in enumerate(zip(("pl", "pt", "zh"), CLIPS, strict=True)):
        path = manifest_path(out, corpus, lang, split)
        (cut,) = CutSet.from_file(path)
        sup = cut.supervisions[0]
        assert (cut.id, sup.text, sup.language) == (f"{corpus}-{split}-{row:06d}", ROWS["sentence"][row], lang)
        assert (cut.sampling_rate, cut.num_channels) == (16000, 1)
        assert cut.duration == pytest.approx(seconds, abs=1e-3)
        assert cut.load_audio().shape == (1, round(seconds * 16000))
        assert sup.custom == {"hf_row": row}
        assert validate_manifest(path) == (1, [])


def test_a_saved_dataset_becomes_manifests_that_validate_and_are_kept_on_a_rerun(tmp_path: Path) -> None:
    src = tmp_path / "saved"
    hf_dataset(tmp_path / "clips", CLIPS, **ROWS).save_to_disk(str(src))
    for wav in (tmp_path / "clips").iterdir():
        wav.unlink()  # save_to_disk holds the audio bytes: the source files are no longer needed
    out = tmp_path / "data" / "mine"
    report = prepare_hf(src, out, split="train")
    _check(out, "mine", "train")
    assert report.to_dict()["totals"] == {"cuts": 3, "hours": round(4.5 / 3600, 4), "dropped": 0}
    assert sorted(p.name for p in (out / "wav" / "mine" / "train").iterdir()) == [f"{i:06d}.wav" for i in range(3)]

    manifest = manifest_path(out, "mine", "pl", "train")
    mtime = manifest.stat().st_mtime_ns
    assert all(s.reused for s in prepare_hf(src, out, split="train").splits)
    assert manifest.stat().st_mtime_ns == mtime
    assert not any(s.reused for s in prepare_hf(src, out, split="train", force=True).splits)


def test_parquet_file_and_folder_with_split_names(tmp_path: Path) -> None:
    ds = hf_dataset(tmp_path / "clips", CLIPS, **ROWS)
    ds.to_parquet(str(tmp_path / "one.parquet"))
    prepare_hf(tmp_path / "one.parquet", tmp_path / "flat", split="dev", corpus="cv")
    _check(tmp_path / "flat", "cv", "dev")

    folder = tmp_path / "pq" / "data"
    ds.to_parquet(str(folder / "train-00000-of-00001.parquet"))
    ds.select([0]).to_parquet(str(folder / "validation-00000-of-00001.parquet"))
    report = prepare_hf(folder.parent, tmp_path / "split", corpus="cv")
    _check(tmp_path / "split", "cv", "train")
    assert {(s.lang, s.split, s.cuts) for s in report.splits} == {
        ("pl", "train", 1),
        ("pt", "train", 1),
        ("zh", "train", 1),
        ("pl", "dev", 1),
    }


def test_a_dataset_dict_maps_validation_to_dev_through_the_cli(tmp_path: Path) -> None:
    ds = hf_dataset(tmp_path / "clips", CLIPS, text=ROWS["sentence"])
    src = tmp_path / "dd"
    DatasetDict({"train": ds, "validation": ds.select([0, 1]), "test": ds.select([2]), "other": ds}).save_to_disk(
        str(src)
    )
    out = tmp_path / "out"
    args = ["prepare", "hf", str(src), "--out", str(out), "--lang", "pl_pl", "-j", "1"]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    assert "report:" in res.output
    counts = {(m["split"], m["lang"]): m["cuts"] for m in json.loads((out / "report.json").read_text())["manifests"]}
    assert counts == {("train", "pl"): 3, ("dev", "pl"): 2, ("test", "pl"): 1}  # "other" only when asked for
    assert [c.supervisions[0].text for c in _cuts(out, "out", "pl", "dev")] == ROWS["sentence"][:2]

    res = CliRunner().invoke(app, [*args, "--splits", "other"])
    assert res.exit_code == 0, res.output
    assert len(_cuts(out, "out", "pl", "other")) == 3
    with pytest.raises(LwasrError, match="holds the splits train, validation, test, other: choose among them with"):
        prepare_hf(src, out, split="train", lang="pl")
    with pytest.raises(LwasrError, match="has no split dev; it has: train, validation, test, other"):
        prepare_hf(src, out, lang="pl", splits=["dev"])


def test_named_columns_a_class_label_language_and_a_column_of_ids(tmp_path: Path) -> None:
    src = tmp_path / "saved"
    ds = hf_dataset(tmp_path / "clips", CLIPS[:2], words=["jeden", "dwa"], code=["pl_pl", "pl_pl"], key=["a1", "b2"])
    ds = ds.cast_column("code", ClassLabel(names=["en_us", "pl_pl"]))  # stored as 1, read as its name
    ds.rename_column("audio", "speech").save_to_disk(str(src))
    out = tmp_path / "out"
    cols = ["--audio-column", "speech", "--text-column", "words", "--lang-column", "code", "--id-column", "key"]
    res = CliRunner().invoke(app, ["prepare", "hf", str(src), "--out", str(out), "--split", "train", *cols])
    assert res.exit_code == 0, res.output
    cuts = _cuts(out, "out", "pl", "train")
    assert [(c.id, c.supervisions[0].text) for c in cuts] == [("a1", "jeden"), ("b2", "dwa")]
