"""Make the decoding benchmark corpus: espeak-ng speech of lwasr's text lines, resampled to 16 kHz.

Usage: python bench/decode_make_data.py OUT_DIR [--per-lang 10] [--langs pl,it,pt,da]
Writes OUT_DIR/wav/*.wav (16 kHz mono) and OUT_DIR/cuts.jsonl.gz (one supervision per cut, with language).

Or, instead of synthesising, the first ``--per-lang`` cuts of each language's test manifest of a prepared corpus
(``synth_<lang>_test-first32_cuts.jsonl.gz`` of egs/espeak8, say) into OUT_DIR/cuts.jsonl.gz:
  python bench/decode_make_data.py OUT_DIR --from-manifests MANIFEST_DIR --per-lang 4 --langs pl,pt,it,zh,da,el,cy,ja
"""

from __future__ import annotations

import argparse
import subprocess
from importlib import resources
from pathlib import Path

import numpy as np
import soundfile as sf
from lhotse import CutSet, MonoCut, Recording, SupervisionSegment

VOICES = {"zh": "cmn", "pl": "pl", "it": "it", "pt": "pt", "da": "da", "el": "el", "cy": "cy", "ja": "ja"}


def fft_resample(audio: np.ndarray, sr: int, target: int) -> np.ndarray:
    """Band-limited resampling by truncating the spectrum (no scipy/torchaudio needed)."""
    n_out = round(len(audio) * target / sr)
    spec = np.fft.rfft(audio)[: n_out // 2 + 1]
    return (np.fft.irfft(spec, n_out) * n_out / len(audio)).astype(np.float32)


def synth(text: str, voice: str, path: Path) -> None:
    """espeak-ng speech of ``text`` at 16 kHz in ``path`` ."""
    raw = path.with_suffix(".raw.wav")
    subprocess.run(["espeak-ng", "-v", voice, "-w", str(raw), text], check=True)
    audio, sr = sf.read(raw, dtype="float32")
    sf.write(path, fft_resample(audio, sr, 16000), 16000)
    raw.unlink()


def subset(manifests: Path, langs: list[str], per_lang: int, out: Path) -> None:
    """The first ``per_lang`` cuts of each language's ``synth_<lang>_test-first32`` manifest in OUT/cuts.jsonl.gz."""
    cuts = []
    for lang in langs:
        cuts += list(CutSet.from_file(manifests / f"synth_{lang}_test-first32_cuts.jsonl.gz"))[:per_lang]
    out.mkdir(parents=True, exist_ok=True)
    CutSet.from_cuts(cuts).to_file(out / "cuts.jsonl.gz")
    print(f"{len(cuts)} cuts, {sum(c.duration for c in cuts):.1f} s -> {out / 'cuts.jsonl.gz'}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", type=Path)
    ap.add_argument("--per-lang", type=int, default=10)
    ap.add_argument("--langs", default="pl,it,pt,da")
    ap.add_argument("--offset", type=int, default=200, help="first line of each text file to use")
    ap.add_argument("--from-manifests", type=Path, help="take the clips from this dir's test-first32 manifests")
    args = ap.parse_args()
    if args.from_manifests:
        subset(args.from_manifests, args.langs.split(","), args.per_lang, args.out)
        return
    (args.out / "wav").mkdir(parents=True, exist_ok=True)
    cuts = []
    for lang in args.langs.split(","):
        lines = (resources.files("lwasr") / "data" / "text" / f"{lang}.txt").read_text("utf-8").splitlines()
        for i, text in enumerate(lines[args.offset : args.offset + args.per_lang]):
            uid = f"{lang}_{i:03d}"
            wav = args.out / "wav" / f"{uid}.wav"
            if not wav.exists():
                synth(text, VOICES[lang], wav)
            rec = Recording.from_file(wav, recording_id=uid)
            sup = SupervisionSegment(uid, uid, 0.0, rec.duration, text=text, language=lang)
            cuts.append(MonoCut(uid, 0.0, rec.duration, 0, recording=rec, supervisions=[sup]))
    CutSet.from_cuts(cuts).to_file(args.out / "cuts.jsonl.gz")
    print(f"{len(cuts)} cuts, {sum(c.duration for c in cuts):.1f} s -> {args.out / 'cuts.jsonl.gz'}")


if __name__ == "__main__":
    main()
