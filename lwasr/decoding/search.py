"""The decode loop: batching by duration, features on the device, language routing, greedy or beam search.

Greedy search (``beam_size == 1``) runs :func:`lwasr.decoding.greedy.greedy_search` (the same tokens as
transformers' ``generate``, without its per-step overhead); beam search uses ``generate``.

Scenarios:

- ``aware``: each utterance's given language is its prompt token and picks its expert.
- ``agnostic``: language ID picks the language. Expert systems run LID on the base model
  (adapters disabled), then route to the expert; single models detect the language themselves.
- ``both``: the two in one pass, into two decode dirs. An utterance whose detected language leads to the
  same prompt and the same adapter as its given one has the same agnostic hypothesis as its aware one, so
  only the others are decoded a second time; single models also share one encoder pass between LID and
  decoding. With a good LID this nearly halves the cost of decoding both scenarios.

Routing of experts (``routing``):

- ``group``: batches hold one language (aware) or are split by detected language (agnostic); the
  expert is merged into the weights when a batch needs another one than the last (batches of one language
  come in a row, so each expert is merged once per run of them). Default: it was faster on CPU
  (docs/performance.md).
- ``per-sample``: mixed-language batches with peft's per-sample ``adapter_names``.

Agnostic routing of experts: hard (default), the identified language's expert; or soft (``soft_top_k``), a
mixture of the ``k`` most probable languages' experts weighted by their LID probabilities (lwasr/units/mixture.py).
Language ID is the system's own (:meth:`System.identifier`: the base model for experts, a router unit's
classifier) or that of another system (``lid_system``: any single model's own LID, or a router unit).
"""

from __future__ import annotations

import contextlib
import copy
import json
import logging
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm
from transformers.modeling_outputs import BaseModelOutput

from lwasr.data.audio import error_text
from lwasr.data.cuts import cut_lang, cut_text, load_cuts
from lwasr.decoding.greedy import GreedyRules, WhisperParts, forced_prompt, greedy_search
from lwasr.decoding.io import SUMMARY_FILE, HypWriter, is_complete, resume_settings
from lwasr.decoding.lid import detect
from lwasr.decoding.precision import apply_precision, check_dtype
from lwasr.decoding.systems import BASE_ADAPTER, System
from lwasr.errors import LwasrError
from lwasr.features import CHUNK_SAMPLES, SAMPLE_RATE, LogMel
from lwasr.models.trim import set_trimmed_input
from lwasr.units.mixture import AdapterMixture, mixed_adapters, per_sample_adapters
from lwasr.units.prompt import prompt_ids

log = logging.getLogger(__name__)

SCENARIOS = ("aware", "agnostic", "both")
ROUTINGS = ("group", "per-sample")
MAX_SECONDS = CHUNK_SAMPLES / SAMPLE_RATE


@dataclass(frozen=True)
class DecodeOptions:
    """Everything that changes the hypotheses (recorded in settings.json; a resume must match it)."""

    scenario: str = "aware"
    beam_size: int = 1
    trim: bool | None = None  # None: follow the model's lwasr.json
    max_duration: float | None = None  # at most these seconds of real audio per batch (None: no limit)
    batch_size: int | None = 16  # at most this many utterances per batch (None: no limit)
    lid_langs: tuple[str, ...] | None = None
    routing: str = "group"
    lid_system: str | None = None  # another system whose language ID routes the agnostic scenario
    soft_top_k: int = 0  # agnostic experts: mix the k most probable languages' experts (0: hard, top-1 expert)
    dtype: str = "float32"  # float32, bfloat16, or int8 (dynamic quantization, CPU): lwasr.decoding.precision
    max_new_tokens: int = 224  # Whisper's own cap (half the decoder context)
    # per batch, from its longest clip: stops repetition loops early. Whisper's own limit is 448 positions per
    # 30 s, ~15 tokens/s; the references of the espeak8 corpus (8 languages) need at most 11.8/s
    max_tokens_per_second: float = 15.0

    def __post_init__(self) -> None:
        if self.scenario not in SCENARIOS:
            raise LwasrError(f"unknown scenario {self.scenario!r}; use one of {', '.join(SCENARIOS)}")
        if self.routing not in ROUTINGS:
            raise LwasrError(f"unknown routing {self.routing!r}; use one of {', '.join(ROUTINGS)}")
        check_dtype(self.dtype)
        if self.beam_size < 1:
            raise LwasrError("--beam-size must be at least 1")
        if self.batch_size is not None and self.batch_size < 1:
            raise LwasrError("--batch-size must be at least 1")
        if self.batch_size is None and self.max_duration is None:
            raise LwasrError("give --batch-size or --max-duration (or both)")
        if self.soft_top_k < 0:
            raise LwasrError("--soft-top-k must be at least 0 (0: hard routing)")
        if self.soft_top_k and self.scenario == "aware":
            raise LwasrError("--soft-top-k mixes experts by language ID: use --scenario agnostic or both")


