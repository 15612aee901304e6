"""FLEURS: download file by file from the Hugging Face dataset repo ``google/fleurs`` and build manifests.

Layout (on the hub, and what ``--corpus-dir`` accepts): ``data/<code>/<split>.tsv`` (no header; id, file
name, raw transcription, transcription, phonemes, num_samples, gender) and ``data/<code>/audio/<split>.tar.gz``
(or that archive already extracted to ``data/<code>/audio/<split>/``). ``lhotse.recipes.fleurs`` is not used:
its download is broken with ``datasets>=3``.
"""

from __future__ import annotations

import shutil
import tarfile
from collections.abc import Sequence
from pathlib import Path

from lwasr.atomic import atomic_path
from lwasr.data.limits import CutLimits
from lwasr.data.manifests import Preparer, Utterance, input_fingerprint, read_text
from lwasr.data.report import BAD_LINE, Dropped, RunReport
from lwasr.errors import LwasrError
from lwasr.langcodes import fleurs_to_whisper
from lwasr.output_lock import holding_lock
from lwasr.progress import tqdm

REPO_ID = "google/fleurs"
SPLITS = ("train", "dev", "test")


def hub_download(filename: str, local_dir: Path) -> Path:
    """Fetch one file of ``google/fleurs`` into ``local_dir/<filename>`` (resumable; no network if present)."""
    import huggingface_hub
    from huggingface_hub.errors import (
        EntryNotFoundError,
        HfHubHTTPError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
    )

    kwargs = dict(repo_type="dataset", local_dir=str(local_dir))
    try:
        return Path(huggingface_hub.hf_hub_download(REPO_ID, filename, local_files_only=True, **kwargs))
    except LocalEntryNotFoundError:
        pass
    try:
        return Path(huggingface_hub.hf_hub_download(REPO_ID, filename, **kwargs))
    except LocalEntryNotFoundError as e:
        raise LwasrError(
            f"cannot download {REPO_ID}/{filename}: the Hugging Face hub is not reachable (offline?). "
            "Fetch FLEURS on a machine with internet and pass --corpus-dir (layout data/<lang>/<split>.tsv, "
            "data/<lang>/audio/<split>.tar.gz)"
        ) from e
    except (EntryNotFoundError, RepositoryNotFoundError) as e:
        raise LwasrError(
            f"{REPO_ID} has no file {filename}: check the FLEURS language code (e.g. pl_pl, cmn_hans_cn)"
        ) from e
    except (HfHubHTTPError, OSError) as e:
        raise LwasrError(f"downloading {REPO_ID}/{filename} failed: {e}") from e


def extract_once(archive: Path, dest: Path) -> Path:
    """Extract ``archive`` into ``dest`` unless done already; atomic (a killed run leaves no half directory)."""
    if dest.is_dir():
        return dest
    for stale in dest.parent.glob(f".{dest.name}.tmp*"):
        shutil.rmtree(stale, ignore_errors=True)
    with atomic_path(dest, is_dir=True, producer="lwasr prepare fleurs") as tmp, tarfile.open(archive) as tar:
        for member in tqdm(tar, desc=f"extracting {archive.name}", unit="file", leave=False):
            if hasattr(tarfile, "data_filter"):  # Python >= 3.10.12: refuse absolute paths, links out, devices
                tar.extract(member, tmp, filter="data")
            elif member.isfile() or member.isdir():
                if member.name.startswith("/") or ".." in Path(member.name).parts:
                    raise LwasrError(f"{archive}: unsafe member path {member.name!r}")
                tar.extract(member, tmp)
    return dest


def read_tsv(tsv: Path, lang: str, audio: dict[str, Path], audio_dir: Path) -> tuple[list[Utterance], list[Dropped]]:
    """Items of one FLEURS TSV: ``transcription`` as text, ``raw transcription`` kept as the original."""
    utts: list[Utterance] = []
    dropped: list[Dropped] = []
    for n, line in enumerate(read_text(tsv).splitlines(), 1):
        if not line.strip():
            continue
        cols = line.split("\t")
        if len(cols) < 7:
            dropped.append(Dropped(f"{tsv.name}:{n}", BAD_LINE, f"expected 7 tab-separated columns, got {len(cols)}"))
            continue
        sent_id, fname, raw, norm, _phonemes, _num_samples, gender = (c.strip() for c in cols[:7])
        utts.append(
            Utterance(
                id=f"fleurs-{lang}-{Path(fname).stem}",
                audio=str(audio.get(fname, audio_dir / fname)),
                text=norm,
                orig_text=raw,
                lang=lang,
                gender=gender.lower() or None,
                custom={"fleurs_id": sent_id},
            )
        )
    return utts, dropped


def _lang_dir(base: Path, code: str) -> Path:
    for cand in (base / "data" / code, base / code):
        if cand.is_dir():
            return cand
    raise LwasrError(f"{base}: no FLEURS language directory data/{code}/ (or {code}/)")


@holding_lock("out")
def prepare_fleurs(
    langs: Sequence[str],
    out: str | Path,
    *,
    splits: Sequence[str] = SPLITS,
    corpus_dir: str | Path | None = None,
    jobs: int = 1,
    force: bool = False,
    decode: bool = False,
    limits: CutLimits | None = None,
) -> RunReport:
    """Write ``<out>/manifests/fleurs_<lang>_<split>_cuts.jsonl.gz`` for FLEURS codes ``langs`` (pl_pl, ...).

    Without ``corpus_dir`` the files are downloaded into ``<out>/download``; with it the network is never used.
    Archives are extracted once into ``<out>/audio/<code>/<split>/``.
    """
    out = Path(out)
    codes = {code: fleurs_to_whisper(code) for code in langs}
    bad = [s for s in splits if s not in SPLITS]
    if bad:
        raise LwasrError(f"unknown FLEURS split(s) {','.join(bad)}; FLEURS has {','.join(SPLITS)}")
    if len(set(codes.values())) < len(codes):
        raise LwasrError(f"FLEURS codes {','.join(codes)} map to the same Whisper language twice")
    local = Path(corpus_dir) if corpus_dir is not None else None
    if local is not None and not local.is_dir():
        raise LwasrError(f"--corpus-dir {local} is not a directory")
    prep = Preparer(out, "fleurs", jobs=jobs, force=force, decode=decode, limits=limits)
    for code, lang in codes.items():
        for split in splits:
            if local is not None:
                tsv = _lang_dir(local, code) / f"{split}.tsv"
                if not tsv.is_file():
                    raise LwasrError(f"missing {tsv}")
            else:
                tsv = hub_download(f"data/{code}/{split}.tsv", out / "download")
            extracted = tsv.parent / "audio" / split
            audio_dir = extracted if extracted.is_dir() else out / "audio" / code / split
            fingerprint = {"tsv": input_fingerprint(tsv), "audio": str(audio_dir)}
            if prep.done(lang, split, fingerprint):
                continue
            if not audio_dir.is_dir():
                archive = tsv.parent / "audio" / f"{split}.tar.gz"
                if local is None:
                    archive = hub_download(f"data/{code}/audio/{split}.tar.gz", out / "download")
                elif not archive.is_file():
                    raise LwasrError(f"missing {archive} (nor is it extracted as {extracted}/)")
                extract_once(archive, audio_dir)
            index = {p.name: p.resolve() for p in audio_dir.rglob("*") if p.is_file()}
            utts, dropped = read_tsv(tsv, lang, index, audio_dir.resolve())
            prep.write(lang, split, utts, fingerprint, dropped)
    return prep.finish()
