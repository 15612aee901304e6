"""An offline multilingual corpus spoken by espeak-ng: ``lwasr prepare synth``.

Sentences come from ``lwasr/data/text/<lang>.txt`` (one per line; or ``text_dir``). Each language's list is
de-duplicated, shuffled with the seed and cut into disjoint train/dev/test pools, so no sentence is in two
splits. Every utterance draws, from a generator seeded by (seed, language, split, index), an espeak-ng voice
variant (recorded as the speaker), a speed, a pitch and optionally a noise level, so the corpus is the same
on every run; ``channels`` can give a language its own recording condition (:mod:`lwasr.data.channels`).
Train and dev draw their variants from one list and, by default, test from a disjoint one, so the test
measures unseen speakers (:func:`split_variants`); each split's list is recorded in its manifest's sidecar.
espeak-ng writes 22050 Hz; the wavs are resampled to 16 kHz mono in numpy. A wav's name holds a hash of
everything that shaped it, so a re-run reuses it and a changed option makes a new one.
"""

from __future__ import annotations

import hashlib
import io
import os
import random
import re
import shutil
import subprocess
import zlib
from collections.abc import Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import soundfile as sf

from lwasr.atomic import atomic_path
from lwasr.data.audio import SAMPLE_RATE, resample
from lwasr.data.catalogs import LOCALE_DIR, catalog_sentences, without
from lwasr.data.channels import CHANNELS, parse_channels
from lwasr.data.manifests import Preparer, Utterance, read_text
from lwasr.data.report import MISSING_AUDIO, Dropped, RunReport
from lwasr.errors import LwasrError
from lwasr.langcodes import parse_langs
from lwasr.output_lock import holding_lock
from lwasr.progress import tqdm

#: Whisper code -> espeak-ng voice.
#: Plain "cmn" reads Chinese characters as English-spoken pinyin with tone digits; cmn-latn-pinyin reads them properly.
ESPEAK_VOICES = {
    "pl": "pl",
    "pt": "pt-br",
    "it": "it",
    "zh": "cmn-latn-pinyin",
    "da": "da",
    "el": "el",
    "cy": "cy",
    "ja": "ja",
    "fr": "fr",  # not "fr-fr": espeak-ng ignores a variant on it silently (fr-fr+m1 sounds like fr-fr)
}
#: ``train_text`` values: the built-in lists only, or with gettext catalogs' sentences added to train
#: (:mod:`lwasr.data.catalogs`; dev and test keep the built-in lists).
TRAIN_TEXTS = ("builtin", "catalogs")
#: The voice variants of the train and dev speakers (and of test with ``test_voices="seen"``).
DEFAULT_VARIANTS = ("m1", "m2", "m3", "m4", "m5", "m6", "m7", "f1", "f2", "f3", "f4")
#: The unseen test speakers: none is in DEFAULT_VARIANTS; six male and six female voices of ordinary speech (no
#: robot, whisper, croak, echo-effect or klatt variants), each checked to change the voice of all eight languages.
TEST_VARIANTS = tuple("m8 john max norbert pedro grandpa f5 aunty belinda linda steph anika".split())
#: ``test_voices`` values: the test split's speakers are unseen (TEST_VARIANTS) or seen (the train/dev variants).
TEST_VOICES = ("unseen", "seen")
#: Utterances per language and split: small enough for the offline recipe to stay fast.
DEFAULT_SIZES = {"train": 240, "dev": 24, "test": 32}
SPEED_WPM = (145, 195)  # espeak-ng's default is 175 words per minute
PITCH = (30, 70)  # espeak-ng's default is 50 (0-99)
SNR_DB = (20.0, 40.0)  # mild white noise


@dataclass(frozen=True)
class SynthItem:
    """Everything that shapes one synthetic utterance."""

    id: str
    lang: str
    split: str
    text: str
    voice: str
    variant: str
    speed: int
    pitch: int
    snr_db: float | None
    noise_seed: int
    channel: str | None = None  # a recording condition of lwasr.data.channels, applied last

    def digest(self) -> str:
        fields = asdict(self)
        if self.channel is None:  # a clean utterance keeps the name it had before channels existed
            del fields["channel"]
        return hashlib.sha1(repr(sorted(fields.items())).encode()).hexdigest()[:10]


def _espeak() -> str:
    exe = shutil.which("espeak-ng")
    if exe is None:
        raise LwasrError(
            "espeak-ng is not installed: `sudo apt-get install espeak-ng` (Debian/Ubuntu), "
            "`brew install espeak-ng` (macOS), or run tools/install.sh"
        )
    return exe


