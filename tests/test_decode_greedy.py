"""The lean greedy search (lwasr/decoding/greedy.py) gives token for token what ``model.generate`` gives."""

from __future__ import annotations

import contextlib
import copy
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from transformers import WhisperForConditionalGeneration, WhisperTokenizerFast
from transformers.modeling_outputs import BaseModelOutput

from lwasr.decoding.greedy import GreedyRules, WhisperParts, forced_prompt, greedy_search, language_token_id
from lwasr.decoding.lid import LanguageSet, language_probs
from lwasr.features import LogMel
from lwasr.models.trim import set_trimmed_input
from lwasr.units.prompt import prompt_ids

MAX_NEW = 12


def audio_batch(seconds: list[float], seed: int = 0) -> torch.Tensor:
    """Zero-padded ``[batch, samples]`` tones with noise, one clip per duration."""
    rng = np.random.default_rng(seed)
    out = torch.zeros(len(seconds), int(max(seconds) * 16000))
    for i, dur in enumerate(seconds):
        t = np.arange(int(dur * 16000)) / 16000
        clip = 0.3 * np.sin(2 * np.pi * rng.uniform(100, 800) * t) + 0.05 * rng.standard_normal(len(t))
        out[i, : len(t)] = torch.from_numpy(clip.astype(np.float32))
    return out


def until_eos(tokens: list[int], *ends: int) -> list[int]:
    """Tokens before the first end (or, for generate's output, padding) token."""
    stop = [i for i, t in enumerate(tokens) if t in ends]
    return tokens[: stop[0]] if stop else tokens


def generate_tokens(model, feats, hidden, langs, *, prompt=None, max_new=MAX_NEW) -> list[list[int]]:
    """New tokens of ``model.generate`` (given the encoder output when ``hidden`` is not None)."""
    inputs = {"encoder_outputs": BaseModelOutput(last_hidden_state=hidden)} if hidden is not None else {}
    if hidden is None:
        inputs["input_features"] = feats
    if prompt is not None:
        inputs["decoder_input_ids"] = prompt
    with torch.inference_mode():
        out = model.generate(
            **inputs,
            language=langs,
            task="transcribe",
            num_beams=1,
            do_sample=False,
            max_new_tokens=max_new,
            return_timestamps=False,
        )
    gen = model.generation_config
    return [until_eos(row, gen.eos_token_id, gen.pad_token_id) for row in out.tolist()]


def lean_tokens(model, hidden, prompts, *, max_new=MAX_NEW) -> list[list[int]]:
    rules = GreedyRules.of(model)
    with torch.inference_mode():
        out = greedy_search(WhisperParts.of(model), hidden, prompts, rules, max_new)
    assert all(len(row) <= max_new for row in out)
    return [until_eos(row, rules.eos_id) for row in out]


@pytest.fixture(scope="module")
def tiny(tiny_whisper: Path):
    model = WhisperForConditionalGeneration.from_pretrained(tiny_whisper, attn_implementation="sdpa").eval()
    return model, WhisperTokenizerFast.from_pretrained(tiny_whisper)


def stop_token(rows: list[list[int]]) -> int:
    """A token at which the rows would end at different steps (some later, or never)."""

    def first(row: list[int], t: int) -> int:
        return row.index(t) if t in row else len(row)

    for t in dict.fromkeys(t for row in rows for t in row):
        if len({first(row, t) for row in rows}) > 1:
            return t
    pytest.skip("the random model gave identical rows")


def with_eos(model, eos: int):
    """A copy of ``model`` whose end token is ``eos``: lets a random model stop early in some rows."""
    other = copy.deepcopy(model)
    other.generation_config.eos_token_id = eos
    return other


