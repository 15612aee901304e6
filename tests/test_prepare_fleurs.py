"""`lwasr prepare fleurs`: the real download + extraction code against a local stand-in for the hub."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import huggingface_hub
import pytest
from helpers import write_fleurs_split
from huggingface_hub.errors import EntryNotFoundError, LocalEntryNotFoundError
from lhotse import CutSet

from lwasr.data import fleurs
from lwasr.data.cuts import load_cuts
from lwasr.data.fleurs import prepare_fleurs
from lwasr.data.manifests import ORIG_TEXT, manifest_path
from lwasr.errors import LwasrError


@pytest.fixture()
def hub_copy(tmp_path: Path) -> Path:
    """What google/fleurs holds, for two languages; pl_pl dev has a missing file and an empty transcript."""
    root = tmp_path / "hub"
    write_fleurs_split(
        root,
        "pl_pl",
        "dev",
        [("1.wav", "Dzień dobry!", "dzień dobry"), ("2.wav", "Tak.", "   "), ("3.wav", "Nie ma.", "nie ma")],
        ["1.wav", "2.wav"],
    )
    write_fleurs_split(root, "pl_pl", "test", [("4.wav", "Raz, dwa.", "raz dwa")], ["4.wav"])
    write_fleurs_split(root, "cmn_hans_cn", "dev", [("5.wav", "你好。", "你好")], ["5.wav"])
    return root


@pytest.fixture()
def fake_hub(hub_copy: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Replace huggingface_hub.hf_hub_download with a local copy of the hub; returns the files fetched."""
    fetched: list[str] = []

    def hf_hub_download(repo_id, filename, *, repo_type=None, local_dir=None, local_files_only=False, **kw):
        assert repo_id == "google/fleurs" and repo_type == "dataset"
        target = Path(local_dir) / filename
        if local_files_only:
            if target.is_file():
                return str(target)
            raise LocalEntryNotFoundError("not in the local dir")
        src = hub_copy / filename
        if not src.is_file():
            raise EntryNotFoundError(f"404 {filename}")
        fetched.append(filename)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(src.read_bytes())
        return str(target)

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", hf_hub_download)
    return fetched


def test_download_extract_and_manifests(tmp_path: Path, fake_hub: list[str]) -> None:
    out = tmp_path / "fleurs"
    report = prepare_fleurs(["pl_pl", "cmn_hans_cn"], out, splits=["dev"], jobs=1)
    assert sorted(fake_hub) == sorted(
        [
            "data/pl_pl/dev.tsv",
            "data/pl_pl/audio/dev.tar.gz",
            "data/cmn_hans_cn/dev.tsv",
            "data/cmn_hans_cn/audio/dev.tar.gz",
        ]
    )
    assert (out / "audio" / "pl_pl" / "dev").is_dir()

    cuts = CutSet.from_file(manifest_path(out, "fleurs", "pl", "dev"))
    assert [c.id for c in cuts] == ["fleurs-pl-1"]
    sup = cuts[0].supervisions[0]
    assert (sup.text, sup.language, sup.gender, sup.custom[ORIG_TEXT]) == (
        "dzień dobry",
        "pl",
        "female",
        "Dzień dobry!",
    )
    assert cuts[0].load_audio().shape == (1, 16000)
    assert load_cuts(out, langs=["zh"], split="dev")[0].supervisions[0].language == "zh"

    data = json.loads((out / "report.json").read_text())
    pl = next(m for m in data["manifests"] if m["lang"] == "pl")
    assert pl["cuts"] == 1 and pl["dropped_by_reason"] == {"bad_line": 1, "empty_text": 1, "missing_audio": 1}
    assert {d["reason"] for d in data["dropped"] if d["lang"] == "zh"} == {"bad_line"}
    assert [r.cuts for r in report.splits] == [1, 1]

    # a second run downloads nothing and rebuilds nothing
    fake_hub.clear()
    again = prepare_fleurs(["pl_pl", "cmn_hans_cn"], out, splits=["dev"])
    assert fake_hub == [] and all(r.reused for r in again.splits)
    assert len(json.loads((out / "report.json").read_text())["dropped"]) == len(data["dropped"])


def test_interrupted_extraction_is_redone(tmp_path: Path, fake_hub: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "fleurs"

    def boom(*a, **k):
        raise KeyboardInterrupt

    with monkeypatch.context() as m:
        m.setattr(tarfile.TarFile, "extract", boom)
        with pytest.raises(KeyboardInterrupt):
            prepare_fleurs(["pl_pl"], out, splits=["test"])
    assert not (out / "audio" / "pl_pl" / "test").exists()
    assert not list((out / "audio" / "pl_pl").glob(".test.tmp*"))
    fake_hub.clear()
    prepare_fleurs(["pl_pl"], out, splits=["test"])
    assert fake_hub == []  # the archive was already downloaded
    assert len(CutSet.from_file(manifest_path(out, "fleurs", "pl", "test"))) == 1


def test_corpus_dir_never_touches_network(tmp_path: Path, hub_copy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_network(*a, **k):
        raise AssertionError("network used")

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", no_network)
    out = tmp_path / "fleurs"
    prepare_fleurs(["pl_pl"], out, splits=["dev", "test"], corpus_dir=hub_copy)
    assert len(load_cuts(out, split="test")) == 1
    assert not (hub_copy / "data" / "pl_pl" / "audio" / "test").exists()  # extracted under <out>, not the copy


def test_offline_and_bad_code_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake_hub: list[str]) -> None:
    with pytest.raises(LwasrError, match="no file data/xx_yy"):
        fleurs.hub_download("data/xx_yy/dev.tsv", tmp_path / "a")
    with pytest.raises(LwasrError, match="unknown language code 'xx'"):
        prepare_fleurs(["xx_yy"], tmp_path / "a")

    def offline(*a, **k):
        raise LocalEntryNotFoundError("cannot reach the hub")

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", offline)
    with pytest.raises(LwasrError, match="not reachable.*--corpus-dir"):
        prepare_fleurs(["pl_pl"], tmp_path / "b", splits=["dev"])
