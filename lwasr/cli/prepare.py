"""`lwasr prepare`: write Lhotse manifests (one CutSet per corpus, language and split). See docs/data.md."""

from __future__ import annotations

import functools
import importlib
import inspect
import os
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from lwasr.cli.options import _with_options
from lwasr.cli.transcribe import longform  # the long-form test set builder lives with transcribe
from lwasr.data.channels import BUILTIN_CHANNELS, CHANNELS
from lwasr.data.hf_columns import LANG_COLUMNS, SPLIT_NAMES, TEXT_COLUMNS, HfColumns
from lwasr.data.limits import CutLimits

app = typer.Typer(
    name="prepare",
    help=(
        "Write Lhotse manifests: data/<corpus>/manifests/<corpus>_<lang>_<split>_cuts.jsonl.gz.\n\n"
        "Every run writes <out>/report.json (cuts and hours per language and split, every dropped item and"
        " why) and prints a summary. Complete manifests are not rebuilt; --force rebuilds them. See docs/data.md."
    ),
    no_args_is_help=True,
)

Out = Annotated[Path, typer.Option("--out", "-o", help="Corpus root; manifests go to <out>/manifests/.")]
Splits = Annotated[str, typer.Option("--splits", help="Comma-separated splits.")]
Jobs = Annotated[int, typer.Option("--jobs", "-j", min=1, help="Parallel processes.")]
Force = Annotated[bool, typer.Option("--force", help="Rebuild manifests even when complete.")]
Decode = Annotated[
    bool,
    typer.Option(
        "--check-audio",
        help="Decode every file while preparing (slow; catches corrupt data and truncated WAVs, not just bad headers).",
    ),
]
MinSeconds = Annotated[
    float, typer.Option("--min-seconds", help="Drop (as too_short) cuts shorter than this many seconds.")
]
MaxCps = Annotated[
    float,
    typer.Option(
        "--max-chars-per-second",
        help="Drop (as too_short) cuts whose transcript has more characters (spaces not counted) per second.",
    ),
]
Corpus = Annotated[
    str | None, typer.Option("--corpus", help="Corpus name in manifest file names (default: the name of --out).")
]
CPUS = os.cpu_count() or 1
DEFAULT_LIMITS = CutLimits()


def _list(spec: str) -> list[str]:
    return [s.strip() for s in spec.split(",") if s.strip()]


#: The options every corpus preparer shares, after the command's own.
_SHARED = [
    inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=annotation, default=default)
    for name, annotation, default in (
        ("jobs", Jobs, CPUS),
        ("force", Force, False),
        ("check_audio", Decode, False),
        ("min_seconds", MinSeconds, DEFAULT_LIMITS.min_seconds),
        ("max_cps", MaxCps, DEFAULT_LIMITS.max_chars_per_second),
    )
]


def _preparer(command: Callable[..., None]) -> Callable[..., None]:
    """Decorator: give ``command`` the options every corpus preparer shares (:data:`_SHARED`), as the keyword
    arguments the preparers take (``options``: jobs, force, decode, limits)."""

    @functools.wraps(command)
    def run(**kwargs: Any) -> None:
        limits = CutLimits(kwargs.pop("min_seconds"), kwargs.pop("max_cps"))
        shared = {"jobs": kwargs.pop("jobs"), "force": kwargs.pop("force"), "decode": kwargs.pop("check_audio")}
        command(**kwargs, options={**shared, "limits": limits})

    own = [p for p in inspect.signature(command, eval_str=True).parameters.values() if p.name != "options"]
    return _with_options(run, own, _SHARED)


def _show(report) -> None:  # noqa: ANN001 - RunReport, imported lazily
    typer.echo(report.table())
    typer.echo(f"report: {Path(report.root) / 'report.json'}")


