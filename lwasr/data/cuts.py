"""Cuts: reading manifests, and what a cut means to lwasr (its language and its transcript).

Training, decoding, distillation and expansion read their manifests with :func:`load_cuts` and take a cut's
language and text from :func:`cut_lang` and :func:`cut_text` only (a cut's first supervision carries the
language; the transcript is all its supervisions' texts). ``load_cuts(..., relabel=...)`` reads a language under
another one's name, in memory: expansion trains a new language under the prompt token it borrows.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Mapping, Sequence
from pathlib import Path

from lhotse import CutSet
from lhotse.cut import Cut

from lwasr.data.manifests import MANIFEST_SUFFIX, parse_manifest_name, read_cuts
from lwasr.errors import LwasrError
from lwasr.langcodes import check_whisper_code


def cut_lang(cut: Cut, required: bool = True) -> str | None:
    """The language of a cut (of its first supervision); without one: LwasrError, or None if not ``required``."""
    lang = cut.supervisions[0].language if cut.supervisions else None
    if not lang and required:
        raise LwasrError(f"cut {cut.id} has no supervision with a language; re-run `lwasr prepare`")
    return lang or None


def cut_text(cut: Cut) -> str:
    """The transcript of a cut (its supervisions' texts joined by spaces)."""
    return " ".join(s.text.strip() for s in cut.supervisions if s.text)


def cuts_fingerprint(cuts: CutSet) -> str:
    """A short hash of the cuts' ids and texts (in id order): equal exactly when two sets hold the same cuts."""
    digest = hashlib.sha256()
    for cut_id, text in sorted((c.id, cut_text(c)) for c in cuts):
        digest.update(f"{cut_id}\t{text}\n".encode())
    return digest.hexdigest()[:16]


def relabelled(cuts: CutSet, relabel: Mapping[str, str], where: str) -> CutSet:
    """The cuts of the languages ``relabel`` names, each with its language set to the mapped one; the original
    code is kept in every supervision's ``custom["orig_language"]``. A named language without cuts is an error."""
    keep = []
    for cut in cuts:
        lang = cut_lang(cut, required=False)
        if lang not in relabel:
            continue
        cut = cut.copy()  # noqa: PLW2901
        cut.supervisions = [
            dataclasses.replace(s, language=relabel[lang], custom={**(s.custom or {}), "orig_language": s.language})
            for s in cut.supervisions
        ]
        keep.append(cut)
    found = {c.supervisions[0].custom["orig_language"] for c in keep}
    missing = [lang for lang in relabel if lang not in found]
    if missing:
        have = ", ".join(sorted({str(cut_lang(c, required=False)) for c in cuts}))
        raise LwasrError(f"no cuts for the language(s) {', '.join(missing)} in {where}; the manifests have: {have}")
    return CutSet.from_cuts(keep)


def _manifests_in(directory: Path) -> list[Path]:
    d = directory / "manifests" if (directory / "manifests").is_dir() else directory
    return sorted(d.glob(f"*{MANIFEST_SUFFIX}"))


def load_cuts(
    paths_or_dir: str | Path | Sequence[str | Path],
    langs: str | Sequence[str] | None = None,
    split: str | None = "train",
    relabel: Mapping[str, str] | None = None,
) -> CutSet:
    """Load and concatenate manifests for ``langs`` (all found, if None) and ``split``.

    Each entry of ``paths_or_dir`` is a manifest file (taken whatever its split, filtered by ``langs``) or a
    directory: a corpus root such as ``data/fleurs`` or its ``manifests/`` folder, searched for
    ``*_<lang>_<split>_cuts.jsonl.gz``; ``split=None``: every split. Raises LwasrError when nothing is given or
    matches, a language has no manifest, or a manifest is empty. ``relabel`` ({language: name to read it as}): only
    those languages' cuts, relabelled (:func:`relabelled`). Training, decoding and expansion all read here.
    """
    entries = [paths_or_dir] if isinstance(paths_or_dir, (str, Path)) else list(paths_or_dir)
    if not entries:
        raise LwasrError("no manifest given (--cuts)")
    wanted = None if langs is None else ([langs] if isinstance(langs, str) else list(langs))
    if wanted is not None:
        wanted = [check_whisper_code(x.strip()) for s in wanted for x in s.split(",") if x.strip()]
    files: list[Path] = []
    for entry in map(Path, entries):
        if entry.is_file():
            files.append(entry)
        elif entry.is_dir():
            for f in _manifests_in(entry):
                try:
                    _, lang, sp = parse_manifest_name(f)
                except LwasrError:  # not named by the contract: only taken when nothing is filtered
                    lang = sp = None
                    if split is not None or wanted is not None:
                        continue
                if (split is None or sp == split) and (wanted is None or lang in wanted):
                    files.append(f)
        else:
            raise LwasrError(f"no such manifest or directory: {entry}")
    if not files:
        raise LwasrError(
            f"no manifests for split {split!r}"
            + (f" and languages {','.join(wanted)}" if wanted else "")
            + f" in {', '.join(map(str, entries))} (run `lwasr prepare ...` first)"
        )
    sets = []
    for f in files:
        cuts = read_cuts(f)
        if len(cuts) == 0:
            raise LwasrError(f"{f}: manifest is empty (see the report.json beside it for what was dropped)")
        if wanted is not None:
            cuts = CutSet.from_cuts(c for c in cuts if cut_lang(c, required=False) in wanted)
        sets.append(cuts)
    combined = sets[0] if len(sets) == 1 else CutSet.from_cuts(c for s in sets for c in s)
    if wanted is not None:
        have = {cut_lang(c, required=False) for c in combined}
        missing = [x for x in wanted if x not in have]
        if missing:
            raise LwasrError(
                f"no {split or ''} manifest for languages {','.join(missing)} in {', '.join(map(str, entries))}"
            )
    return relabelled(combined, relabel, ", ".join(map(str, entries))) if relabel else combined
