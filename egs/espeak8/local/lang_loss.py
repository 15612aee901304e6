"""Per-language teacher-forced loss of trained systems: where does one system fit a language better? (issue 14)

The trainer's dev loss chooses the best epoch; for shared LoRA it is pooled over the languages, so it cannot be
set beside an expert's. This script computes, for each system and language, the cross-entropy per token of the
reference transcript (text + end token, the trainer's loss, with the system's own prompt and encoder input) on a
split, e.g. dev (the voices of training) and test (voices no training utterance has):

    python local/lang_loss.py --manifests data/espeak8_paper/manifests --splits dev,test \
        --system experts=exp/espeak8_paper/experts --system shared=exp/espeak8_paper/shared \
        --out exp/espeak8_paper/lang_loss.json

It prints a Markdown table (system x language, per split) and writes the numbers as JSON. The batches are not
the trainer's (one bucket here), and trimmed input pads to each batch's longest clip, so a value can differ from
the trainer's dev loss in the third decimal (pl expert, paper run: 0.631 here, 0.633 in its train.log).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from lwasr.data.cuts import load_cuts
from lwasr.decoding.systems import load_system
from lwasr.features import LogMel
from lwasr.models.trim import set_trimmed_input
from lwasr.training import data as D


def split_loss(system, cuts, lang: str, max_duration: float) -> tuple[float, int]:  # noqa: ANN001 - a System
    """Summed cross-entropy and token count of ``cuts`` (one language) under ``system``, as the trainer counts."""
    model = system.model
    mel = LogMel(model.config.num_mel_bins)
    dataset = D.AsrDataset(system.tokenizer, lang_token=system.lang_token)
    sampler = D.make_sampler(cuts, max_duration, num_buckets=1, shuffle=False, seed=0, world_size=1, rank=0)
    total, tokens = 0.0, 0
    with torch.no_grad(), system.activate(system.adapter_for(lang)):
        for batch in D.make_loader(dataset, D.SkipFirst(sampler), 0):
            feats = mel(batch["audio"], trim=system.trim_default)
            logits = model(input_features=feats, decoder_input_ids=batch["decoder_input_ids"]).logits
            loss, n = D.token_loss(logits.float(), batch["labels"])
            total, tokens = total + loss.item(), tokens + n
    return total, tokens


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--manifests", type=Path, required=True, help="dir of <corpus>_<lang>_<split>_cuts.jsonl.gz")
    ap.add_argument("--corpus", default="synth")
    ap.add_argument("--langs", default="pl,pt,it,zh,da,el,cy,ja")
    ap.add_argument("--splits", default="dev,test")
    ap.add_argument("--system", action="append", required=True, help="NAME=PATH (an experts dir or a unit)")
    ap.add_argument("--max-duration", type=float, default=60.0, help="seconds of audio per batch")
    ap.add_argument("--out", type=Path, required=True, help="JSON of the losses")
    args = ap.parse_args()
    torch.set_num_threads(2)
    langs, splits = args.langs.split(","), args.splits.split(",")
    results: dict[str, dict[str, dict[str, float]]] = {}
    for spec in args.system:
        name, _, path = spec.partition("=")
        system = load_system(path)
        set_trimmed_input(system.model, system.trim_default)
        for split in splits:
            per_lang = {}
            for lang in langs:
                cuts = load_cuts([str(args.manifests / f"{args.corpus}_{lang}_{split}_cuts.jsonl.gz")], split=None)
                total, tokens = split_loss(system, cuts, lang, args.max_duration)
                per_lang[lang] = round(total / tokens, 4)
            per_lang["avg"] = round(sum(per_lang.values()) / len(langs), 4)
            results.setdefault(split, {})[name] = per_lang
            print(f"{name} {split}: {per_lang}", flush=True)
    args.out.write_text(json.dumps(results, indent=1) + "\n")
    for split, table in results.items():
        print(f"\n{split}: loss per token (lower is better)\n")
        print("| system | " + " | ".join([*langs, "avg"]) + " |")
        print("|---|" + "---:|" * (len(langs) + 1))
        for name, row in table.items():
            print(f"| {name} | " + " | ".join(f"{row[k]:.3f}" for k in [*langs, "avg"]) + " |")


if __name__ == "__main__":
    main()