@dataclass
class Utt:
    """One utterance to decode."""

    id: str
    lang: str | None
    ref: str
    duration: float
    cut: Any


def utterances(cuts) -> list[Utt]:
    """Cuts -> :class:`Utt`; LwasrError for a cut longer than 30 s (Whisper's window)."""
    out = []
    for cut in cuts:
        if cut.duration > MAX_SECONDS + 1e-3:
            raise LwasrError(
                f"utterance {cut.id} is {cut.duration:.1f} s long; Whisper decodes at most 30 s."
                " Split long recordings into segments with `lwasr prepare` first."
            )
        out.append(Utt(cut.id, cut_lang(cut, required=False), cut_text(cut), float(cut.duration), cut))
    return out


def make_batches(utts: Sequence[Utt], opts: DecodeOptions, *, by_language: bool) -> list[list[Utt]]:
    """Sort by duration (longest first) and cut into batches of at most ``batch_size`` utterances and
    ``max_duration`` seconds of real audio (whichever fills first; a longer single clip gets its own batch).

    With ``by_language`` every batch holds one language. Sorting keeps the padding (trimmed input) and the
    spread of hypothesis lengths in a batch small.
    """
    groups: dict[str | None, list[Utt]] = defaultdict(list)
    for u in utts:
        groups[u.lang if by_language else None].append(u)
    batches: list[list[Utt]] = []
    for key in sorted(groups, key=str):
        batch: list[Utt] = []
        seconds = 0.0
        for u in sorted(groups[key], key=lambda u: -u.duration):
            full = (opts.batch_size is not None and len(batch) >= opts.batch_size) or (
                opts.max_duration is not None and seconds + u.duration > opts.max_duration
            )
            if batch and full:
                batches.append(batch)
                batch, seconds = [], 0.0
            batch.append(u)
            seconds += u.duration
        if batch:
            batches.append(batch)
    return batches


def load_audio(batch: Sequence[Utt]) -> torch.Tensor:
    """``[batch, samples]`` float32 16 kHz audio, zero-padded to the longest clip (first channel).

    A clip that cannot be read (its file gone or corrupt since the manifest was made) is one LwasrError line
    naming the utterance and its file; what was decoded before it stays, and a rerun resumes.
    """
    clips = []
    for u in batch:
        cut = u.cut if u.cut.sampling_rate == SAMPLE_RATE else u.cut.resample(SAMPLE_RATE)
        try:
            audio = cut.load_audio()
        except Exception as e:  # noqa: BLE001 - any reader failure means the audio is unreadable
            rec = getattr(cut, "recording", None)
            where = ", ".join(str(src.source) for src in rec.sources) if rec is not None else u.id
            raise LwasrError(
                f"cannot read the audio of {u.id} ({where}): {error_text(e)}. The decode so far is kept: restore"
                " the file, or drop the cut (`lwasr prepare validate` lists every unreadable one), and run again;"
                " it resumes"
            ) from e
        clips.append(torch.from_numpy(audio[0]))
    out = torch.zeros(len(clips), max(len(c) for c in clips))
    for i, c in enumerate(clips):
        out[i, : len(c)] = c
    return out[:, :CHUNK_SAMPLES]


def token_budget(seconds: float, opts: DecodeOptions) -> int:
    """New tokens a batch may generate: ``max_tokens_per_second`` x longest clip + 10, at most ``max_new_tokens``."""
    return min(opts.max_new_tokens, int(opts.max_tokens_per_second * seconds) + 10)