@app.command("fleurs")
@_preparer
def fleurs(
    langs: Annotated[str, typer.Option("--langs", help="FLEURS codes, e.g. pl_pl,pt_br,cmn_hans_cn.")],
    out: Out = Path("data/fleurs"),
    splits: Splits = "train,dev,test",
    corpus_dir: Annotated[
        Path | None,
        typer.Option(
            "--corpus-dir", help="A local copy in the hub layout (data/<lang>/...); the network is never used."
        ),
    ] = None,
    *,
    options: dict[str, Any],
) -> None:
    """FLEURS from the Hugging Face dataset repo google/fleurs, downloaded file by file (resumable).

    Downloads land in <out>/download, audio archives are extracted once into <out>/audio. Text is the
    normalized `transcription`; the raw one is kept in the supervision's custom["orig_text"].
    """
    from lwasr.data.fleurs import prepare_fleurs

    _show(
        prepare_fleurs(
            _list(langs),
            out,
            corpus_dir=corpus_dir,
            splits=_list(splits),
            **options,
        )
    )


def _extracted_corpus(corpus: str, langs_help: str, dir_help: str, doc: str) -> None:
    """Register ``lwasr prepare <corpus>``: an extracted copy of ``corpus`` at --corpus-dir, prepared by
    ``lwasr.data.<corpus>.prepare_<corpus>``."""

    def command(
        langs: str,
        corpus_dir: Path,
        out: Out,
        splits: Splits = "train,dev,test",
        *,
        options: dict[str, Any],
    ) -> None:
        prepare = getattr(importlib.import_module(f"lwasr.data.{corpus}"), f"prepare_{corpus}")
        _show(prepare(_list(langs), corpus_dir, out, splits=_list(splits), **options))

    # the options that differ by corpus: their help, and the default output
    langs, corpus_dir, out, *rest = inspect.signature(command, eval_str=True).parameters.values()
    command.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [
            langs.replace(annotation=Annotated[str, typer.Option("--langs", help=langs_help)]),
            corpus_dir.replace(annotation=Annotated[Path, typer.Option("--corpus-dir", help=dir_help)]),
            out.replace(default=Path(f"data/{corpus}")),
            *rest,
        ]
    )
    command.__doc__ = doc
    app.command(corpus)(_preparer(command))


_extracted_corpus(
    "mls",
    "MLS language names, e.g. polish,portuguese,italian.",
    "Folder holding mls_<language>[_opus]/.",
    "Multilingual LibriSpeech from an extracted copy (FLAC preferred, Opus accepted).",
)
_extracted_corpus(
    "commonvoice",
    "Common Voice locales, e.g. pl,pt,zh-CN.",
    "Extracted release: <locale>/{train,dev,test}.tsv, clips/.",
    "Common Voice from an extracted release (MP3 clips need libsndfile >= 1.1).",
)


@app.command("dir")
@_preparer
def dir_(
    src: Annotated[
        Path, typer.Argument(help="A Kaldi data directory (wav.scp, text, ...) or a TSV file (path, text, lang).")
    ],
    out: Out,
    split: Annotated[
        str, typer.Option("--split", help="Split these utterances belong to (train, dev, test...).")
    ] = "train",
    corpus: Corpus = None,
    lang: Annotated[
        str | None, typer.Option("--lang", help="Whisper code for utterances without one (no utt2lang / empty column).")
    ] = None,
    *,
    options: dict[str, Any],
) -> None:
    """Any corpus: a Kaldi data directory or a TSV of path<TAB>text<TAB>lang[<TAB>speaker].

    Kaldi: wav.scp and text, optionally utt2spk, spk2gender, segments, utt2lang (or --lang for all).
    One manifest per language found, for --split. Audio stays where it is; other rates than 16 kHz are
    resampled on the fly and multi-channel files use channel 0. A wav.scp `<command> |` entry is run
    through a shell: a data directory is code, so use only one you trust.
    """
    from lwasr.data.kaldi_dir import command_summary, prepare_dir

    if warning := command_summary(src):
        typer.secho(f"warning: {warning}", fg=typer.colors.YELLOW, err=True)
    _show(prepare_dir(src, out, split=split, corpus=corpus, lang=lang, **options))


