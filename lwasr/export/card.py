"""The model card (README.md) of an export: what the model is, what it was trained on, how well it does, how to use it.

Best effort from what lies near the unit: the LoRA settings its lwasr.json records (``extra.lora``); the training
data hours from the run directory's config.yaml (``<exp>/train_expert_<lang>/`` or ``<parent>/train_<unit name>/``)
and the prepare reports beside its manifests (``<corpus>_<lang>_<split>_report.json``); the test results from the
``lwasr score`` output (results.json) of every decode dir of the experiment that decoded this unit. What cannot be
found is called unknown.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

import lwasr
from lwasr.decoding.io import RESULTS_FILE, SETTINGS_FILE
from lwasr.errors import LwasrError
from lwasr.export.targets import Target
from lwasr.training.checkpoint import CONFIG_FILE
from lwasr.units.meta import lora_shape

REPORT_SUFFIX = "_report.json"
CUTS_SUFFIX = "_cuts.jsonl.gz"
#: What the base of a ``embedded:`` spec is on the hub (the embedded model is OpenAI's, converted).
EMBEDDED_HUB = {"embedded:whisper-base": "openai/whisper-base"}


def _find(text: str, anchors: Iterable[Path]) -> Path | None:
    """``text`` as a path: absolute, or relative to the first of ``anchors`` under which it exists."""
    path = Path(text).expanduser()
    if path.is_absolute():
        return path if path.exists() else None
    return next((a / path for a in anchors if (a / path).exists()), None)


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def run_dirs(unit: Path) -> list[Path]:
    """The training run directories a unit may come from: an expert's, or a named unit's (shared, fused, ...)."""
    return [unit.parent.parent / f"train_expert_{unit.name}", unit.parent / f"train_{unit.name}"]


def training_hours(unit: Path | None, languages: list[str]) -> dict[str, float] | None:
    """Hours of training data per language from the run's manifests' prepare reports; None when not found."""
    for run in run_dirs(unit) if unit is not None else []:
        try:
            config = yaml.safe_load((run / CONFIG_FILE).read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError):
            continue
        anchors = [Path.cwd(), *run.resolve().parents]
        hours: dict[str, float] = {}
        for manifest in (config or {}).get("cuts") or []:
            found = _find(str(manifest), anchors)
            if found is None or not found.name.endswith(CUTS_SUFFIX):
                continue
            rep = _read_json(found.with_name(found.name.removesuffix(CUTS_SUFFIX) + REPORT_SUFFIX)) or {}
            if rep.get("lang") in languages or not languages:
                hours[rep["lang"]] = hours.get(rep["lang"], 0.0) + float(rep.get("seconds", 0.0)) / 3600
        if hours:
            return hours
    return None


def test_results(target: Target) -> list[dict[str, Any]]:
    """Scored decodes of this unit (or of the experts dir holding it) in its experiment: one row per language."""
    if target.unit is None:
        return []
    units = {target.unit.resolve(), Path(target.spec).expanduser().resolve()}
    rows = []
    for exp in dict.fromkeys([target.unit.parent, target.unit.parent.parent]):
        for settings_file in sorted(exp.glob(f"*/{SETTINGS_FILE}")):
            decode_dir = settings_file.parent
            settings, results = _read_json(settings_file), _read_json(decode_dir / RESULTS_FILE)
            if not isinstance(settings, dict) or not isinstance(results, dict):
                continue
            source = _find(str(settings.get("system", {}).get("source", "")), [Path.cwd(), *decode_dir.parents])
            if source is None or source.resolve() not in units:
                continue
            for lang, r in sorted(results.get("languages", {}).items()):
                if not target.languages or lang in target.languages:
                    rows.append({"decode": decode_dir.name, "scenario": settings.get("scenario"), "lang": lang, **r})
    return rows


def lora_settings(target: Target) -> dict[str, Any] | None:
    """Rank, alpha, dropout and target modules of the unit's LoRA (the new adapter of a moe unit): its recorded
    LoRA shape (:func:`lwasr.units.meta.lora_shape`); None for a unit without one."""
    if target.unit is None or target.meta is None:
        return None
    try:
        return lora_shape(target.unit).record()
    except LwasrError:
        return None


def base_of(target: Target) -> str:
    """The base model spec (``--system`` itself for a base model)."""
    return target.meta.base_model if target.meta else target.spec


def licence(base: str) -> tuple[str, str]:
    """(hub licence id, sentence) of the base model: OpenAI's Whisper checkpoints are MIT."""
    if base in EMBEDDED_HUB or base.startswith("openai/whisper"):
        return "mit", "MIT, the licence of OpenAI's Whisper weights, which this model derives from."
    return "other", f"that of the base model {base} (OpenAI's Whisper weights are MIT); check it before reuse."


def _front_matter(target: Target, fmt: str) -> str:
    base = base_of(target)
    hub_base = EMBEDDED_HUB.get(base, base if base.count("/") == 1 and not Path(base).exists() else None)
    fields: dict[str, Any] = {
        "license": licence(base)[0],
        "language": target.languages or None,
        "base_model": hub_base,
        "library_name": "transformers" if fmt == "hf" else "ctranslate2",
        "pipeline_tag": "automatic-speech-recognition",
        "tags": ["whisper", "lwasr", target.kind] + (["faster-whisper"] if fmt == "ct2" else []),
    }
    return "---\n" + yaml.safe_dump({k: v for k, v in fields.items() if v}, sort_keys=False) + "---\n"


