"""`prepare synth --train-text catalogs`: sentences from gettext catalogs, parsed without gettext's loader,
filtered to sentence-like lines, added to train only, deduplicated against dev and test."""

from __future__ import annotations

import gzip
import json
import shutil
import struct
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lwasr.cli import app
from lwasr.data.catalogs import catalog_sentences, mo_messages, sentence_like
from lwasr.data.synth import load_sentences, sentence_pools, split_sentences
from lwasr.errors import LwasrError


def write_mo(path: Path, messages: dict[str, str], charset: str = "UTF-8", order: str = "<") -> Path:
    """A compiled gettext catalog (header first, as msgfmt writes it)."""
    entries = {"": f"Content-Type: text/plain; charset={charset}\n", **messages}
    keys = sorted(entries)
    ids = [k.encode(charset) for k in keys]
    strs = [entries[k].encode(charset) for k in keys]
    n = len(keys)
    start = 28 + 16 * n
    blob, ids_table, strs_table = b"", [], []
    for table, items in ((ids_table, ids), (strs_table, strs)):
        for item in items:
            table.append((len(item), start + len(blob)))
            blob += item + b"\0"
    head = struct.pack(order + "7I", 0x950412DE, 0, n, 28, 28 + 8 * n, 0, 0)
    tables = b"".join(struct.pack(order + "2I", *e) for e in ids_table + strs_table)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(head + tables + blob)
    return path


PL = {
    "a": "Nie można otworzyć pliku konfiguracyjnego systemu.",
    "b": "Nie można otworzyć %s: brak pliku.",  # a placeholder
    "c": "Zapisz",  # a label, not a sentence
    "d": "Użyj opcji --force, aby wymusić działanie.",  # an option
    "e": "Ten program wymaga uprawnień administratora systemu.",
    "f": "Ten program wymaga uprawnień administratora  systemu.",  # a repeat, once spaces are collapsed
    "g": "W muzeum była ciekawa wystawa obrazów.",  # a built-in sentence (dev or test: must not reach train)
}


def test_mo_messages_reads_both_byte_orders_and_the_header_charset(tmp_path: Path) -> None:
    msgs = {"x": "Zażółć gęślą jaźń, proszę bardzo teraz."}
    for order in "<>":
        assert list(mo_messages(write_mo(tmp_path / f"{order == '<'}.mo", msgs, order=order))) == [msgs["x"]]
    latin = write_mo(tmp_path / "l.mo", {"x": "Ça marche très bien, merci beaucoup."}, charset="ISO-8859-1")
    assert list(mo_messages(latin)) == ["Ça marche très bien, merci beaucoup."]
    (tmp_path / "bad.mo").write_bytes(b"not a catalog at all, really")
    with pytest.raises(LwasrError, match="not a gettext .mo catalog"):
        list(mo_messages(tmp_path / "bad.mo"))


def test_sentence_like() -> None:
    assert sentence_like("Nie można otworzyć pliku konfiguracyjnego systemu.", "pl")
    assert not sentence_like("Nie można otworzyć pliku", "pl")  # no full stop
    assert not sentence_like("Plik /etc/passwd nie istnieje w systemie.", "pl")  # a path
    assert not sentence_like("Wartość musi być mniejsza niż 10 sekund.", "pl")  # digits
    assert sentence_like("Η λειτουργία δεν υποστηρίζεται από το σύστημα.", "el")
    assert not sentence_like("Η λειτουργία GTK δεν υποστηρίζεται από το σύστημα.", "el")  # Latin in Greek
    assert sentence_like("ファイルがみつかりません。", "ja")
    assert not sentence_like("ファイルが見つかりません。", "ja")  # kanji: espeak-ng reads kana only
    assert sentence_like("无法打开配置文件。", "zh")


def test_catalog_sentences_filter_and_deduplicate(tmp_path: Path) -> None:
    write_mo(tmp_path / "pl" / "LC_MESSAGES" / "one.mo", PL)
    write_mo(tmp_path / "pl_PL" / "LC_MESSAGES" / "two.mo", {"z": "Operacja zakończyła się pomyślnie bez błędów."})
    write_mo(tmp_path / "zh_TW" / "LC_MESSAGES" / "t.mo", {"z": "無法開啟設定檔案。"})  # traditional: not read
    got = catalog_sentences("pl", tmp_path)
    assert got == [PL["a"], PL["e"], PL["g"], "Operacja zakończyła się pomyślnie bez błędów."]
    assert catalog_sentences("zh", tmp_path) == []


def test_pools_keep_dev_and_test_and_add_catalog_text_to_train(tmp_path: Path) -> None:
    write_mo(tmp_path / "pl" / "LC_MESSAGES" / "one.mo", PL)
    sizes = {"train": 160, "dev": 16, "test": 192}
    builtin = sentence_pools("pl", sizes, 0)
    assert builtin == split_sentences(load_sentences("pl"), sizes, 0)
    assert PL["g"] in builtin["test"]
    for train in (160, 2000):  # more training utterances than the list has: dev and test stay the same
        pools = sentence_pools("pl", {**sizes, "train": train}, 0, train_text="catalogs", locale_dir=tmp_path)
        assert pools["dev"] == builtin["dev"] and pools["test"] == builtin["test"]
        assert pools["train"][: len(builtin["train"])] == builtin["train"]
        added = pools["train"][len(builtin["train"]) :]
        assert sorted(added) == sorted([PL["a"], PL["e"]])  # not the test sentence g
        assert not set(pools["train"]) & set(pools["dev"] + pools["test"])
    with pytest.raises(LwasrError, match="--train-text"):
        sentence_pools("pl", sizes, 0, train_text="web")


def test_language_without_a_list_takes_every_split_from_the_catalogs(tmp_path: Path) -> None:
    msgs = {str(i): f"Esta es la frase número {w} del catálogo de pruebas." for i, w in enumerate("abcdefghij")}
    write_mo(tmp_path / "es" / "LC_MESSAGES" / "m.mo", msgs)
    pools = sentence_pools("es", {"train": 6, "dev": 2, "test": 0}, 0, train_text="catalogs", locale_dir=tmp_path)
    assert (len(pools["train"]), len(pools["dev"]), len(pools["test"])) == (8, 2, 0)
    with pytest.raises(LwasrError, match="no sentences for 'es'"):
        sentence_pools("es", {"train": 6}, 0, train_text="catalogs", locale_dir=tmp_path / "none")


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="needs espeak-ng (tools/install.sh installs it)")
def test_cli_prepares_a_language_from_catalogs(tmp_path: Path) -> None:
    msgs = {str(i): f"Esta es la frase número {w} del catálogo de pruebas." for i, w in enumerate("abcdefghij")}
    write_mo(tmp_path / "locale" / "es" / "LC_MESSAGES" / "m.mo", msgs)
    args = ["prepare", "synth", "--langs", "es", "--out", str(tmp_path / "d"), "--train", "3", "--dev", "1"]
    args += ["--test", "0", "--train-text", "catalogs", "--locale-dir", str(tmp_path / "locale"), "-j", "1"]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    with gzip.open(tmp_path / "d" / "manifests" / "synth_es_train_cuts.jsonl.gz", "rt") as f:
        texts = [json.loads(line)["supervisions"][0]["text"] for line in f]
    assert len(texts) == 3 and all(t in msgs.values() for t in texts)
