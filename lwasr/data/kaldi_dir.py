"""`lwasr prepare dir`: bring any corpus in, from a Kaldi data directory or a TSV file.

Kaldi data directory: ``wav.scp`` (``<id> <path>`` or ``<id> <command> |``) and ``text`` (``<utt> <words>``),
optionally ``utt2spk``, ``spk2gender``, ``segments`` (``<utt> <recording> <start> <end>``, seconds) and
``utt2lang`` (Whisper codes; or ``--lang`` for all). Relative paths are taken from the current directory,
as Kaldi does, then from the data directory. A ``<command> |`` entry is run through a shell, as in Kaldi.

TSV: ``path<TAB>text<TAB>lang[<TAB>speaker]`` per line (an empty ``lang`` takes ``--lang``; a header line
``path text lang ...`` and ``#`` comments are skipped). Relative paths are taken from the TSV's directory,
and an item's id is its path relative to that directory (``sub/a.wav``; whitespace becomes ``_``). A TSV
never runs commands.
"""

from __future__ import annotations

from pathlib import Path

from lwasr.data.audio import is_command
from lwasr.data.limits import CutLimits
from lwasr.data.manifests import (
    Preparer,
    Utterance,
    check_split_name,
    group_by_language,
    input_fingerprint,
    read_text,
)
from lwasr.data.report import BAD_LINE, DUPLICATE_ID, EMPTY_TEXT, MISSING_AUDIO, NO_LANGUAGE, Dropped, RunReport
from lwasr.errors import LwasrError
from lwasr.langcodes import check_whisper_code
from lwasr.output_lock import holding_lock

KALDI_FILES = ("wav.scp", "text", "utt2spk", "spk2gender", "segments", "utt2lang")


def _rows(path: Path) -> list[tuple[int, str, str]]:
    """``(line number, key, rest)`` of ``<key> <rest>`` lines (rest may be empty), in order, duplicates kept."""
    rows = []
    for n, line in enumerate(read_text(path).splitlines(), 1):
        parts = line.strip().split(maxsplit=1)
        if parts:
            rows.append((n, parts[0], parts[1].strip() if len(parts) > 1 else ""))
    return rows


def _table(path: Path) -> list[tuple[str, str]]:
    """``<key> <rest>`` lines, in order, duplicates kept."""
    return [(key, rest) for _, key, rest in _rows(path)]


def _wav_scp(path: Path, dropped: list[Dropped]) -> dict[str, str]:
    """Recording id -> audio; a repeated id keeps its first line and the others are reported as dropped."""
    wav: dict[str, tuple[int, str]] = {}
    for n, reco, audio in _rows(path):
        if reco in wav:
            first, kept = wav[reco]
            detail = f"recording {reco!r} again: {audio} ignored, line {first} ({kept}) used"
            dropped.append(Dropped(f"wav.scp:{n}", DUPLICATE_ID, detail))
        else:
            wav[reco] = (n, audio)
    return {reco: audio for reco, (_, audio) in wav.items()}


def command_summary(src: str | Path) -> str | None:
    """A warning line when ``src`` is a Kaldi data directory whose ``wav.scp`` holds shell commands."""
    scp = Path(src) / "wav.scp"
    if not scp.is_file():
        return None
    entries = [audio for _, _, audio in _rows(scp)]
    n = sum(map(is_command, entries))
    if not n:
        return None
    return (
        f"{scp}: {n} of {len(entries)} entries are shell commands (`<command> |`); preparing runs them now, and"
        " training and decoding run them again to read the audio. A data directory is code: use only one you trust"
    )


def _resolve(audio: str, base: Path) -> str:
    if is_command(audio):
        return audio
    p = Path(audio).expanduser()
    if not p.is_absolute() and not p.exists() and (base / p).exists():
        p = base / p
    return str(p.resolve())