class Decoder:
    """Decodes batches of utterances with one system under fixed :class:`DecodeOptions`.

    ``lid_system``: the loaded ``opts.lid_system``, whose language ID then routes the agnostic scenario.
    """

    def __init__(
        self, system: System, opts: DecodeOptions, device: torch.device, lid_system: System | None = None
    ) -> None:
        if (lid_system is None) != (opts.lid_system is None):
            raise ValueError("give the loaded lid_system exactly when opts.lid_system names one")
        self.system = system
        self.opts = opts
        self.device = device
        for s in dict.fromkeys([system, lid_system or system]):  # the LID system sees the decode's input
            s.model.to(device)
            set_trimmed_input(s.model, bool(opts.trim))
            self.feature_dtype = apply_precision(s.model, opts.dtype, device, routes_by_language=s.routes_by_language)
        self.model = system.model
        self.tok = system.tokenizer
        self.mel = LogMel(n_mels=system.model.config.num_mel_bins).to(device)
        self.lid_source = lid_system or system
        self.identify = self.lid_source.identifier(opts.lid_langs)
        self.lid_langs = self.identify.langs
        self.mix_adapters = self._mix_adapters() if opts.soft_top_k else ()
        self.parts = WhisperParts.of(self.model)
        self.rules = GreedyRules.of(self.model) if opts.beam_size == 1 else None
        if opts.beam_size == 1 and self.rules is None:
            log.info("the generation config asks for more than plain greedy search; decoding with generate()")
        self._max_new = opts.max_new_tokens

    def _mix_adapters(self) -> tuple[str, ...]:
        """Soft routing: the adapter of each LID language (each must have one), in :attr:`lid_langs` order."""
        if not self.system.routes_by_language:
            raise LwasrError(f"--soft-top-k mixes language experts; {self.system.source} is a single model")
        adapters = {c: self.system.adapter_for(c) for c in self.lid_langs.codes}
        missing = [c for c, a in adapters.items() if a is None]
        if missing:
            shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
            raise LwasrError(
                f"--soft-top-k needs language ID over the experts' languages, but {shown} have no expert; give"
                f" --lid-langs {','.join(self.system.languages)} (a router unit identifies only its experts')"
            )
        return tuple(a for a in adapters.values() if a is not None)

    def __call__(self, batch: Sequence[Utt]) -> dict[str, list[dict[str, Any]]]:
        """Records of one batch per output scenario (``aware`` and/or ``agnostic``)."""
        feats = self.features(batch)
        self._max_new = token_budget(max(u.duration for u in batch), self.opts)
        given = [u.lang for u in batch]
        if self.opts.scenario == "aware":
            return {"aware": _records(batch, self._route(feats, None, given))}
        probs, hidden = self.language_probs(feats, [u.duration for u in batch])
        detected = detect(probs, self.lid_langs)
        langs = [d[0] for d in detected]
        mix = self._mixture(probs)
        if self.opts.scenario == "agnostic":
            return {"agnostic": _records(batch, self._route(feats, hidden, langs, mix), detected)}
        aware = self._route(feats, hidden, given)
        agnostic = list(aware)
        redo = [
            i
            for i, (d, g) in enumerate(zip(langs, given, strict=True))
            if self._decodes_differently(d, g) or (mix is not None and not mix.single(i))
        ]
        if redo:
            again = self._route(
                feats[redo],
                hidden[redo] if hidden is not None else None,
                [langs[i] for i in redo],
                mix.take(redo) if mix is not None else None,
            )
            for i, h in zip(redo, again, strict=True):
                agnostic[i] = h
        return {"aware": _records(batch, aware), "agnostic": _records(batch, agnostic, detected)}

    def features(self, batch: Sequence[Utt]) -> torch.Tensor:
        """The batch's log-mel features on the decoder's device, trimmed as the decode options say."""
        return self.mel(load_audio(batch).to(self.device), trim=bool(self.opts.trim)).to(self.feature_dtype)

    def language_probs(self, feats: torch.Tensor, seconds: Sequence[float]) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Language-ID probabilities of a batch (one row per utterance, over :attr:`lid_langs`), as the agnostic
        scenario computes them; and the encoder output that computed them when decoding can reuse it, else None.

        ``seconds``: each clip's length. Experts identify the language on the base model (their encoders differ
        from it), a router unit with its classifier, a single model itself (its encoder output is returned for
        the decode); with ``lid_system``, that system identifies it.
        """
        probs, hidden = self.identify(feats, seconds)
        return probs, hidden if self.lid_source is self.system else None

    def _mixture(self, probs: torch.Tensor) -> AdapterMixture | None:
        """Soft routing's per-row expert weights from the LID probabilities (None: hard routing)."""
        if not self.opts.soft_top_k:
            return None
        return AdapterMixture.top_k(probs, self.mix_adapters, self.opts.soft_top_k)

    def _decodes_differently(self, detected: str, given: str) -> bool:
        """Whether decoding with ``detected`` instead of ``given`` changes the prompt or the adapter."""
        if detected == given:
            return False
        return self.system.lang_token or self.system.adapter_for(detected) != self.system.adapter_for(given)

    def _route(
        self, feats: torch.Tensor, hidden: torch.Tensor | None, langs: list[str], mix: AdapterMixture | None = None
    ) -> list[str]:
        """Decode with the adapter each language needs (one call per adapter group, or per-sample names), or with
        each row's mixture of adapters (``mix``, soft routing); the prompt carries ``langs``."""
        if not self.system.routes_by_language:
            return self._decode(feats, hidden, langs)
        if mix is not None:
            with self.system.activate(None):
                return self._decode(feats, None, langs, mix)
        adapters = [self.system.adapter_for(lang) for lang in langs]
        if self.opts.routing == "per-sample":
            with self.system.unmerged():
                return self._decode(feats, None, langs, [a or BASE_ADAPTER for a in adapters])
        hyps: list[str] = [""] * len(langs)
        for adapter in dict.fromkeys(adapters):
            idx = [i for i, a in enumerate(adapters) if a == adapter]
            with self.system.activate(adapter):
                out = self._decode(feats[idx], None, [langs[i] for i in idx])
            for i, h in zip(idx, out, strict=True):
                hyps[i] = h
        return hyps

    def _decode(
        self,
        feats: torch.Tensor,
        hidden: torch.Tensor | None,
        langs: list[str],
        per_row: list[str] | AdapterMixture | None = None,
    ) -> list[str]:
        """Hypotheses of one batch in the current model state (``hidden``: its encoder output, if known).

        ``per_row``: each row's adapter (peft's per-sample ``adapter_names``) or mixture of adapters.
        """
        rows = self._row_context(per_row)
        if hidden is None:
            with rows(range(len(langs))):
                hidden = self.parts.encode(feats)
        if self.rules is None:
            with rows(range(len(langs))) if isinstance(per_row, AdapterMixture) else contextlib.nullcontext():
                sequences = self._generate(hidden, langs, per_row if isinstance(per_row, list) else None)
        else:
            prompts = torch.tensor([self._prompt(lang) for lang in langs], device=self.device)
            sequences = greedy_search(self.parts, hidden, prompts, self.rules, self._max_new, row_context=rows)
        return [t.strip() for t in self.tok.batch_decode(sequences, skip_special_tokens=True)]

    def _row_context(self, per_row: list[str] | AdapterMixture | None):
        """Decoder-call context for rows of the batch: peft's per-sample adapters of those rows, their mixtures,
        or nothing."""
        if per_row is None:
            return lambda rows: contextlib.nullcontext()
        if isinstance(per_row, AdapterMixture):
            return lambda rows: mixed_adapters(self.model, per_row.take(rows))
        return lambda rows: per_sample_adapters(self.model, [per_row[r] for r in rows])

    def _prompt(self, lang: str) -> list[int]:
        """``<|sot|><|lang|><|transcribe|><|notimestamps|>``, without the language when the model has none."""
        if not self.system.lang_token:
            return prompt_ids(self.tok, None)
        return forced_prompt(self.model.generation_config, lang)

    def _generate(self, hidden: torch.Tensor, langs: list[str], adapter_names: list[str] | None) -> torch.Tensor:
        """Beam search (or greedy with an unusual generation config) through transformers' Whisper ``generate``.

        It gets the encoder output, not the features: given trimmed features, ``generate`` would pad them
        with zeros to 3000 frames (30 s) before the encoder.
        """
        inputs: dict[str, Any] = {"encoder_outputs": BaseModelOutput(last_hidden_state=hidden)}
        if adapter_names is not None:
            inputs["adapter_names"] = adapter_names
        prompt: dict[str, Any] = {"language": langs, "task": "transcribe"}
        if not self.system.lang_token:  # language given only to stop generate's own language detection
            prompt["decoder_input_ids"] = torch.tensor([self._prompt(lang) for lang in langs], device=self.device)
        # a copy with max_length, not max_new_tokens: Whisper's generate counts max_length in new tokens after the
        # prompt, and with max_new_tokens it always warns "Both max_new_tokens and max_length" (its own copy of
        # the config gets max_length=20 from the global defaults)
        config = copy.deepcopy(self.model.generation_config)
        config.update(num_beams=self.opts.beam_size, do_sample=False, max_new_tokens=None, max_length=self._max_new)
        return self.model.generate(
            **inputs,
            **prompt,
            generation_config=config,
            # the encoder output has no padding to mask; saying so stops "the attention mask is not set"
            attention_mask=torch.ones(hidden.shape[:2], dtype=torch.long, device=hidden.device),
            return_timestamps=False,
        )