@app.command("hf")
@_preparer
def hf(
    src: Annotated[
        Path,
        typer.Argument(
            help="A Hugging Face dataset saved with save_to_disk (Dataset or DatasetDict), a parquet file, or a"
            " folder of parquet files."
        ),
    ],
    out: Out,
    split: Annotated[
        str | None, typer.Option("--split", help="A dataset without splits: the split it is (train, dev, test...).")
    ] = None,
    splits: Annotated[
        str | None,
        typer.Option(
            "--splits",
            help=f"A dataset with splits: those to prepare (default: those of {', '.join(SPLIT_NAMES)} it has;"
            " validation becomes dev).",
        ),
    ] = None,
    corpus: Corpus = None,
    lang: Annotated[
        str | None,
        typer.Option(
            "--lang", help="Language of rows without one (no language column, or an empty value): pl, pl_pl, pt-BR..."
        ),
    ] = None,
    audio_column: Annotated[
        str, typer.Option("--audio-column", help="The Audio column (bytes, or a path to the file).")
    ] = HfColumns.audio,
    text_column: Annotated[
        str | None,
        typer.Option("--text-column", help=f"The transcript column (default: the first of {', '.join(TEXT_COLUMNS)})."),
    ] = None,
    lang_column: Annotated[
        str | None,
        typer.Option("--lang-column", help=f"The language column (default: the first of {', '.join(LANG_COLUMNS)})."),
    ] = None,
    id_column: Annotated[
        str | None, typer.Option("--id-column", help="A column of unique row ids (default: <corpus>-<split>-<row>).")
    ] = None,
    *,
    options: dict[str, Any],
) -> None:
    """A local Hugging Face dataset: rows with an Audio column, a transcript and a language.

    Each row's audio is written as a 16 kHz mono wav to <out>/wav/<corpus>/<split>/; languages are mapped to
    Whisper's (pl_pl, pt-BR, Polish -> pl). One manifest per language and split; rows with an unknown language,
    no transcript or unreadable audio are dropped and listed. Needs the datasets package (lwasr's hf extra).
    """
    from lwasr.data.hf_dataset import prepare_hf

    columns = HfColumns(audio_column, text_column, lang_column, id_column)
    chosen = _list(splits) if splits is not None else None
    _show(prepare_hf(src, out, split=split, corpus=corpus, lang=lang, columns=columns, splits=chosen, **options))