@pytest.mark.parametrize("trim", [False, True])
@pytest.mark.parametrize("langs", [("pl", "pl", "pl"), ("pt", "pl", "pt")])
def test_aware_prompts_match_generate(tiny, langs, trim) -> None:
    model, _ = tiny
    model = copy.deepcopy(model)
    set_trimmed_input(model, trim)
    feats = LogMel()(audio_batch([2.0, 1.1, 0.5]), trim=trim)
    with torch.inference_mode():
        hidden = WhisperParts.of(model).encode(feats)
    prompts = torch.tensor([forced_prompt(model.generation_config, lang) for lang in langs])
    # untrimmed: generate runs the encoder itself; trimmed: generate would zero-pad the features to 30 s,
    # so it gets the (trimmed) encoder output, as lwasr's beam search does
    ref = generate_tokens(model, feats, hidden if trim else None, list(langs))
    assert lean_tokens(model, hidden, prompts) == ref
    # a sequence that ends early leaves the batch; the others go on unchanged (rows made to differ with
    # random encoder states: the random model hardly listens to its input)
    hidden = torch.randn(len(langs), 50, hidden.shape[-1], generator=torch.Generator().manual_seed(0)) * 50
    early = with_eos(model, stop_token(generate_tokens(model, None, hidden, list(langs))))
    ref_early = generate_tokens(early, None, hidden, list(langs))
    got = lean_tokens(early, hidden, prompts)
    assert got == ref_early
    assert min(len(r) for r in got) < max(len(r) for r in got)


def test_prompt_without_language_matches_generate(tiny) -> None:
    model, tok = tiny
    feats = LogMel()(audio_batch([1.5, 0.7], seed=1), trim=False)
    prompts = torch.tensor([prompt_ids(tok, None)] * 2)
    assert prompts[0].tolist() == forced_prompt(model.generation_config, None)
    with torch.inference_mode():
        hidden = WhisperParts.of(model).encode(feats)
    ref = generate_tokens(model, feats, None, ["pl", "pl"], prompt=prompts)
    assert lean_tokens(model, hidden, prompts) == ref


def test_first_step_suppression_and_cap(tiny) -> None:
    """begin_suppress_tokens only at the first step; suppress_tokens always; at most max_new tokens."""
    model, _ = tiny
    feats = LogMel()(audio_batch([1.0, 0.6], seed=2), trim=False)
    with torch.inference_mode():
        hidden = WhisperParts.of(model).encode(feats)
    prompts = torch.tensor([forced_prompt(model.generation_config, "pl")] * 2)
    with torch.inference_mode():
        free, _ = WhisperParts.of(model).step(prompts, hidden, None)
    first = int(free[0].argmax())
    # make the unconstrained first choice a begin-suppressed token: greedy must avoid it only at step 0
    forced = with_eos(model, model.generation_config.eos_token_id)
    forced.generation_config.begin_suppress_tokens = [first]
    ref = generate_tokens(forced, feats, None, ["pl", "pl"], max_new=5)
    got = lean_tokens(forced, hidden, prompts, max_new=5)
    assert got == ref and got[0][0] != first
    rules = GreedyRules.of(model)
    with torch.inference_mode():
        out = greedy_search(WhisperParts.of(model), hidden, prompts, rules, 3)
    assert all(len(r) <= 3 for r in out)
    assert not set(rules.suppress) & {t for r in out for t in r}


def test_rules_refuse_what_greedy_search_does_not_do(tiny) -> None:
    model, _ = tiny
    assert GreedyRules.of(model) is not None
    other = copy.deepcopy(model)
    other.generation_config.no_repeat_ngram_size = 3
    assert GreedyRules.of(other) is None


def test_language_aliases_resolve_like_generate(tiny) -> None:
    model, _ = tiny
    gen = copy.deepcopy(model.generation_config)
    gen.lang_to_id = {**gen.lang_to_id, "szl": gen.lang_to_id["<|pl|>"]}
    assert language_token_id(gen, "szl") == language_token_id(gen, "pl") == language_token_id(gen, "polish")