def read_kaldi_dir(src: Path, lang: str | None) -> tuple[list[Utterance], list[Dropped]]:
    """Items of a Kaldi data directory (see the module docstring)."""
    missing = [f for f in ("wav.scp", "text") if not (src / f).is_file()]
    if missing:
        raise LwasrError(f"{src}: not a Kaldi data directory (missing {', '.join(missing)})")
    dropped: list[Dropped] = []
    wav = _wav_scp(src / "wav.scp", dropped)
    opt = {name: dict(_table(src / name)) if (src / name).is_file() else {} for name in KALDI_FILES[2:]}
    if lang is None and not opt["utt2lang"]:
        raise LwasrError(f"{src}: no utt2lang file; give the language of all utterances with --lang")
    segments = {}
    for utt, rest in _table(src / "segments") if (src / "segments").is_file() else []:
        fields = rest.split()
        try:
            segments[utt] = (fields[0], float(fields[1]), float(fields[2]))
        except (IndexError, ValueError):
            dropped.append(Dropped(utt, BAD_LINE, f"segments: cannot parse {rest!r}"))
    utts: list[Utterance] = []
    texts = _table(src / "text")
    with_text = {u for u, _ in texts}
    for utt in sorted((segments or wav).keys() - with_text):
        dropped.append(Dropped(utt, EMPTY_TEXT, "no line in text"))
    for utt, words in texts:
        reco, start, end = segments.get(utt, (utt, 0.0, None))
        if segments and utt not in segments:
            dropped.append(Dropped(utt, BAD_LINE, "no line in segments"))
            continue
        if reco not in wav:
            dropped.append(Dropped(utt, MISSING_AUDIO, f"recording {reco!r} has no line in wav.scp"))
            continue
        utt_lang = opt["utt2lang"].get(utt, lang)
        if not utt_lang:
            dropped.append(Dropped(utt, NO_LANGUAGE, "no line in utt2lang and no --lang"))
            continue
        spk = opt["utt2spk"].get(utt) or None
        utts.append(
            Utterance(
                id=utt,
                audio=_resolve(wav[reco], src),
                text=words,
                lang=utt_lang,
                speaker=spk,
                gender=opt["spk2gender"].get(spk) if spk else None,
                start=start,
                duration=None if end is None else end - start,
                recording_id=reco if segments else None,
            )
        )
    return utts, dropped


def _tsv_id(path: str, base: Path) -> str:
    """The path relative to ``base`` (an absolute path elsewhere: without its root), whitespace as ``_``."""
    p = Path(path)
    try:
        rel = p.relative_to(base) if p.is_absolute() else p
    except ValueError:
        rel = Path(*p.parts[1:])
    return "_".join(rel.as_posix().split())


def read_tsv(src: Path, lang: str | None) -> tuple[list[Utterance], list[Dropped]]:
    """Items of a ``path<TAB>text<TAB>lang[<TAB>speaker]`` file."""
    utts: list[Utterance] = []
    dropped: list[Dropped] = []
    base = src.parent.resolve()
    for n, line in enumerate(read_text(src).splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        cols = line.split("\t")
        if n == 1 and len(cols) >= 3 and cols[0].strip().lower() == "path" and cols[2].strip().lower() == "lang":
            continue
        if len(cols) < 2 or (len(cols) < 3 and lang is None):
            dropped.append(Dropped(f"{src.name}:{n}", BAD_LINE, "expected path<TAB>text<TAB>lang[<TAB>speaker]"))
            continue
        path, text = cols[0].strip(), cols[1]
        if is_command(path):
            dropped.append(Dropped(f"{src.name}:{n}", BAD_LINE, f"{path}: a TSV path is a file, not a command"))
            continue
        utt_lang = (cols[2].strip() if len(cols) > 2 else "") or lang
        if not utt_lang:
            dropped.append(Dropped(f"{src.name}:{n}", NO_LANGUAGE, f"{path}: empty lang column and no --lang"))
            continue
        utts.append(
            Utterance(
                id=_tsv_id(path, base),
                audio=_resolve(path, base) if Path(path).is_absolute() else str((base / path).resolve()),
                text=text,
                lang=utt_lang,
                speaker=(cols[3].strip() or None) if len(cols) > 3 else None,
            )
        )
    return utts, dropped


@holding_lock("out")
def prepare_dir(
    src: str | Path,
    out: str | Path,
    *,
    split: str,
    corpus: str | None = None,
    lang: str | None = None,
    jobs: int = 1,
    force: bool = False,
    decode: bool = False,
    limits: CutLimits | None = None,
) -> RunReport:
    """Write ``<out>/manifests/<corpus>_<lang>_<split>_cuts.jsonl.gz`` for every language in ``src``.

    ``src`` is a Kaldi data directory or a TSV file; ``corpus`` defaults to the name of ``out``.
    """
    src, out = Path(src), Path(out)
    if lang is not None:
        lang = check_whisper_code(lang)
    corpus = corpus or out.resolve().name
    check_split_name(split)
    if src.is_dir():
        utts, dropped = read_kaldi_dir(src, lang)
        inputs = [src / f for f in KALDI_FILES if (src / f).is_file()]
    elif src.is_file():
        utts, dropped = read_tsv(src, lang)
        inputs = [src]
    else:
        raise LwasrError(f"no such Kaldi data directory or TSV file: {src}")
    fingerprint = {"inputs": input_fingerprint(*inputs), "lang": lang}
    prep = Preparer(out, corpus, jobs=jobs, force=force, decode=decode, limits=limits)
    for utt_lang, (items, drops) in group_by_language(utts, dropped, lang).items():
        if not prep.done(utt_lang, split, fingerprint):
            prep.write(utt_lang, split, items, fingerprint, drops)
    return prep.finish()
