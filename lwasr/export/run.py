"""``lwasr export``: a system as standalone models, each with a model card and a parity report.

The output directory is written atomically and marked as ``lwasr export``'s, with the settings it was made with
(:meth:`ExportConfig.recorded`, in its marker). It replaces only an earlier export, and only with ``overwrite``
(keeping the files the user added there); without it, an earlier export made with the same settings is kept, one
made with others refused. An experts directory without ``lang`` gives one model per language, ``<out>/<lang>/``.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import lwasr
from lwasr.atomic import atomic_path, check_output, recorded_settings, write_json, write_text
from lwasr.config_fields import differing
from lwasr.decoding.batching import Utt
from lwasr.errors import LwasrError
from lwasr.export.card import model_card
from lwasr.export.config import FORMATS, ExportConfig
from lwasr.export.ct2 import Ct2Decoder, check_quantization, write_ct2
from lwasr.export.hf import HfDecoder, export_meta, write_hf
from lwasr.export.parity import (
    PARITY_FILE,
    Backend,
    batches_of,
    export_tokens,
    lwasr_tokens,
    parity_cuts,
    prompt_of,
    report,
    summary,
)
from lwasr.export.targets import Target, targets_of
from lwasr.output_lock import holding_lock
from lwasr.progress import tqdm

PRODUCER = "lwasr export"
CARD_FILE = "README.md"
DEFAULT_QUANTIZATION = "float16"


def export(system: str, out: str | Path, fmt: str = "hf", *, progress: bool = True, **settings: Any) -> list[str]:
    """Export ``system`` (any ``--system`` of decode) to ``out`` in ``fmt``; return one summary line per model.

    ``settings``: the other fields of :class:`~lwasr.export.config.ExportConfig` (``lang``, ``quantization``: ct2
    only, default float16; ``cuts``: manifests whose first ``parity_cuts_per_lang`` cuts of each language of the
    model are decoded by lwasr and by the export, 0: no check; ``model``: the base model, overriding the one
    recorded in lwasr.json; ``overwrite``). ``run(plan(...))``.
    """
    return run(plan(system=system, out=Path(out), fmt=fmt, **settings), progress=progress)


def plan(**values: Any) -> ExportConfig:
    """The config of one export, from the fields of :class:`ExportConfig` (by name): the options checked, the
    models to export read from their lwasr.json and their outputs named. Loads no model and writes nothing."""
    config = ExportConfig(**values)
    fmt, quantization = config.fmt, config.quantization
    if fmt not in FORMATS:
        raise LwasrError(f"unknown --format {fmt!r}; use hf (transformers) or ct2 (CTranslate2, faster-whisper)")
    if quantization is not None and fmt != "ct2":
        raise LwasrError("--quantization is for --format ct2; an hf export keeps float32 weights")
    quantization = quantization or (DEFAULT_QUANTIZATION if fmt == "ct2" else None)
    if quantization is not None:
        check_quantization(quantization)
    if config.parity_cuts_per_lang < 0:
        raise LwasrError(f"--parity-cuts must be 0 (no check) or more, got {config.parity_cuts_per_lang}")
    out = Path(config.out)
    config = replace(config, out=out, quantization=quantization)
    if check_output(out, PRODUCER) and not config.overwrite:
        _check_same_export(out, config.recorded())
        return replace(config, keep_earlier=True)
    outputs = [out / t.subdir if t.subdir else out for t in targets_of(config.system, config.lang)]
    return replace(config, outputs=outputs)


@holding_lock(lambda config, **_: [config.out])
def run(config: ExportConfig, *, progress: bool = True) -> list[str]:
    """Export as :func:`plan` planned; return one summary line per model."""
    out, fmt, quantization, cuts = config.out, config.fmt, config.quantization, config.cuts or []
    if config.keep_earlier:
        return [f"{out} is an earlier export; kept (pass --overwrite to export again)"]
    targets = targets_of(config.system, config.lang)
    check = bool(cuts) and config.parity_cuts_per_lang > 0
    picks = {t.subdir: parity_cuts(cuts, t.languages, config.parity_cuts_per_lang) if check else [] for t in targets}
    skipped = "--parity-cuts 0" if cuts else "no --cuts given (give --cuts MANIFEST to compare decodes)"
    lines = []
    with atomic_path(out, is_dir=True, producer=PRODUCER, settings=config.recorded()) as tmp:
        planned = list(zip(targets, config.outputs, strict=True))
        for target, where in tqdm(planned, desc="export", unit="model", disable=not progress or len(targets) == 1):
            dest = tmp / target.subdir if target.subdir else tmp
            parity = _export_one(target, dest, fmt, quantization, picks[target.subdir], config.model, progress)
            parity = parity or {"skipped": skipped}
            write_json(dest / PARITY_FILE, parity)
            write_text(dest / CARD_FILE, model_card(target, fmt, quantization, parity))
            lines.append(f"{where}: {summary(parity)}")
    return lines


def _check_same_export(out: Path, wanted: dict[str, Any]) -> None:
    """Refuse to keep the earlier export at ``out`` when it was made with other settings (or recorded none)."""
    made = recorded_settings(out)
    if made is None:
        raise LwasrError(
            f"{out} holds an earlier export that did not record its settings (an older lwasr): pass --overwrite to"
            " replace it, or choose another --out"
        )
    changes = [f"{k}: {made.get(k)} -> {wanted.get(k)}" for k in differing(made, wanted)]
    if changes:
        raise LwasrError(
            f"{out} holds an earlier export made with other settings ({'; '.join(changes)}): pass --overwrite to"
            " replace it, or choose another --out"
        )


def _export_one(
    target: Target,
    dest: Path,
    fmt: str,
    quantization: str | None,
    utts: list[Utt],
    model: str | None,
    progress: bool,
) -> dict[str, Any] | None:
    """Write one model into ``dest``; return its parity report on ``utts`` (None without them)."""
    system = target.load(model)
    batches = batches_of(utts)
    lwasr_seqs = lwasr_tokens(system, batches, trim=False, progress=progress) if utts else []
    trimmed = lwasr_tokens(system, batches, trim=True, progress=progress) if utts and system.trim_default else None
    prompt, lang_token, tokenizer = prompt_of(system), system.lang_token, system.tokenizer
    what = f"{fmt} {quantization}" if quantization else fmt
    if fmt == "hf":
        info = {"source": target.spec, "lang": target.lang, "format": fmt, "lwasr": lwasr.__version__}
        write_hf(system, dest, export_meta(system, target.languages, info))
    else:
        write_ct2(system, dest, quantization or DEFAULT_QUANTIZATION)
    if not utts:
        return None
    decoder: Backend = HfDecoder(dest, lang_token, prompt) if fmt == "hf" else Ct2Decoder(dest, prompt)
    return report(tokenizer, batches, lwasr_seqs, export_tokens(decoder, batches, progress), trimmed, what)
