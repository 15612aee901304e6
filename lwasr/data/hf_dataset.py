"""`lwasr prepare hf`: a local Hugging Face dataset (``save_to_disk``, or parquet files) -> manifests.

A row holds its audio (an ``Audio`` column: the file's bytes, or a path to it, relative paths taken from the
dataset's folder), its transcript and its language (any code :func:`lwasr.langcodes.dataset_to_whisper` maps, or
``--lang``). Each row's audio is decoded with soundfile and written as a 16 kHz mono 16-bit wav (channel 0) to
``<out>/wav/<corpus>/<split>/<row>.wav``; then the rows go through the same checks as every corpus
(:class:`lwasr.data.manifests.Preparer`). ``lhotse``'s ``CutSet.from_huggingface_dataset`` is not used: its cuts
keep the audio in memory (manifests as large as the dataset), take the md5 of the audio as the id, need the bytes
(a path-only row fails) and drop nothing with a reason.

The dataset is read as Arrow data (the memory-mapped files of ``save_to_disk``, or parquet in batches), one column
at a time: the transcripts and languages first, so that a complete manifest is found without decoding any audio.
"""

from __future__ import annotations

import io
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import soundfile as sf

from lwasr.atomic import atomic_path
from lwasr.data.audio import SAMPLE_RATE, error_text, resample
from lwasr.data.hf_columns import LANG_COLUMNS, SPLIT_NAMES, TEXT_COLUMNS, HfColumns
from lwasr.data.manifests import (
    PrepareOptions,
    Preparer,
    Utterance,
    check_split_name,
    group_by_language,
    input_fingerprint,
)
from lwasr.data.report import (
    EMPTY_AUDIO,
    MISSING_AUDIO,
    NO_LANGUAGE,
    UNKNOWN_LANGUAGE,
    UNREADABLE_AUDIO,
    Dropped,
    RunReport,
)
from lwasr.errors import LwasrError
from lwasr.langcodes import dataset_to_whisper
from lwasr.output_lock import holding_lock
from lwasr.progress import tqdm

if TYPE_CHECKING:
    from typing_extensions import Unpack

#: Rows read at a time.
BATCH = 64
#: Key of the supervision's ``custom`` holding the row's index in its split of the dataset.
ROW = "hf_row"


def require_datasets() -> ModuleType:
    """The ``datasets`` package, or a one-line error saying how to install it."""
    try:
        import datasets
    except ImportError:
        raise LwasrError("`lwasr prepare hf` needs the datasets package: pip install 'lwasr[hf]'") from None
    return datasets


@dataclass
class HfSplit:
    """One split of the dataset as Arrow data: a saved dataset's table, or parquet files (``table`` None)."""

    features: Any  # datasets.Features
    files: list[Path]
    table: Any = None  # pyarrow.Table

    def rows(self, columns: Sequence[str]) -> Iterator[dict[str, Any]]:
        """The values of ``columns``, row by row, in the dataset's order."""
        import pyarrow.parquet as pq

        if self.table is not None:
            batches = self.table.select(list(columns)).to_batches(max_chunksize=BATCH)
        else:
            batches = (b for f in self.files for b in pq.ParquetFile(f).iter_batches(BATCH, columns=list(columns)))
        for batch in batches:
            yield from batch.to_pylist()


def _saved(dataset: Any, folder: Path) -> HfSplit:
    files = sorted(p for p in folder.iterdir() if p.suffix in (".arrow", ".json"))
    return HfSplit(dataset.features, files, dataset.data.table)


def _parquet(files: Sequence[str | Path]) -> HfSplit:
    import pyarrow.parquet as pq
    from datasets import Features

    paths = sorted(Path(f) for f in files)
    return HfSplit(Features.from_arrow_schema(pq.read_schema(paths[0])), paths)


def open_dataset(src: Path) -> tuple[dict[str, HfSplit], bool]:
    """The splits of ``src`` by the dataset's names, and whether it is flat (one dataset, no split names)."""
    datasets = require_datasets()
    if src.is_dir() and any((src / f).is_file() for f in ("dataset_dict.json", "state.json")):
        try:
            loaded = datasets.load_from_disk(str(src))
        except Exception as e:  # noqa: BLE001 - any reader failure is a dataset that cannot be read
            raise LwasrError(f"{src}: cannot read the saved dataset: {error_text(e)}") from None
        if isinstance(loaded, datasets.DatasetDict):
            return {name: _saved(ds, src / name) for name, ds in loaded.items()}, False
        return {"": _saved(loaded, src)}, True
    if src.is_file() and src.suffix == ".parquet":
        return {"": _parquet([src])}, True
    if src.is_dir() and (files := sorted(src.rglob("*.parquet"))):
        from datasets.data_files import get_data_patterns, resolve_pattern

        patterns = {str(name): p for name, p in get_data_patterns(str(src)).items()}
        if patterns == {"train": ["**"]}:  # no split named in the file names or folders
            return {"": _parquet(files)}, True
        found = {
            name: [f for p in pats for f in resolve_pattern(p, str(src), allowed_extensions=[".parquet"])]
            for name, pats in patterns.items()
        }
        return {name: _parquet(f) for name, f in found.items() if f}, False
    raise LwasrError(
        f"{src}: not a Hugging Face dataset saved with save_to_disk (dataset_dict.json or state.json), a parquet"
        " file, or a folder of parquet files"
    )


