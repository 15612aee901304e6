"""The decoder of batches: features on the device, language routing, greedy or beam search.

Greedy search (``beam_size == 1``) runs :func:`lwasr.decoding.greedy.greedy_search` (the same tokens as
transformers' ``generate``, without its per-step overhead); beam search uses ``generate``.

Scenarios:

- ``aware``: each utterance's given language is its prompt token and picks its expert.
- ``agnostic``: language ID picks the language. Expert systems run LID on the base model
  (adapters disabled), then route to the expert; single models detect the language themselves.
- ``both``: the two in one pass, into two decode dirs. An utterance whose detected language leads to the
  same prompt and the same adapter as its given one has the same agnostic hypothesis as its aware one, so
  only the others are decoded a second time (regrouped by expert, for hard group routing of experts); single
  models also share one encoder pass between LID and decoding. With a good LID this nearly halves the cost of
  decoding both scenarios.

Routing of experts (``routing``):

- ``group``: batches hold one language (aware) or one routed expert (agnostic: language ID runs on every batch
  first, then the utterances are regrouped by routed expert across batches, :mod:`lwasr.decoding.regroup`); the
  expert is merged into the weights when a batch needs another one than the last (batches of one expert come in a
  row, so each expert is merged once per run of them). Default: it was faster on CPU (docs/performance.md).
- ``per-sample``: mixed-language batches with peft's per-sample ``adapter_names``.

Agnostic routing of experts: hard (default), the identified language's expert; or soft (``soft_top_k``), a
mixture of the ``k`` most probable languages' experts weighted by their LID probabilities (lwasr/units/mixture.py).
Language ID is the system's own (:meth:`System.identifier`: the base model for experts, a router unit's
classifier) or that of another system (``lid_system``: any single model's own LID, or a router unit).
"""

from __future__ import annotations

import contextlib
import copy
import logging
import re
from collections.abc import Iterator, Sequence
from dataclasses import replace
from typing import Any

import torch
from transformers.modeling_outputs import BaseModelOutput

from lwasr.decoding.audio import load_audio
from lwasr.decoding.batching import Utt, token_budget
from lwasr.decoding.fallback import FallbackRules, Hypothesis, decode_with_fallback, sampling_generator, scored
from lwasr.decoding.greedy import GreedyRules, WhisperParts, forced_prompt, search
from lwasr.decoding.lid import detect
from lwasr.decoding.options import DecodeOptions
from lwasr.decoding.precision import apply_precision, decode_dtype
from lwasr.decoding.regroup import Routed
from lwasr.decoding.rows import MixedAdapters, PerSampleAdapters, RowAdapters
from lwasr.decoding.systems import BASE_ADAPTER, System
from lwasr.errors import LwasrError
from lwasr.features import LogMel
from lwasr.models.trim import set_trimmed_input
from lwasr.units.mixture import AdapterMixture
from lwasr.units.prompt import prompt_ids

log = logging.getLogger(__name__)

#: Every row decoded by the model as it is.
WHOLE_BATCH = RowAdapters()


def default_device(device: str | None = None) -> str:
    """``device`` when given, else ``cuda`` when a GPU is visible, else ``cpu``."""
    return device or ("cuda" if torch.cuda.is_available() else "cpu")


def system_options(opts: DecodeOptions, system: System, device: torch.device) -> DecodeOptions:
    """``opts`` with what the loaded ``system`` decides: ``trim`` left unset follows how it was trained, ``dtype``
    auto is bfloat16 for a fine-tuned system on a device with native bfloat16 (:func:`decode_dtype`). The decode
    records these resolved settings."""
    trim = system.trim_default if opts.trim is None else opts.trim
    return replace(opts, trim=trim, dtype=decode_dtype(opts.dtype, device, fine_tuned=system.meta is not None))