def test_lid_shares_the_encoder_output(tiny) -> None:
    model, _ = tiny
    feats = LogMel()(audio_batch([1.0, 0.6], seed=3), trim=False)
    langs = LanguageSet.build(model.generation_config.lang_to_id, ["pl", "pt", "it"])
    sot = model.generation_config.decoder_start_token_id
    with torch.inference_mode():
        hidden = WhisperParts.of(model).encode(feats)
        full = model(input_features=feats, decoder_input_ids=torch.full((2, 1), sot)).logits[:, -1]
    ref = full.index_select(-1, torch.tensor(langs.token_ids)).softmax(-1)
    torch.testing.assert_close(language_probs(model, sot, langs, encoder_hidden=hidden), ref)
    torch.testing.assert_close(language_probs(model, sot, langs, input_features=feats), ref)


# --- the embedded whisper-base on espeak-ng speech ---------------------------------------------------------

SPEECH = [  # (Whisper code, espeak-ng voice, sentence)
    ("pl", "pl", "Dzień dobry, dzisiaj jest piękna pogoda."),
    ("it", "it", "Buongiorno, oggi il tempo è bello e andiamo a fare una passeggiata."),
    ("pt", "pt", "Bom dia, hoje o tempo está bonito."),
]


def speak(voice: str, text: str, wav: Path) -> torch.Tensor:
    """espeak-ng speech resampled to 16 kHz (band-limited, by FFT)."""
    subprocess.run(["espeak-ng", "-v", voice, "-w", str(wav), text], check=True)
    audio, sr = sf.read(wav, dtype="float32")
    n = round(len(audio) * 16000 / sr)
    return torch.from_numpy((np.fft.irfft(np.fft.rfft(audio)[: n // 2 + 1], n) * n / len(audio)).astype(np.float32))


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")
@pytest.mark.parametrize("trim", [False, True])
def test_embedded_whisper_base_matches_generate(tmp_path: Path, trim: bool) -> None:
    from lwasr.units.base import load_whisper

    model, _ = load_whisper("embedded:whisper-base")
    set_trimmed_input(model, trim)
    clips = [speak(voice, text, tmp_path / f"{lang}.wav") for lang, voice, text in SPEECH]
    audio = torch.zeros(len(clips), max(len(c) for c in clips))
    for i, c in enumerate(clips):
        audio[i, : len(c)] = c
    feats = LogMel()(audio, trim=trim)
    langs = [lang for lang, _, _ in SPEECH]
    with torch.inference_mode():
        hidden = WhisperParts.of(model).encode(feats)
    prompts = torch.tensor([forced_prompt(model.generation_config, lang) for lang in langs])
    ref = generate_tokens(model, feats, hidden if trim else None, langs, max_new=80)
    got = lean_tokens(model, hidden, prompts, max_new=80)
    assert got == ref
    assert len({len(r) for r in got}) > 1  # rows ended at different steps


def test_step_threads_run_the_one_token_steps_and_change_no_token(tiny) -> None:
    """--step-threads: the prompt call keeps torch's threads, the one-token steps run in the given threads, the
    tokens are the same, and torch's setting is restored after the search."""
    model, _ = tiny
    feats = LogMel()(audio_batch([1.4, 0.9], seed=3), trim=False)
    parts, rules = WhisperParts.of(model), GreedyRules.of(model)
    prompts = torch.tensor([forced_prompt(model.generation_config, "pl")] * 2)
    seen: list[int] = []

    def note_threads(rows):
        seen.append(torch.get_num_threads())
        return contextlib.nullcontext()

    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        with torch.inference_mode():
            hidden = parts.encode(feats)
            ref = greedy_search(parts, hidden, prompts, rules, 6)
            got = greedy_search(parts, hidden, prompts, rules, 6, row_context=note_threads, step_threads=1)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
    assert got == ref
    assert len(seen) > 1 and seen[0] == 2 and set(seen[1:]) == {1}
