"""Multilingual LibriSpeech from an extracted copy: ``<corpus-dir>/mls_<language>[_opus]/{train,dev,test}``.

Each split holds ``transcripts.txt`` (``<spk>_<book>_<seg><TAB>text``) and ``audio/<spk>/<book>/<id>.flac``
(or ``.opus``, whose 48 kHz header is overridden to the original 16 kHz, as lhotse does); the language folder
holds ``metainfo.txt`` (speaker | gender | ...). This follows ``lhotse.recipes.mls.prepare_mls`` but does not
call it: that function prepares every language it finds at once and silently drops mismatched items
(``fix_manifests``), where lwasr must build the requested languages and report every drop.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from lwasr.data.manifests import PrepareOptions, Utterance, extracted_corpus, input_fingerprint, read_text
from lwasr.data.report import BAD_LINE, Dropped, RunReport
from lwasr.errors import LwasrError
from lwasr.langcodes import mls_to_whisper
from lwasr.output_lock import holding_lock

if TYPE_CHECKING:
    from typing_extensions import Unpack


def find_lang_dir(corpus_dir: Path, name: str) -> Path:
    """``mls_<name>`` (FLAC, preferred) or ``mls_<name>_opus``."""
    for cand in (corpus_dir / f"mls_{name}", corpus_dir / f"mls_{name}_opus"):
        if cand.is_dir():
            return cand
    found = sorted(p.name for p in corpus_dir.glob("mls_*") if p.is_dir())
    raise LwasrError(f"{corpus_dir}: no mls_{name}/ or mls_{name}_opus/ (found: {', '.join(found) or 'nothing'})")


def read_genders(lang_dir: Path) -> dict[str, str]:
    """Speaker -> ``m``/``f`` from ``metainfo.txt`` (missing file: no genders)."""
    out = {}
    meta = lang_dir / "metainfo.txt"
    if meta.is_file():
        for line in read_text(meta).splitlines():
            fields = [f.strip() for f in line.split("|")]
            if len(fields) >= 2 and fields[0] and fields[0] != "SPEAKER":
                out[fields[0]] = fields[1].lower()
    return out


def read_split(split_dir: Path, lang: str, genders: dict[str, str]) -> tuple[list[Utterance], list[Dropped]]:
    """Items of one MLS split directory."""
    ext = ".opus" if split_dir.parent.name.endswith("_opus") else ".flac"
    utts: list[Utterance] = []
    dropped: list[Dropped] = []
    for n, line in enumerate(read_text(split_dir / "transcripts.txt").splitlines(), 1):
        if not line.strip():
            continue
        utt, sep, text = line.partition("\t")
        parts = utt.strip().split("_")
        if not sep or len(parts) != 3:
            dropped.append(Dropped(f"transcripts.txt:{n}", BAD_LINE, "expected <spk>_<book>_<seg><TAB>text"))
            continue
        spk, book, _ = parts
        utts.append(
            Utterance(
                id=f"mls-{lang}-{utt.strip()}",
                audio=str((split_dir / "audio" / spk / book / f"{utt.strip()}{ext}").resolve()),
                text=text,
                lang=lang,
                speaker=f"mls-{lang}-{spk}",
                gender=genders.get(spk),
            )
        )
    return utts, dropped


@holding_lock("out")
def prepare_mls(
    langs: Sequence[str], corpus_dir: str | Path, out: str | Path, **options: Unpack[PrepareOptions]
) -> RunReport:
    """Write ``<out>/manifests/mls_<lang>_<split>_cuts.jsonl.gz`` for MLS names ``langs`` (polish, ...)."""
    corpus_dir, splits, prep = extracted_corpus("mls", corpus_dir, out, opus_rate=16000, **options)
    names = {name.lower().removeprefix("mls_"): mls_to_whisper(name) for name in langs}
    for name, lang in names.items():
        lang_dir = find_lang_dir(corpus_dir, name)
        genders = read_genders(lang_dir)
        for split in splits:
            transcripts = lang_dir / split / "transcripts.txt"
            if not transcripts.is_file():
                raise LwasrError(f"missing {transcripts}")
            fingerprint = {"transcripts": input_fingerprint(transcripts)}
            if not prep.done(lang, split, fingerprint):
                utts, dropped = read_split(lang_dir / split, lang, genders)
                prep.write(lang, split, utts, fingerprint, dropped)
    return prep.finish()
