"""The embedded whisper-base, converted to HF, decodes token for token like CTranslate2 itself.

Uses the real model in the default models dir (tools/install.sh installs it; otherwise the first run
converts it, a few seconds) and speech spoken by espeak-ng.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from lwasr.models.embedded import assemble_ct2, install_embedded
from lwasr.models.resolve import resolve_model

ctranslate2 = pytest.importorskip("ctranslate2")

SENTENCES = {  # Whisper code -> (espeak-ng voice, sentence)
    "pl": ("pl", "Dzień dobry, dzisiaj jest piękna pogoda i idziemy na spacer do parku."),
    "it": ("it", "Buongiorno, oggi il tempo è bello e andiamo a fare una passeggiata."),
    "da": ("da", "God morgen, i dag er vejret smukt, og vi går en tur i parken."),
    "zh": ("cmn", "今天天气很好，我们去公园散步吧。"),
    "pt": ("pt", "Bom dia, hoje o tempo está bonito e vamos passear no parque."),
}


def speak(voice: str, text: str, wav: Path) -> np.ndarray:
    """espeak-ng speech resampled from 22050 Hz to 16 kHz (band-limited, by FFT)."""
    subprocess.run(["espeak-ng", "-v", voice, "-w", str(wav), text], check=True)
    audio, sr = sf.read(wav, dtype="float32")
    n = round(len(audio) * 16000 / sr)
    return (np.fft.irfft(np.fft.rfft(audio)[: n // 2 + 1], n) * n / len(audio)).astype(np.float32)


@pytest.fixture(scope="module")
def embedded() -> Path:
    return install_embedded()


def test_install_is_idempotent_and_fast(embedded):
    start = time.monotonic()
    assert install_embedded() == embedded
    assert time.monotonic() - start < 1.0
    assert resolve_model("embedded:whisper-base") == str(embedded)


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")
def test_greedy_decoding_matches_ctranslate2(embedded, tmp_path):
    from transformers import WhisperForConditionalGeneration, WhisperProcessor

    proc = WhisperProcessor.from_pretrained(embedded)
    model = WhisperForConditionalGeneration.from_pretrained(embedded).eval()
    ct2 = ctranslate2.models.Whisper(str(assemble_ct2("whisper-base", tmp_path / "ct2")), compute_type="float32")
    eos = proc.tokenizer.eos_token_id
    for lang, (voice, text) in SENTENCES.items():
        audio = speak(voice, text, tmp_path / f"{lang}.wav")
        feats = proc.feature_extractor(audio, sampling_rate=16000, return_tensors="np").input_features
        with torch.no_grad():
            ours = model.generate(torch.from_numpy(feats), language=lang, task="transcribe")[0].tolist()
        ours = [t for t in ours if t != eos]
        prompt = ["<|startoftranscript|>", f"<|{lang}|>", "<|transcribe|>", "<|notimestamps|>"]
        ref = ct2.generate(ctranslate2.StorageView.from_array(feats), [prompt], beam_size=1)[0].sequences_ids[0]
        assert len(ref) > 3, f"{lang}: CTranslate2 produced almost nothing"
        assert ours == ref, f"{lang}: {proc.tokenizer.decode(ours)!r} != {proc.tokenizer.decode(ref)!r}"
        if lang == "pl":  # the encoders agree closely too
            with torch.no_grad():
                enc = model.model.encoder(torch.from_numpy(feats)).last_hidden_state.numpy()
            ref_enc = np.asarray(ct2.encode(ctranslate2.StorageView.from_array(feats), to_cpu=True))
            assert np.abs(enc - ref_enc).max() < 2e-3