def choose_splits(
    found: dict[str, HfSplit], flat: bool, src: Path, split: str | None, splits: Sequence[str] | None
) -> dict[str, tuple[str, HfSplit]]:
    """lwasr's split -> (the dataset's split, its data): ``split`` for a flat dataset; for a DatasetDict, ``splits``
    (default: those of :data:`SPLIT_NAMES` it has), validation becoming dev."""
    if flat:
        if split is None:
            raise LwasrError(f"{src} is one dataset without splits: say which split it is with --split (e.g. train)")
        if splits:
            raise LwasrError(f"{src} has no splits to choose with --splits: say which split it is with --split")
        return {check_split_name(split): ("", found[""])}
    have = ", ".join(found)
    if split is not None:
        raise LwasrError(f"{src} holds the splits {have}: choose among them with --splits, not --split")
    names = list(splits) if splits else [n for n in found if n in SPLIT_NAMES]
    if not names:
        raise LwasrError(f"{src} holds the splits {have}, none of {', '.join(SPLIT_NAMES)}: choose with --splits")
    if unknown := [n for n in names if n not in found]:
        raise LwasrError(f"{src} has no split {', '.join(unknown)}; it has: {have}")
    chosen: dict[str, tuple[str, HfSplit]] = {}
    for name in names:
        ours = check_split_name(SPLIT_NAMES.get(name, name))
        if ours in chosen:
            raise LwasrError(f"the splits {chosen[ours][0]} and {name} of {src} would both be lwasr's {ours}")
        chosen[ours] = (name, found[name])
    return chosen


def resolve_columns(data: HfSplit, columns: HfColumns, where: str, lang: str | None) -> HfColumns:
    """``columns`` with every unnamed one found; an LwasrError naming what is missing and the columns there are."""
    have = list(data.features)

    def pick(kind: str, given: str | None, defaults: Sequence[str], needed: bool, fix: str = "") -> str | None:
        if given is not None and given not in have:
            raise LwasrError(f"{where} has no column {given!r} (--{kind}-column); its columns: {', '.join(have)}")
        found = given or next((c for c in defaults if c in have), None)
        if found is None and needed:
            raise LwasrError(
                f"{where} has no {kind} column (looked for {', '.join(defaults)}): name it with --{kind}-column{fix};"
                f" its columns: {', '.join(have)}"
            )
        return found

    return HfColumns(
        audio=pick("audio", columns.audio, (), True) or columns.audio,
        text=pick("text", columns.text, TEXT_COLUMNS, True),
        lang=pick("lang", columns.lang, LANG_COLUMNS, lang is None, " or give --lang"),
        id=pick("id", columns.id, (), False),
    )


def write_wav(value: Any, base: Path, path: Path) -> tuple[str, str] | None:
    """Decode one row's audio (``{"bytes", "path"}``, or a path) into a 16 kHz mono 16-bit wav at ``path``
    (atomically); the reason and detail when it cannot, None when written."""
    data, where = (value.get("bytes"), value.get("path")) if isinstance(value, dict) else (None, value)
    if data is None:
        if not where:
            return MISSING_AUDIO, "the row has no audio (neither bytes nor a path)"
        file = base / where  # an absolute path stays as it is
        if not file.is_file():
            return MISSING_AUDIO, f"{file}: no such file (and no bytes in the dataset)"
        source: Any = file
    elif not data:
        return EMPTY_AUDIO, f"{where or 'the audio bytes'}: 0 bytes"
    else:
        source = io.BytesIO(data)
    try:
        samples, rate = sf.read(source, dtype="float32", always_2d=True)
    except Exception as e:  # noqa: BLE001 - any decoder failure means "unreadable"
        return UNREADABLE_AUDIO, f"{where or 'the audio bytes'}: {error_text(e)}"
    if not len(samples):
        return EMPTY_AUDIO, f"{where or 'the audio bytes'}: no audio samples"
    with atomic_path(path) as tmp:
        sf.write(tmp, resample(samples[:, 0], rate, SAMPLE_RATE), SAMPLE_RATE, subtype="PCM_16")
    return None