@app.command("synth")
def synth(
    langs: Annotated[str, typer.Option("--langs", help="Whisper codes.")] = "pl,pt,it,zh,da,el,cy,ja",
    out: Out = Path("data/espeak8"),
    train: Annotated[int, typer.Option("--train", min=0, help="Training utterances per language.")] = 240,
    dev: Annotated[int, typer.Option("--dev", min=0, help="Dev utterances per language.")] = 24,
    test: Annotated[int, typer.Option("--test", min=0, help="Test utterances per language.")] = 32,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the sentence split and of every voice draw.")] = 0,
    variants: Annotated[
        str, typer.Option("--variants", help="espeak-ng voice variants of the train and dev speakers.")
    ] = "m1,m2,m3,m4,m5,m6,m7,f1,f2,f3,f4",
    test_voices: Annotated[
        str,
        typer.Option(
            "--test-voices",
            help="unseen: test speakers from --test-variants, none of which is in train or dev;"
            " seen: test speakers from --variants, as train and dev.",
        ),
    ] = "unseen",
    test_variants: Annotated[
        str | None,
        typer.Option(
            "--test-variants",
            help="--test-voices unseen: the test speakers' variants (default: 12 ordinary voices, see docs/data.md).",
        ),
    ] = None,
    test_seen: Annotated[
        int,
        typer.Option(
            "--test-seen",
            min=0,
            help="Also write a test-seen split: this many of the test sentences per language, spoken by --variants.",
        ),
    ] = 0,
    noise: Annotated[bool, typer.Option("--noise/--no-noise", help="Add mild white noise (20-40 dB SNR).")] = True,
    text_dir: Annotated[
        Path | None, typer.Option("--text-dir", help="Folder of <lang>.txt sentence lists (default: lwasr/data/text).")
    ] = None,
    train_text: Annotated[
        str,
        typer.Option(
            "--train-text",
            help="builtin: every split from the sentence lists; catalogs: train also gets the sentences of the"
            " gettext translation catalogs under --locale-dir (dev and test keep the lists; see docs/data.md).",
        ),
    ] = "builtin",
    locale_dir: Annotated[
        Path | None,
        typer.Option(
            "--locale-dir", help="--train-text catalogs: where <locale>/LC_MESSAGES/*.mo are (default Debian's)."
        ),
    ] = None,
    channels: Annotated[
        str,
        typer.Option(
            "--channels",
            help="Give languages their own recording condition in every split, a constructed stand-in for languages"
            " recorded in different corpora: LANG=CHANNEL,... or builtin ("
            + ", ".join(f"{lang}={name}" for lang, name in BUILTIN_CHANNELS.items())
            + f"). Channels: {', '.join(CHANNELS.names())} (docs/data.md says what each is).",
        ),
    ] = "",
    jobs: Jobs = CPUS,
    force: Force = False,
) -> None:
    """An offline corpus spoken by espeak-ng: disjoint sentences per split, seeded voice/speed/pitch variety,
    and test speakers unseen in train and dev (--test-voices).

    Writes 16 kHz mono wavs to <out>/wav/ (reused on a re-run) and manifests to <out>/manifests/.
    """
    from lwasr.data.synth import TEST_VARIANTS, prepare_synth

    sizes = {"train": train, "dev": dev, "test": test}
    report = prepare_synth(
        langs,
        out,
        sizes=sizes,
        seed=seed,
        variants=_list(variants),
        test_variants=TEST_VARIANTS if test_variants is None else _list(test_variants),
        test_voices=test_voices,
        test_seen=test_seen,
        noise=noise,
        text_dir=text_dir,
        train_text=train_text,
        locale_dir=locale_dir,
        channels=channels,
        jobs=jobs,
        force=force,
    )
    _show(report)


@app.command("validate")
def validate(
    manifests: Annotated[list[Path], typer.Argument(help="Manifest files (*_cuts.jsonl.gz).")],
    no_audio: Annotated[bool, typer.Option("--no-audio", help="Skip decoding the audio of every cut.")] = False,
    jobs: Jobs = CPUS,
    max_lines: Annotated[int, typer.Option("--max-lines", help="Print at most this many problems per manifest.")] = 50,
    min_seconds: MinSeconds = DEFAULT_LIMITS.min_seconds,
    max_cps: MaxCps = DEFAULT_LIMITS.max_chars_per_second,
) -> None:
    """Check manifests: lhotse's validation, one supervision, non-empty text, a Whisper language code,
    at most 30 s, not too short for its text, 16 kHz mono, audio readable and as long as its header says.
    Exits 1 if anything is wrong."""
    from lwasr.data.validate import validate_manifest

    limits = CutLimits(min_seconds, max_cps)
    bad = False
    for path in manifests:
        n, problems = validate_manifest(path, read_audio=not no_audio, jobs=jobs, limits=limits)
        for line in problems[:max_lines]:
            typer.echo(f"{path.name}: {line}")
        if len(problems) > max_lines:
            typer.echo(f"{path.name}: ... and {len(problems) - max_lines} more")
        status = "OK" if not problems else f"{len(problems)} problem(s)"
        typer.secho(f"{path}: {n} cuts, {status}", fg=typer.colors.GREEN if not problems else typer.colors.RED)
        bad |= bool(problems)
    if bad:
        raise typer.Exit(1)


app.command("longform")(longform)