def _records(
    batch: Sequence[Utt], hyps: Sequence[str], detected: Sequence[tuple[str | None, float | None]] | None = None
) -> list[dict[str, Any]]:
    """``hyp.jsonl`` records of a batch (``detected``: LID language and probability per utterance, agnostic)."""
    detected = detected or [(None, None)] * len(batch)
    return [
        {
            "id": u.id,
            "lang": u.lang,
            "ref": u.ref,
            "hyp": h,
            "detected_lang": d[0],
            "lid_prob": d[1],
            "duration": round(u.duration, 3),
        }
        for u, h, d in zip(batch, hyps, detected, strict=True)
    ]


class _SuppressTokensWarning(logging.Filter):
    """Drops one transformers warning that its own Whisper ``generate`` causes, whatever the caller passes.

    Whisper's ``generate`` hands ``generation_config`` together with ``suppress_tokens`` and
    ``begin_suppress_tokens`` to the generic ``generate``, which then warns "Passing `generation_config`
    together with generation-related arguments". Only that message is dropped; other warnings pass.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        msg = record.getMessage()
        return not ("Passing `generation_config` together" in msg and "suppress_tokens" in msg)


logging.getLogger("transformers.generation.utils").addFilter(_SuppressTokensWarning())


def warn_other_languages(system: System, utts: Sequence[Utt]) -> None:
    """Warn once, with the counts, when cuts are labelled with a language the system was not trained for."""
    trained = system.trained_languages
    other = Counter(u.lang for u in utts if u.lang is not None and u.lang not in trained)
    if trained and other:
        counts = ", ".join(f"{n} cuts labelled {lang}" for lang, n in sorted(other.items()))
        log.warning(
            "%s (%s, trained on %s) decodes %s: a model used on a language it was not trained for",
            system.source,
            system.kind,
            ",".join(trained),
            counts,
        )


def settings_for(
    system: System, cuts_paths: Sequence[str | Path], opts: DecodeOptions, part: str | None = None
) -> dict[str, Any]:
    """The JSON-normalised settings recorded in settings.json (``part``: which output of a ``both`` decode)."""
    settings = {"system": system.describe(), "cuts": [str(Path(p).resolve()) for p in cuts_paths], **asdict(opts)}
    if part is not None:
        settings["part"] = part
    return json.loads(json.dumps(settings))


def decode_outputs(scenario: str, out_dir: str | Path, agnostic_out: str | Path | None) -> dict[str, Path]:
    """The decode dir of each part of ``scenario``: ``{scenario: out_dir}``, or the aware and agnostic ones of ``both``.

    The two dirs of ``both`` must be separate (neither equal to nor inside the other): one decode would
    otherwise discard or mix with the other. Cheap; the CLI calls it before loading the system.
    """
    if scenario != "both":
        if agnostic_out is not None:
            raise LwasrError("--agnostic-out is for --scenario both")
        return {scenario: Path(out_dir)}
    if agnostic_out is None:
        raise LwasrError("--scenario both writes two decodes: give --agnostic-out as well as --out")
    aware, agnostic = Path(out_dir), Path(agnostic_out)
    a, b = aware.resolve(), agnostic.resolve()
    if a == b or a in b.parents or b in a.parents:
        raise LwasrError(
            f"--out {aware} and --agnostic-out {agnostic} overlap (the same directory, or one inside the other);"
            f" the two decodes need separate directories, e.g. {aware.parent / (aware.name + '_agnostic')}"
        )
    return {"aware": aware, "agnostic": agnostic}


def default_device(device: str | None = None) -> str:
    """``device`` when given, else ``cuda`` when a GPU is visible, else ``cpu``."""
    return device or ("cuda" if torch.cuda.is_available() else "cpu")


def decode_cuts(
    system: System,
    cuts_paths: Sequence[str | Path],
    out_dir: str | Path,
    opts: DecodeOptions,
    *,
    agnostic_out: str | Path | None = None,
    lid_system: System | None = None,
    device: str | torch.device = "cpu",
    overwrite: bool = False,
    progress: bool = True,
) -> dict[str, Any]:
    """Decode manifests into ``out_dir`` (resuming a matching partial decode); return the summary.

    Scenario ``both`` writes the aware decode to ``out_dir`` and the agnostic one to ``agnostic_out``.
    ``lid_system``: the loaded ``opts.lid_system``.
    """
    if opts.lid_system and opts.scenario == "aware":
        raise LwasrError(
            "--lid-system routes by language ID, which the aware scenario does not use: use --scenario agnostic or both"
        )
    if opts.trim is None:
        opts = DecodeOptions(**{**asdict(opts), "trim": system.trim_default})
    outs = decode_outputs(opts.scenario, out_dir, agnostic_out)
    both = len(outs) > 1
    settings = {
        part: resume_settings(d, settings_for(system, cuts_paths, opts, part if both else None))
        for part, d in outs.items()
    }
    if not overwrite and all(is_complete(d, settings[part]) for part, d in outs.items()):
        log.info("%s is already decoded with these settings", " and ".join(map(str, outs.values())))
        return json.loads((Path(out_dir) / SUMMARY_FILE).read_text())
    utts = utterances(load_cuts(cuts_paths, split=None))
    if opts.scenario != "agnostic":
        if any(u.lang is None for u in utts):
            raise LwasrError("the aware scenario needs a language on every supervision; use --scenario agnostic")
        system.check_languages(sorted({u.lang for u in utts}))
    warn_other_languages(system, utts)
    writers = {part: HypWriter(d, settings[part], overwrite=overwrite) for part, d in outs.items()}
    try:
        todo = [u for u in utts if any(u.id not in w.done for w in writers.values())]
        by_language = opts.scenario != "agnostic" and system.routes_by_language and opts.routing == "group"
        batches = make_batches(todo, opts, by_language=by_language)
        decoder = Decoder(system, opts, torch.device(device), lid_system)
        start = time.perf_counter()
        with torch.inference_mode(), tqdm(total=len(todo), unit="utt", disable=not progress, desc="decode") as bar:
            for batch in batches:
                for part, records in decoder(batch).items():
                    writers[part].append(r for r in records if r["id"] not in writers[part].done)
                bar.update(len(batch))
        elapsed = time.perf_counter() - start
        summaries = {
            part: _summary(settings[part], todo, elapsed, len(w.records), str(device)) for part, w in writers.items()
        }
        for part, w in writers.items():
            w.finish(summaries[part])
    finally:
        for w in writers.values():
            w.close()
    return summaries["aware" if both else opts.scenario]


def _summary(settings: dict[str, Any], decoded: Sequence[Utt], elapsed: float, total: int, device: str) -> dict:
    audio = sum(u.duration for u in decoded)
    return {
        "utterances": total,
        "decoded_this_run": len(decoded),
        "audio_seconds": round(audio, 2),
        "decode_seconds": round(elapsed, 2),
        "utterances_per_second": round(len(decoded) / elapsed, 3) if elapsed else None,
        "real_time_factor": round(elapsed / audio, 4) if audio else None,
        "device": device,
        "torch_threads": torch.get_num_threads(),
        "settings": settings,
    }
