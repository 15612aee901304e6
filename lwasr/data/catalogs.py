"""Training sentences from gettext translation catalogs: ``lwasr prepare synth --train-text catalogs``.

Debian packages install their programs' translations as compiled catalogs,
``/usr/share/locale/<locale>/LC_MESSAGES/*.mo``; every translated message of a language is text that a person
wrote in it. Each catalog is under its package's licence (``/usr/share/doc/<package>/copyright``; GPL and LGPL
for most), so lwasr reads the text at run time and never ships it. The ``.mo`` format is parsed here directly
(magic, counts, offset tables; nothing is unpickled or executed), and only messages that read as a sentence are
kept (:func:`sentence_like`): one line, a sensible length, ending in a full stop, no format placeholders,
markup, paths or command-line options, and in the language's own script.
"""

from __future__ import annotations

import re
import struct
import unicodedata
from collections.abc import Iterable, Iterator
from pathlib import Path

from lwasr.errors import LwasrError

#: Where Debian installs compiled catalogs.
LOCALE_DIR = Path("/usr/share/locale")
#: Whisper code -> locale directories read, when not just ``<code>`` and ``<code>_*``: Chinese in simplified
#: characters only (the test sentences' script).
LOCALES = {"zh": ("zh_CN", "zh_SG")}
#: Characters per sentence: (min, max) for space-separated scripts and for Chinese and Japanese.
LENGTH = (20, 140)
LENGTH_CJK = (6, 50)
CJK = frozenset({"zh", "ja"})
#: The script every letter of a language's sentence must be in (by Unicode name prefix); others: Latin.
SCRIPTS = {
    "el": ("GREEK",),
    "ru": ("CYRILLIC",),
    "uk": ("CYRILLIC",),
    "bg": ("CYRILLIC",),
    "hi": ("DEVANAGARI",),
    "zh": ("CJK",),
    # espeak-ng reads Japanese kana only, so a sentence with kanji would be misread
    "ja": ("HIRAGANA", "KATAKANA"),
}
ENDINGS = (".", "!", "?", "。", "！", "？", "।")
#: Format placeholders (%s, %1$d, {0}, $VAR, ${x}), markup, paths, options, accelerators, code.
_NOT_PROSE = re.compile(r"%|\{|\}|\$|<|>|\\|/|_|=|`|\||@|#|\[|\]|\*|~|\^|--|\.\.|\s-\w|&|\t|https?:")
_MO_MAGIC = {0x950412DE: "<", 0xDE120495: ">"}


def mo_messages(path: Path) -> Iterator[str]:
    """The translated strings of a compiled gettext catalog (the first form of a plural; the header skipped).

    Raises LwasrError on a file that is not a ``.mo`` catalog.
    """
    data = path.read_bytes()
    if len(data) < 20:
        raise LwasrError(f"{path} is not a gettext .mo catalog (too short)")
    order = _MO_MAGIC.get(struct.unpack("<I", data[:4])[0])
    if order is None:
        raise LwasrError(f"{path} is not a gettext .mo catalog (bad magic number)")
    _, count, ids_at, strs_at = struct.unpack(order + "4I", data[4:20])
    charset = "utf-8"
    for i in range(count):
        try:
            id_len, id_off = struct.unpack(order + "2I", data[ids_at + 8 * i : ids_at + 8 * i + 8])
            str_len, str_off = struct.unpack(order + "2I", data[strs_at + 8 * i : strs_at + 8 * i + 8])
        except struct.error:
            raise LwasrError(f"{path} is a truncated gettext .mo catalog") from None
        raw = data[str_off : str_off + str_len]
        if id_len == 0:  # the header: its Content-Type names the charset
            found = re.search(rb"charset=([-\w]+)", raw)
            charset = found.group(1).decode() if found else charset
            continue
        try:
            text = raw.split(b"\0", 1)[0].decode(charset)
        except (UnicodeDecodeError, LookupError):
            continue
        if text:
            yield text


def _in_script(text: str, scripts: tuple[str, ...]) -> bool:
    for ch in text:
        if ch.isalpha() and not unicodedata.name(ch, "").startswith(scripts):
            return False
    return True


def sentence_like(text: str, lang: str) -> bool:
    """Whether a catalog message reads as a sentence of ``lang`` that espeak-ng can speak (see module doc)."""
    lo, hi = LENGTH_CJK if lang in CJK else LENGTH
    if "\n" in text or not lo <= len(text) <= hi or not text.endswith(ENDINGS):
        return False
    if _NOT_PROSE.search(text) or any(ch.isdigit() for ch in text):
        return False
    if lang not in CJK and (not text[0].isupper() or len(text.split()) < 4):
        return False
    letters = [ch for ch in text if ch.isalpha()]
    if lang not in SCRIPTS and sum(ch.isupper() for ch in letters) > max(2, len(letters) // 8):
        return False  # acronyms and identifiers
    return _in_script(text, SCRIPTS.get(lang, ("LATIN",)))


def locale_dirs(lang: str, root: Path = LOCALE_DIR) -> list[Path]:
    """The ``LC_MESSAGES`` directories of ``lang`` under ``root``, sorted."""
    names = LOCALES.get(lang)
    found = [root / n for n in names] if names else [root / lang, *root.glob(f"{lang}_*")]
    found += list(root.glob(f"{lang}@*")) if not names else []
    return sorted({d / "LC_MESSAGES" for d in found if (d / "LC_MESSAGES").is_dir()})


def catalog_sentences(lang: str, root: Path = LOCALE_DIR) -> list[str]:
    """Sentence-like messages of ``lang`` from every catalog under ``root``: spaces collapsed, repeats removed
    (by :func:`sentence_key`), in a stable order (catalogs by path, messages by position)."""
    out: dict[str, str] = {}
    for mo in (p for d in locale_dirs(lang, root) for p in sorted(d.glob("*.mo"))):
        for text in mo_messages(mo):
            text = " ".join(text.split())
            if sentence_like(text, lang):
                out.setdefault(sentence_key(text), text)
    return list(out.values())


def sentence_key(text: str) -> str:
    """What two sentences must differ in to count as different: letters and digits, case-folded."""
    return "".join(ch for ch in unicodedata.normalize("NFKC", text).casefold() if ch.isalnum())


def without(sents: Iterable[str], exclude: Iterable[str]) -> list[str]:
    """``sents`` less those whose :func:`sentence_key` is in ``exclude``'s (or earlier in ``sents``)."""
    seen = {sentence_key(s) for s in exclude}
    out = []
    for s in sents:
        key = sentence_key(s)
        if key not in seen:
            seen.add(key)
            out.append(s)
    return out