def _usage(fmt: str, decode_lang: str | None, lang_token: bool) -> str:
    lang = json.dumps(decode_lang or "pl")
    if fmt == "ct2":
        return (
            "```python\nfrom faster_whisper import WhisperModel\n\n"
            'model = WhisperModel("path/to/this/dir", device="cpu", compute_type="int8")\n'
            f'segments, info = model.transcribe("speech.wav", language={lang}, beam_size=1)\n'
            'print(" ".join(s.text.strip() for s in segments))\n```\n'
        )
    kwargs = f'{{"language": {lang}, "task": "transcribe"}}' if lang_token else '{"task": "transcribe"}'
    text = (
        "```python\nfrom transformers import pipeline\n\n"
        'asr = pipeline("automatic-speech-recognition", model="path/to/this/dir")\n'
        f'print(asr("speech.wav", generate_kwargs={kwargs})["text"])\n```\n'
    )
    if not lang_token:
        text += (
            "\nTrained without the language token: decode as lwasr does with `decoder_input_ids` ="
            " `<|startoftranscript|><|transcribe|><|notimestamps|>`.\n"
        )
    return text


def title(target: Target) -> str:
    """``<unit>``: what it is, e.g. ``experts/pl: the pl expert``, ``shared: a lora unit``."""
    if target.lang is not None:
        return f"{Path(target.spec).name}/{target.lang}: the {target.lang} language expert, merged into Whisper"
    return f"{Path(target.spec).name}: a {target.kind} model of lwasr" + (", merged" if target.kind != "base" else "")


def model_card(target: Target, fmt: str, quantization: str | None, parity: dict[str, Any]) -> str:
    """README.md of one exported model."""
    meta, base = target.meta, base_of(target)
    langs = target.languages
    prompt_lang = meta.extra.get("prompt_lang") if meta else None
    decode_lang = (prompt_lang if fmt == "ct2" else None) or (langs[0] if langs else None)
    lang_token = meta.lang_token if meta else True
    lines = [
        _front_matter(target, fmt),
        f"# {title(target)}\n",
    ]
    what = "a CTranslate2 model for faster-whisper" if fmt == "ct2" else "a standalone Hugging Face Whisper model"
    lines.append(
        f"Exported by `lwasr export` (lwasr {lwasr.__version__}) as {what}; adapters are merged into the weights.\n"
    )
    rows = [
        ("system", f"`{target.spec}`" + (f" (expert `{target.lang}`)" if target.lang else "")),
        ("kind", target.kind + (f" (fusion: {meta.extra['fusion']})" if meta and "fusion" in meta.extra else "")),
        ("base model", f"`{base}`"),
        ("languages", ", ".join(langs) or "any (a base model)"),
    ]
    if prompt_lang and prompt_lang not in langs:
        rows.append(("prompt language", f"`<|{prompt_lang}|>` (borrowed by {', '.join(langs)})"))
    lora = lora_settings(target)
    if lora:
        targets = ", ".join(lora.get("target_modules") or [])
        rows.append(("LoRA", f"rank {lora['rank']}, alpha {lora['alpha']}, dropout {lora['dropout']}; {targets}"))
    if meta and meta.kind == "moe":
        mix = ", ".join(f"{e['lang']} {e['weight']:.3f}" for e in meta.extra["moe"]["experts"])
        rows.append(("MoE", f"gate {meta.extra['moe']['gate']}, base experts (weights) {mix}, merged at fixed weights"))
    if meta:
        rows.append(("decoder prompt", "with the language token" if meta.lang_token else "without the language token"))
        rows.append(("trained on trimmed input", "yes" if meta.trim_encoder_input else "no"))
    hours = training_hours(target.unit, langs)
    rows.append(
        ("training data", ", ".join(f"{k} {v:.2f} h" for k, v in sorted(hours.items())) if hours else "unknown")
    )
    if quantization:
        rows.append(("quantization", quantization))
    lines.append("| | |\n|---|---|\n" + "".join(f"| {k} | {v} |\n" for k, v in rows))
    lines.append("## Test results\n")
    results = test_results(target)
    if results:
        lines.append("| decode | scenario | language | metric | rate (%) | utterances |\n|---|---|---|---|---|---|\n")
        lines.append("".join(
            f"| {r['decode']} | {r['scenario']} | {r['lang']} | {r.get('metric')} | {r.get('rate')} |"
            f" {r.get('utterances')} |\n" for r in results
        ))  # fmt: skip
    else:
        lines.append("unknown: no scored decode (`lwasr score`) of this unit was found beside it.\n")
    lines.append("\n## Parity with lwasr\n")
    lines.append(_parity_text(parity))
    lines.append("\n## Use\n")
    lines.append(_usage(fmt, decode_lang, lang_token))
    lines.append(f"\n## Licence\n\n{licence(base)[1]}\n")
    return "\n".join(lines)


def _parity_text(parity: dict[str, Any]) -> str:
    if "skipped" in parity:
        return f"Not checked: {parity['skipped']}.\n"
    rows = "".join(
        f"| {lang} | {r['metric']} | {r['cuts']} | {r['lwasr']} | {r['export']} | {r.get('lwasr_trimmed', '')} |\n"
        for lang, r in parity["error_rates"].items()
    )
    text = (
        f"{parity['cuts']} cuts decoded greedily by lwasr and by this export: {parity['token_identity']}% have"
        " identical tokens (both on input padded to 30 s).\n\n"
        "| language | metric | cuts | lwasr | export | lwasr, trimmed input |\n|---|---|---|---|---|---|\n" + rows
    )
    if "trimmed_input" in parity:
        text += (
            "\nThe model was trained on trimmed encoder input, which lwasr decodes by default (last column); this"
            " export pads every clip to 30 s (CTranslate2 and transformers' Whisper encoder take nothing shorter).\n"
        )
    return text
