"""Common Voice from an extracted release: ``<corpus-dir>/<locale>/{train,dev,test}.tsv`` and ``clips/*.mp3``.

The TSVs have a header (``client_id``, ``path``, ``sentence``, ..., ``gender``). Sentences are kept as
written (Common Voice does not normalize them). MP3 is decoded by libsndfile >= 1.1 (soundfile >= 0.12);
where it cannot be decoded the run stops with a clear error instead of dropping every clip.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from lwasr.data.audio import mp3_supported, probe
from lwasr.data.manifests import PrepareOptions, Utterance, extracted_corpus, input_fingerprint, read_text
from lwasr.data.report import BAD_LINE, Dropped, RunReport
from lwasr.errors import LwasrError
from lwasr.langcodes import commonvoice_to_whisper
from lwasr.output_lock import holding_lock

if TYPE_CHECKING:
    from typing_extensions import Unpack


def read_tsv(tsv: Path, lang: str) -> tuple[list[Utterance], list[Dropped]]:
    """Items of one Common Voice split TSV."""
    clips = (tsv.parent / "clips").resolve()
    utts: list[Utterance] = []
    dropped: list[Dropped] = []
    with io.StringIO(read_text(tsv), newline="") as f:
        reader = csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
        if not reader.fieldnames or not {"path", "sentence"} <= set(reader.fieldnames):
            raise LwasrError(f"{tsv}: not a Common Voice TSV (needs a header with 'path' and 'sentence')")
        for n, row in enumerate(reader, 2):
            path = (row.get("path") or "").strip()
            if not path:
                dropped.append(Dropped(f"{tsv.name}:{n}", BAD_LINE, "empty path column"))
                continue
            locale = tsv.parent.name
            utts.append(
                Utterance(
                    id=f"cv-{locale}-{Path(path).stem}",
                    audio=str(clips / path),
                    text=row.get("sentence") or "",
                    lang=lang,
                    speaker=(row.get("client_id") or "").strip() or None,
                    gender=(row.get("gender") or "").strip() or None,
                )
            )
    return utts, dropped


def check_mp3(utts: Sequence[Utterance]) -> None:
    """Raise a clear error when MP3 clips are present but nothing here decodes MP3."""
    mp3 = next((u for u in utts if u.audio.lower().endswith(".mp3") and Path(u.audio).is_file()), None)
    if mp3 is None or mp3_supported():
        return
    if probe(mp3.id, mp3.audio, decode=True).recording is None:
        import soundfile

        raise LwasrError(
            f"cannot decode MP3 here (libsndfile {soundfile.__libsndfile_version__} has no MP3 support): "
            "install soundfile>=0.12 (bundles libsndfile>=1.1), or convert the clips to FLAC/WAV and use "
            "`lwasr prepare dir`"
        )


@holding_lock("out")
def prepare_commonvoice(
    langs: Sequence[str], corpus_dir: str | Path, out: str | Path, **options: Unpack[PrepareOptions]
) -> RunReport:
    """Write ``<out>/manifests/commonvoice_<lang>_<split>_cuts.jsonl.gz`` for locales ``langs`` (pl, zh-CN, ...).

    Locales that map to the same Whisper language (zh-CN, zh-TW) go into one manifest.
    """
    corpus_dir, splits, prep = extracted_corpus("commonvoice", corpus_dir, out, **options)
    by_lang: dict[str, list[str]] = defaultdict(list)
    for locale in langs:
        by_lang[commonvoice_to_whisper(locale)].append(locale)
    for lang, locales in by_lang.items():
        for split in splits:
            tsvs = [corpus_dir / loc / f"{split}.tsv" for loc in locales]
            missing = [str(t) for t in tsvs if not t.is_file()]
            if missing:
                raise LwasrError(f"missing {', '.join(missing)}")
            fingerprint = {"tsv": input_fingerprint(*tsvs)}
            if prep.done(lang, split, fingerprint):
                continue
            utts: list[Utterance] = []
            dropped: list[Dropped] = []
            for tsv in tsvs:
                u, d = read_tsv(tsv, lang)
                utts += u
                dropped += d
            check_mp3(utts)
            prep.write(lang, split, utts, fingerprint, dropped)
    return prep.finish()
