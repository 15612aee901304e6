"""How wide is the 95% interval of "system against baseline" at a given test-set size? (issue 13)

Reads two finished decodes of the same test set (e.g. experts and shared LoRA, language-aware), takes the first
N utterances of each language (by id: the first N of `prepare synth --test N'`, since a larger test split starts
with the smaller one's utterances), and prints, for each N, the paired-bootstrap difference of the macro average
with its interval, exactly as `lwasr score compare` computes it. Used to choose the recipe's test size
(docs/results.md):

    python local/interval_width.py exp/espeak8_t255/decode_shared_aware_test \
        exp/espeak8_t255/decode_experts_aware_test --sizes 32,64,128,192,255
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from pathlib import Path

from lwasr.scoring.bootstrap import Bootstrap, paired
from lwasr.scoring.comparison import System, lang_counts
from lwasr.scoring.metrics import DEFAULT_NORMALIZER, read_records, score_utterances, summarize


def first_per_language(records: list[dict], n: int) -> list[dict]:
    """The first ``n`` records of each language, in id order."""
    by_lang: dict[str, list[dict]] = defaultdict(list)
    for rec in sorted(records, key=lambda r: r["id"]):
        by_lang[rec["lang"]].append(rec)
    return [rec for recs in by_lang.values() for rec in recs[:n]]


def system(name: str, records: list[dict], normalizer: str) -> System:
    scores = score_utterances(records, normalizer)
    return System(name, [[]], [scores], [summarize(scores, records, normalizer)])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("baseline", type=Path, help="decode dir of the baseline (e.g. shared LoRA)")
    ap.add_argument("other", type=Path, help="decode dir of the system compared with it (e.g. experts)")
    ap.add_argument("--sizes", default="32,64,128,255", help="utterances per language, comma-separated")
    ap.add_argument("--resamples", type=int, default=1000)
    ap.add_argument("--normalizer", default=DEFAULT_NORMALIZER)
    args = ap.parse_args()
    base_recs, other_recs = read_records([args.baseline]), read_records([args.other])
    print(f"{args.other.name} against {args.baseline.name}, paired bootstrap ({args.resamples} resamples), 95% CI")
    cols = ["utts/lang", "words or chars", "baseline avg", "other avg", "abs. diff [95% CI]", "rel. diff [95% CI]"]
    print("| " + " | ".join([*cols, "rel. half-width"]) + " |")
    print("|---:|---:|---:|---:|---|---|---:|")
    for n in (int(x) for x in args.sizes.split(",")):
        b = system("baseline", first_per_language(base_recs, n), args.normalizer)
        o = system("other", first_per_language(other_recs, n), args.normalizer)
        boot = Bootstrap(args.resamples)
        eb, eo = boot.estimate(lang_counts(b)), boot.estimate(lang_counts(o))
        d = paired(eb, eo)["macro"]
        refs = sum(int(c.refs.sum()) for c in lang_counts(b).values())
        (alo, ahi), (rlo, rhi) = d["abs_ci"], d["rel_ci"]
        print(
            f"| {n} | {refs} | {eb.macro:.2f} | {eo.macro:.2f} | {d['abs']:+.2f} [{alo:+.2f}, {ahi:+.2f}]"
            f" | {d['rel']:+.1f}% [{rlo:+.1f}, {rhi:+.1f}] | ±{(rhi - rlo) / 2:.1f}% |"
        )


if __name__ == "__main__":
    main()