class Decoder:
    """Decodes batches of utterances with one system under fixed :class:`DecodeOptions`.

    ``lid_system``: the loaded ``opts.lid_system``, whose language ID then routes the agnostic scenario.
    ``step_threads``: torch's CPU threads for greedy search's one-token steps (None: as set).
    """

    def __init__(
        self,
        system: System,
        opts: DecodeOptions,
        device: torch.device,
        lid_system: System | None = None,
        *,
        step_threads: int | None = None,
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
        self._check_lid_languages()
        self.mix_adapters = self._mix_adapters() if opts.soft_top_k else ()
        self.parts = WhisperParts.of(self.model)
        self.rules = GreedyRules.of(self.model) if opts.beam_size == 1 else None
        if opts.beam_size == 1 and self.rules is None:
            log.info("the generation config asks for more than plain greedy search; decoding with generate()")
        self.fallback = FallbackRules.of(opts)
        if self.rules is None and self.fallback.active:
            log.info("temperature fallback and the no-speech rule apply to greedy search only; not to this decode")
        self.no_speech_id = _no_speech_id(self.tok)
        self.step_threads = step_threads
        self._max_new = opts.max_new_tokens

    def _check_lid_languages(self) -> None:
        """A LID source that identifies only its own languages (a router, as ``--lid-system``) must identify none
        that the decoded experts lack: those would be decoded by the base model without a word."""
        source, system = self.lid_source, self.system
        if source is system or not source.closed_lid or not system.routes_by_language:
            return
        missing = [c for c in self.lid_langs.codes if system.adapter_for(c) is None]
        if missing:
            common = [c for c in self.lid_langs.codes if c not in missing]
            raise LwasrError(
                f"--lid-system {source.source} identifies {', '.join(missing)}, which {system.source} has no expert"
                f" for; use a router trained for these experts (lwasr router train --experts {system.source})"
                + (f", or --lid-langs {','.join(common)}" if common else "")
            )

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
        mixed = tuple(a for a in adapters.values() if a is not None)
        if self.opts.soft_top_k > len(mixed):
            raise LwasrError(
                f"--soft-top-k {self.opts.soft_top_k}: language ID chooses among {len(mixed)} experts"
                f" ({', '.join(adapters)}); give at most {len(mixed)}"
            )
        return mixed

    @property
    def regroups(self) -> bool:
        """Whether the agnostic scenario decodes in a second pass, regrouped by expert across batches
        (:mod:`lwasr.decoding.regroup`): hard routing of experts by groups. Per-sample and soft routing decode a
        mixed batch whole, and a single model routes nothing."""
        return (
            self.opts.scenario != "aware"
            and self.system.routes_by_language
            and self.opts.routing == "group"
            and not self.opts.soft_top_k
        )

    def __call__(self, batch: Sequence[Utt]) -> dict[str, list[dict[str, Any]]]:
        """Records of one batch per output scenario (``aware`` and/or ``agnostic``), every utterance decoded."""
        return self.decode_batch(batch, regroup=False)[0]

    def decode_batch(
        self, batch: Sequence[Utt], *, regroup: bool
    ) -> tuple[dict[str, list[dict[str, Any]]], list[Routed]]:
        """Records of one batch per output scenario; with ``regroup`` (where :attr:`regroups`), the agnostic decodes
        are left to :meth:`decode_routed` and returned as :class:`Routed` utterances instead: every utterance
        (agnostic), or those whose detected language changes the prompt or the expert (both)."""
        if regroup and not self.regroups:
            raise ValueError("only hard group routing of experts in an agnostic scenario regroups")
        feats = self._start(batch)
        given = [u.lang for u in batch]
        if self.opts.scenario == "aware":
            return {"aware": _records(batch, self._route(feats, None, given))}, []
        probs, hidden = self.language_probs(feats, [u.duration for u in batch])
        detected = detect(probs, self.lid_langs)
        langs = [d[0] for d in detected]
        if self.opts.scenario == "agnostic" and regroup:
            return {"agnostic": []}, [Routed(u, *d) for u, d in zip(batch, detected, strict=True)]
        mix = self._mixture(probs)
        if self.opts.scenario == "agnostic":
            return {"agnostic": _records(batch, self._route(feats, hidden, langs, mix), detected)}, []
        aware = self._route(feats, hidden, given)
        redo = [
            i
            for i, (d, g) in enumerate(zip(langs, given, strict=True))
            if self._decodes_differently(d, g) or (mix is not None and not mix.single(i))
        ]
        if regroup:
            keep = sorted(set(range(len(batch))) - set(redo))
            reused = _records([batch[i] for i in keep], [aware[i] for i in keep], [detected[i] for i in keep])
            return {"aware": _records(batch, aware), "agnostic": reused}, [Routed(batch[i], *detected[i]) for i in redo]
        agnostic = list(aware)
        if redo:
            again = self._route(
                feats[redo],
                hidden[redo] if hidden is not None else None,
                [langs[i] for i in redo],
                mix.take(redo) if mix is not None else None,
            )
            for i, h in zip(redo, again, strict=True):
                agnostic[i] = h
        return {"aware": _records(batch, aware), "agnostic": _records(batch, agnostic, detected)}, []

    def decode_routed(self, group: Sequence[Routed]) -> list[dict[str, Any]]:
        """Agnostic records of one batch of :func:`lwasr.decoding.regroup.regroup` (one expert's utterances), each
        decoded with the prompt of its detected language."""
        batch = [r.utt for r in group]
        hyps = self._route(self._start(batch), None, [r.lang for r in group])
        return _records(batch, hyps, [r.detected for r in group])

    def _start(self, batch: Sequence[Utt]) -> torch.Tensor:
        """The batch's features, and its token budget set from its longest clip."""
        self._max_new = token_budget(max(u.duration for u in batch), self.opts)
        return self.features(batch)

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
    ) -> list[Hypothesis]:
        """Decode with the adapter each language needs (one call per adapter group, or per-sample names), or with
        each row's mixture of adapters (``mix``, soft routing); the prompt carries ``langs``."""
        if not self.system.routes_by_language:
            return self._decode(feats, hidden, langs)
        if mix is not None:
            with self.system.activate(None):
                return self._decode(feats, None, langs, MixedAdapters(self.model, mix))
        adapters = [self.system.adapter_for(lang) for lang in langs]
        if self.opts.routing == "per-sample":
            with self.system.unmerged():
                return self._decode(
                    feats, None, langs, PerSampleAdapters(self.model, [a or BASE_ADAPTER for a in adapters])
                )
        hyps: list[Hypothesis] = [Hypothesis("")] * len(langs)
        for adapter in dict.fromkeys(adapters):
            idx = [i for i, a in enumerate(adapters) if a == adapter]
            with self.system.activate(adapter):
                out = self._decode(feats[idx], None, [langs[i] for i in idx])
            for i, h in zip(idx, out, strict=True):
                hyps[i] = h
        return hyps

    def _decode(
        self, feats: torch.Tensor, hidden: torch.Tensor | None, langs: list[str], adapters: RowAdapters = WHOLE_BATCH
    ) -> list[Hypothesis]:
        """Hypotheses of one batch in the current model state (``hidden``: its encoder output, if known); greedy
        search with temperature fallback (:mod:`lwasr.decoding.fallback`), or ``generate``.

        ``adapters``: which adapters decode each row (:mod:`lwasr.decoding.rows`).
        """
        if hidden is None:
            with adapters.context(range(len(langs))):
                hidden = self.parts.encode(feats)
        if self.rules is None:
            with adapters.generate_context(len(langs)):
                sequences = self._generate(hidden, langs, adapters.generate_inputs())
            return [Hypothesis(text) for text in self._texts(sequences)]
        prompts = torch.tensor([self.prompt(lang) for lang in langs], device=self.device)

        def decode_rows(rows: list[int], temperature: float, before: list[str]) -> list[Hypothesis]:
            seed = self.opts.fallback_seed
            generators = [
                sampling_generator(seed, f"{langs[r]}\0{b}", temperature, hidden.device)
                for r, b in zip(rows, before, strict=True)
                if temperature
            ]
            found = search(
                self.parts,
                hidden[rows],
                prompts[rows],
                self.rules,
                self._max_new,
                row_context=lambda sub: adapters.context([rows[k] for k in sub]),
                temperature=temperature,
                generators=generators or None,
                scores=True,
                no_speech_id=self.no_speech_id,
                step_threads=self.step_threads,
            )
            texts = self._texts([f.tokens for f in found])
            eos = self.rules.eos_id
            return [
                scored(t, temperature, f.tokens, f.sum_logprob, eos, f.no_speech_prob)
                for t, f in zip(texts, found, strict=True)
            ]

        return decode_with_fallback(decode_rows, len(langs), self.fallback)

    def _texts(self, sequences) -> list[str]:
        """The stripped texts of token sequences, special tokens left out."""
        return [t.strip() for t in self.tok.batch_decode(sequences, skip_special_tokens=True)]

    def prompt(self, lang: str | None) -> list[int]:
        """``<|sot|><|lang|><|transcribe|><|notimestamps|>``, without the language when the model has none."""
        if not self.system.lang_token:
            return prompt_ids(self.tok, None)
        return forced_prompt(self.model.generation_config, lang)

    def _generate(self, hidden: torch.Tensor, langs: list[str], extra: dict[str, Any]) -> torch.Tensor:
        """Beam search (or greedy with an unusual generation config) through transformers' Whisper ``generate``
        (``extra``: more of its inputs, e.g. per-sample adapters).

        It gets the encoder output, not the features: given trimmed features, ``generate`` would pad them
        with zeros to 3000 frames (30 s) before the encoder.
        """
        inputs: dict[str, Any] = {"encoder_outputs": BaseModelOutput(last_hidden_state=hidden), **extra}
        prompt: dict[str, Any] = {"language": langs, "task": "transcribe"}
        if not self.system.lang_token:  # language given only to stop generate's own language detection
            prompt["decoder_input_ids"] = torch.tensor([self.prompt(lang) for lang in langs], device=self.device)
        # a copy with max_length, not max_new_tokens: Whisper's generate counts max_length in new tokens after the
        # prompt, and with max_new_tokens it always warns "Both max_new_tokens and max_length" (its own copy of
        # the config gets max_length=20 from the global defaults)
        config = copy.deepcopy(self.model.generation_config)
        config.update(num_beams=self.opts.beam_size, do_sample=False, max_new_tokens=None, max_length=self._max_new)
        with _quiet_generate():
            return self.model.generate(
                **inputs,
                **prompt,
                generation_config=config,
                # the encoder output has no padding to mask; saying so stops "the attention mask is not set"
                attention_mask=torch.ones(hidden.shape[:2], dtype=torch.long, device=hidden.device),
                return_timestamps=False,
                # also a keyword (the config has it too) because peft reads it there: with per-sample adapters
                # it repeats each row's adapter name once per beam, for the decoder's beam-expanded rows
                num_beams=self.opts.beam_size,
            )