def espeak_variants() -> set[str]:
    """Voice variants this espeak-ng has (``m1``, ``f3``, ``klatt``...), from the File column of its list (a
    name may hold a space, as ``Mr serious`` does, and the Other Languages column may be filled)."""
    out = subprocess.run([_espeak(), "--voices=variant"], capture_output=True, text=True, check=True).stdout
    header, *lines = out.splitlines()
    start, end = header.index("File"), header.index("Other Languages")
    files = (line[start:end].strip() for line in lines)
    return {f.split("/", 1)[1] for f in files if f.startswith("!v/")}


def split_variants(
    variants: Sequence[str], test_variants: Sequence[str], test_voices: str = "unseen"
) -> dict[str, tuple[str, ...]]:
    """The variants each split draws its speakers from: ``train``, ``dev`` and ``test-seen`` from ``variants``;
    ``test`` from ``test_variants`` (``test_voices`` "unseen", which needs the two lists disjoint) or from
    ``variants`` ("seen"). Any other split draws from ``variants``."""
    if test_voices not in TEST_VOICES:
        raise LwasrError(f"--test-voices {test_voices!r}: use one of {', '.join(TEST_VOICES)}")
    seen, unseen = tuple(variants), tuple(test_variants)
    if not seen or (test_voices == "unseen" and not unseen):
        raise LwasrError("--variants and --test-variants need at least one espeak-ng voice variant each")
    shared = sorted(set(seen) & set(unseen)) if test_voices == "unseen" else []
    if shared:
        raise LwasrError(
            f"--test-variants shares {','.join(shared)} with --variants: unseen test speakers need disjoint"
            " lists (or pass --test-voices seen)"
        )
    return {"train": seen, "dev": seen, "test": unseen if test_voices == "unseen" else seen, "test-seen": seen}


def espeak_languages() -> set[str]:
    """Voice (language) names this espeak-ng has: the Language column and the codes of Other Languages
    (``fr-fr ... (fr 5)`` gives fr-fr and fr)."""
    out = subprocess.run([_espeak(), "--voices"], capture_output=True, text=True, check=True).stdout
    lines = out.splitlines()[1:]
    return {line.split()[1] for line in lines if len(line.split()) > 1} | {
        code for line in lines for code in re.findall(r"\((\S+) \d+\)", line)
    }


def load_sentences(lang: str, text_dir: str | Path | None = None) -> list[str]:
    """Sentences of ``lang``, stripped, empty lines and repeats removed, order kept."""
    if text_dir is not None:
        path = Path(text_dir) / f"{lang}.txt"
        text = read_text(path) if path.is_file() else None
    else:
        res = resources.files("lwasr.data") / "text" / f"{lang}.txt"
        path, text = Path(str(res)), (res.read_text(encoding="utf-8") if res.is_file() else None)
    if text is None:
        raise LwasrError(f"no sentence list for {lang!r}: expected {path}")
    sents = list(dict.fromkeys(" ".join(line.split()) for line in text.splitlines()))
    sents = [s for s in sents if s]
    if not sents:
        raise LwasrError(f"{path} has no sentences")
    return sents