def _language(value: Any, feature: Any, lang: str | None) -> tuple[str | None, str, str]:
    """A row's Whisper code (a ClassLabel's index read as its name; empty: ``lang``), or None with the reason."""
    if isinstance(value, int) and hasattr(feature, "int2str"):
        value = feature.int2str(value)
    code = "" if value is None else str(value).strip()
    if not code:
        return lang, NO_LANGUAGE, "empty language and no --lang"
    return dataset_to_whisper(code), UNKNOWN_LANGUAGE, f"{code!r} is not a language Whisper knows"


def read_rows(
    data: HfSplit, cols: HfColumns, wav_dir: Path, prefix: str, lang: str | None
) -> tuple[list[Utterance], list[Dropped]]:
    """Each row's :class:`Utterance` (its audio: the wav it will be written to; its index in ``custom``), and the
    rows dropped for their language; no audio is read."""
    items: list[Utterance] = []
    dropped: list[Dropped] = []
    wanted = [c for c in dict.fromkeys((cols.text, cols.lang, cols.id)) if c]
    for i, row in enumerate(data.rows(wanted)):
        uid = str(row[cols.id]) if cols.id else f"{prefix}-{i:06d}"
        code, reason, detail = _language(row[cols.lang] if cols.lang else None, data.features.get(cols.lang), lang)
        if code is None:
            dropped.append(Dropped(uid, reason, detail))
            continue
        text = "" if row[cols.text] is None else str(row[cols.text])
        items.append(Utterance(id=uid, audio=str(wav_dir / f"{i:06d}.wav"), text=text, lang=code, custom={ROW: i}))
    return items, dropped


def write_audio(data: HfSplit, column: str, base: Path, items: list[Utterance]) -> dict[int, Dropped | None]:
    """Write the wavs of ``items`` in one pass over the audio column: by row, None when written, or why not."""
    todo = {u.custom[ROW]: u for u in items if u.custom}
    done: dict[int, Dropped | None] = {}
    if not todo:
        return done
    for i, row in enumerate(tqdm(data.rows([column]), desc="writing wavs", unit="row", leave=False)):
        if (u := todo.get(i)) is None:
            continue
        problem = write_wav(row[column], base, Path(u.audio))
        done[i] = Dropped(u.id, *problem) if problem else None
    return done


@holding_lock("out")
def prepare_hf(
    src: str | Path,
    out: str | Path,
    *,
    split: str | None = None,
    corpus: str | None = None,
    lang: str | None = None,
    columns: HfColumns | None = None,
    **options: Unpack[PrepareOptions],
) -> RunReport:
    """Write ``<out>/manifests/<corpus>_<lang>_<split>_cuts.jsonl.gz`` for every language and split of ``src``.

    ``src``: a dataset saved with ``save_to_disk`` (a Dataset, which needs ``split``, or a DatasetDict, whose splits
    ``options["splits"]`` chooses), a parquet file, or a folder of parquet files (split names in their file or
    folder names, as ``datasets`` reads them). ``corpus`` defaults to the name of ``out``; ``lang`` (any code a
    dataset uses) is the language of rows without one.
    """
    src, out = Path(src), Path(out)
    fixed = None
    if lang is not None and (fixed := dataset_to_whisper(lang)) is None:
        raise LwasrError(f"--lang {lang!r} is not a language Whisper knows (use a code such as pl, pt-BR or pl_pl)")
    corpus = corpus or out.resolve().name
    found, flat = open_dataset(src)
    chosen = choose_splits(found, flat, src, split, options.pop("splits", None))
    base = src if src.is_dir() else src.parent
    prep = Preparer(out, corpus, **options)
    for ours, (theirs, data) in chosen.items():
        cols = resolve_columns(data, columns or HfColumns(), f"{src}{f' split {theirs}' if theirs else ''}", fixed)
        fingerprint = {"inputs": input_fingerprint(*data.files), "columns": asdict(cols), "lang": fixed}
        wav_dir = out.resolve() / "wav" / corpus / ours
        items, dropped = read_rows(data, cols, wav_dir, f"{corpus}-{ours}", fixed)
        todo = {
            code: group
            for code, group in group_by_language(items, dropped, fixed).items()
            if not prep.done(code, ours, fingerprint)
        }
        audio = write_audio(data, cols.audio, base, [u for utts, _ in todo.values() for u in utts])
        for code, (utts, drops) in todo.items():
            outcome = [(u, audio[u.custom[ROW]]) for u in utts if u.custom]
            kept = [u for u, problem in outcome if problem is None]
            prep.write(code, ours, kept, fingerprint, drops + [p for _, p in outcome if p is not None])
    return prep.finish()