def _no_speech_id(tokenizer) -> int | None:
    """The id of ``<|nospeech|>`` (``<|nocaptions|>`` in older vocabularies); None when the model has neither."""
    for token in ("<|nospeech|>", "<|nocaptions|>"):
        token_id = tokenizer.convert_tokens_to_ids(token)
        if token_id is not None and token_id != tokenizer.unk_token_id:
            return int(token_id)
    return None


def _records(
    batch: Sequence[Utt], hyps: Sequence[Hypothesis], detected: Sequence[tuple[str | None, float | None]] | None = None
) -> list[dict[str, Any]]:
    """``hyp.jsonl`` records of a batch (``detected``: LID language and probability per utterance, agnostic)."""
    detected = detected or [(None, None)] * len(batch)
    return [
        {
            "id": u.id,
            "lang": u.lang,
            "ref": u.ref,
            "hyp": h.text,
            "detected_lang": d[0],
            "lid_prob": d[1],
            "duration": round(u.duration, 3),
            **h.fields(),
        }
        for u, h, d in zip(batch, hyps, detected, strict=True)
    ]


class _SuppressTokensWarning(logging.Filter):
    """Drops one transformers warning that lwasr's own ``generate`` call causes, whatever the caller passes.

    Whisper's ``generate`` hands ``generation_config`` together with ``suppress_tokens`` and
    ``begin_suppress_tokens`` to the generic ``generate``, and lwasr passes ``num_beams`` as a keyword beside the
    config (peft reads it there); the generic ``generate`` then warns "Passing `generation_config` together with
    generation-related arguments=({...})". That message is dropped when it names only those arguments; other
    warnings, and that one naming any other argument, pass.
    """

    EXPECTED = frozenset({"suppress_tokens", "begin_suppress_tokens", "num_beams"})

    def filter(self, record: logging.LogRecord) -> bool:
        msg = record.getMessage()
        if "Passing `generation_config` together" not in msg:
            return True
        named = set(re.findall(r"'(\w+)'", msg.partition("arguments=")[2].partition("}")[0]))
        return not (named and named <= self.EXPECTED)


@contextlib.contextmanager
def _quiet_generate() -> Iterator[None]:
    """While ``generate`` runs: drop the warning :class:`_SuppressTokensWarning` names (the filter is removed after)."""
    logger = logging.getLogger("transformers.generation.utils")
    quiet = _SuppressTokensWarning()
    logger.addFilter(quiet)
    try:
        yield
    finally:
        logger.removeFilter(quiet)