def split_sentences(sents: Sequence[str], sizes: Mapping[str, int], seed: int) -> dict[str, list[str]]:
    """Disjoint sentence pools per split, from a seeded shuffle.

    Every split but the first (``train``) gets as many sentences as it has utterances when the list is long
    enough, else a share proportional to its size (at least one); the first split gets the rest.
    """
    order = list(sents)
    random.Random(seed).shuffle(order)
    names = list(sizes)
    if len(order) < len(names):
        raise LwasrError(f"{len(order)} sentences cannot make {len(names)} disjoint splits")
    total = sum(sizes.values())
    pools: dict[str, list[str]] = {}
    pos = 0
    for name in names[1:]:
        n = sizes[name] if len(order) >= total else max(1, len(order) * sizes[name] // max(total, 1))
        n = min(n, len(order) - pos - 1)
        pools[name] = order[pos : pos + n]
        pos += n
    pools[names[0]] = order[pos:]
    return {name: pools[name] for name in names}


def sentence_pools(
    lang: str,
    sizes: Mapping[str, int],
    seed: int,
    *,
    text_dir: str | Path | None = None,
    train_text: str = "builtin",
    locale_dir: Path | None = None,
) -> dict[str, list[str]]:
    """The disjoint sentence pools of ``lang``'s splits (:func:`split_sentences` of its built-in list).

    ``train_text`` "catalogs": the dev and test pools are cut from the built-in list as they are with
    "builtin" whenever that list holds them in full (train asks for none of it first), and train gets the rest
    of the list followed by the catalogs' sentences (shuffled with the seed) that no dev or test sentence
    repeats. A language without a built-in list takes every pool from the catalogs' sentences.
    """
    if train_text not in TRAIN_TEXTS:
        raise LwasrError(f"--train-text {train_text!r}: use one of {', '.join(TRAIN_TEXTS)}")
    if train_text == "builtin":
        return split_sentences(load_sentences(lang, text_dir), sizes, seed)
    locale_dir = locale_dir or LOCALE_DIR
    extra = catalog_sentences(lang, locale_dir)
    random.Random(seed).shuffle(extra)
    try:
        builtin = load_sentences(lang, text_dir)
    except LwasrError:
        if not extra:
            raise LwasrError(f"no sentences for {lang!r}: no built-in list and no catalog under {locale_dir}") from None
        return split_sentences(extra, sizes, seed)
    pools = split_sentences(builtin, {**sizes, "train": 0}, seed)
    held_out = [s for name, pool in pools.items() if name != "train" for s in pool]
    pools["train"] = without([*pools["train"], *extra], held_out)
    return pools


def plan(
    lang: str,
    split: str,
    pool: Sequence[str],
    n: int,
    *,
    seed: int,
    variants: Sequence[str],
    noise: bool,
    channel: str | None = None,
) -> list[SynthItem]:
    """The ``n`` utterances of one (lang, split): sentences in pool order (cycled), seeded voice draws, each
    through ``channel`` when one is given."""
    items = []
    split_key = zlib.crc32(split.encode())
    lang_key = zlib.crc32(lang.encode())
    for i in range(n if pool else 0):
        rng = np.random.default_rng([seed, lang_key, split_key, i])
        items.append(
            SynthItem(
                id=f"synth-{lang}-{split}-{i:05d}",
                lang=lang,
                split=split,
                text=pool[i % len(pool)],
                voice=ESPEAK_VOICES.get(lang, lang),
                variant=str(variants[int(rng.integers(len(variants)))]),
                speed=int(rng.integers(SPEED_WPM[0], SPEED_WPM[1] + 1)),
                pitch=int(rng.integers(PITCH[0], PITCH[1] + 1)),
                snr_db=round(float(rng.uniform(*SNR_DB)), 1) if noise else None,
                noise_seed=int(rng.integers(2**31)),
                channel=channel,
            )
        )
    return items


def synthesize(item: SynthItem, path: Path) -> str | None:
    """Speak ``item`` into a 16 kHz mono 16-bit wav at ``path`` (atomically); return an error message or None."""
    cmd = ["espeak-ng", "-v", f"{item.voice}+{item.variant}", "-s", str(item.speed), "-p", str(item.pitch)]
    try:
        res = subprocess.run([*cmd, "--stdout", "--stdin"], input=item.text.encode(), capture_output=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"espeak-ng failed: {e}"
    if res.returncode != 0 or len(res.stdout) < 100:
        return f"espeak-ng failed ({res.returncode}): {res.stderr.decode(errors='replace').strip()[:200]}"
    x, sr = sf.read(io.BytesIO(res.stdout), dtype="float32")
    if x.ndim > 1:
        x = x.mean(axis=1)
    y = resample(x, sr, SAMPLE_RATE)
    if item.snr_db is not None:
        rms = float(np.sqrt(np.mean(y**2))) if len(y) else 0.0
        noise = np.random.default_rng(item.noise_seed).standard_normal(len(y)).astype(np.float32)
        y = y + noise * (rms / 10 ** (item.snr_db / 20))
    if item.channel is not None:
        y = CHANNELS.get(item.channel).apply(y, item.noise_seed)
    y = np.clip(y, -1.0, 1.0)
    with atomic_path(path) as tmp:
        sf.write(tmp, y, SAMPLE_RATE, subtype="PCM_16")
    return None


def _synthesize_star(args: tuple[SynthItem, Path]) -> str | None:
    return synthesize(*args)


def wav_path(out: Path, item: SynthItem) -> Path:
    return out / "wav" / item.lang / item.split / f"{item.id}_{item.digest()}.wav"


@holding_lock("out")
def prepare_synth(
    langs: str | Sequence[str],
    out: str | Path,
    *,
    sizes: Mapping[str, int] | None = None,
    seed: int = 0,
    variants: Sequence[str] = DEFAULT_VARIANTS,
    test_variants: Sequence[str] = TEST_VARIANTS,
    test_voices: str = "unseen",
    test_seen: int = 0,
    noise: bool = True,
    text_dir: str | Path | None = None,
    train_text: str = "builtin",
    locale_dir: Path | None = None,
    channels: str = "",
    jobs: int | None = None,
    force: bool = False,
) -> RunReport:
    """Speak the sentence lists of ``langs`` and write ``<out>/manifests/synth_<lang>_<split>_cuts.jsonl.gz``.

    Wavs go to ``<out>/wav/<lang>/<split>/``; existing ones are reused. ``sizes`` maps split -> utterances
    per language (default train 240, dev 24, test 32). Speakers come from :func:`split_variants`;
    ``test_seen`` > 0 adds a ``test-seen`` split: that many utterances of the test sentences, spoken by the
    train/dev variants (seen speakers), beside a test split of unseen ones. ``train_text`` "catalogs" adds the
    sentences of the gettext catalogs under ``locale_dir`` to train (:func:`sentence_pools`). ``channels``
    gives languages their own recording condition in every split (:func:`lwasr.data.channels.parse_channels`).
    """
    out = Path(out)
    langs = parse_langs(langs)
    by_lang = parse_channels(channels, langs)
    sizes = dict(DEFAULT_SIZES if sizes is None else sizes)
    if not sizes or "train" not in sizes or any(n < 0 for n in [*sizes.values(), test_seen]):
        raise LwasrError(f"bad sizes {sizes}, test_seen {test_seen}: need non-negative counts including 'train'")
    sizes = {"train": sizes.pop("train"), **sizes}
    voices = split_variants(variants, test_variants, test_voices)
    if test_seen and (test_voices != "unseen" or "test" not in sizes):
        raise LwasrError(f"--test-seen {test_seen} needs a test split of unseen speakers (--test-voices unseen)")
    jobs = jobs or os.cpu_count() or 1
    _espeak()
    have = espeak_variants()
    used = dict.fromkeys([*variants, *(test_variants if test_voices == "unseen" else ())])
    missing = [v for v in used if v not in have]
    if missing:
        raise LwasrError(f"espeak-ng has no voice variant {','.join(missing)}; it has: {' '.join(sorted(have))}")
    languages = espeak_languages()
    for lang in langs:
        if ESPEAK_VOICES.get(lang, lang) not in languages:
            raise LwasrError(f"no espeak-ng voice for {lang!r}; configured: {ESPEAK_VOICES}")

    prep = Preparer(out, "synth", jobs=jobs, force=force)
    todo: list[tuple[str, str, list[SynthItem], dict]] = []
    counts = {**sizes, **({"test-seen": test_seen} if test_seen else {})}
    for lang in langs:
        pools = sentence_pools(lang, sizes, seed, text_dir=text_dir, train_text=train_text, locale_dir=locale_dir)
        pools["test-seen"] = pools.get("test", [])
        for split, n in counts.items():
            pool = voices.get(split, voices["train"])
            items = plan(lang, split, pools[split], n, seed=seed, variants=pool, noise=noise, channel=by_lang.get(lang))
            fingerprint = {
                "items": hashlib.sha1(repr([i.digest() for i in items]).encode()).hexdigest(),
                "sizes": sizes,
                "variants": list(pool),
            }
            if train_text != "builtin":  # builtin manifests keep the fingerprint they had before the option
                fingerprint.update(train_text=train_text, sentences=len(pools[split]))
            if lang in by_lang:  # a clean language's fingerprint stays what it was before channels existed
                fingerprint["channel"] = by_lang[lang]
            if not prep.done(lang, split, fingerprint):
                todo.append((lang, split, items, fingerprint))

    work = [(i, wav_path(out, i)) for _, _, items, _ in todo for i in items]
    work = [(i, p) for i, p in work if not p.is_file()]
    errors: dict[str, str] = {}
    if work:
        bar = dict(total=len(work), desc="espeak-ng", unit="utt")
        if jobs > 1 and len(work) > 1:
            with ProcessPoolExecutor(max_workers=jobs) as pool:
                results = list(tqdm(pool.map(_synthesize_star, work, chunksize=4), **bar))
        else:
            results = [synthesize(i, p) for i, p in tqdm(work, **bar)]
        errors = {i.id: err for (i, _), err in zip(work, results, strict=True) if err}

    for lang, split, items, fingerprint in todo:
        utts = []
        dropped = []
        for i in items:
            if i.id in errors:
                dropped.append(Dropped(i.id, MISSING_AUDIO, errors[i.id]))
                continue
            utts.append(
                Utterance(
                    id=i.id,
                    audio=str(wav_path(out, i).resolve()),
                    text=i.text,
                    lang=lang,
                    speaker=f"{i.voice}+{i.variant}",
                    custom={"speed": i.speed, "pitch": i.pitch, "snr_db": i.snr_db}
                    | ({"channel": i.channel} if i.channel else {}),
                )
            )
        channel = by_lang.get(lang)
        notes = {f"channel {channel}: {CHANNELS.get(channel).description}": len(utts)} if channel and utts else {}
        prep.write(lang, split, utts, fingerprint, dropped, notes)
    return prep.finish()
