#!/usr/bin/env bash
# Copy what the base study (local/base_study.sh) has finished into egs/espeak8/results/base/, because exp/ does not
# outlive a machine: its tables and JSON, the wall time of each part, the adapted base's lwasr.json, every decode's
# hyp.jsonl (gzipped) with its summary.json (so `lwasr score` reads the kept dir as it is) and every training log
# (gzipped: the per-epoch dev loss and WER). Parts not finished yet are left out; re-running replaces what it
# copied before.
#
#   bash local/keep_base_study.sh [SRC]   # SRC: the egs/espeak8 directory the study ran in (default: this one;
#                                         # relative paths are taken from egs/espeak8)
#                                         # --tag T as given to base_study.sh (default espeak8_base)
#                                         # --out DIR instead of results/base
set -euo pipefail
cd "$(dirname "$0")/.."
src=.
tag=espeak8_base
out=results/base
while (( $# > 0 )); do
  case $1 in
    --tag) tag=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --help|-h) sed -n '2,10p' "$0"; exit 0 ;;
    *) src=$1; shift ;;
  esac
done
mkdir -p "$out"
keep() {  # keep FILE DEST: copy FILE (gzipped when DEST ends in .gz) if it exists
  [ -f "$1" ] || return 0
  mkdir -p "$(dirname "$2")"
  if [[ $2 == *.gz ]]; then gzip -9n < "$1" > "$2"; else cp "$1" "$2"; fi
}
exp=$src/exp
for f in "$exp/${tag}_study"/*.md "$exp/${tag}_study"/*.json "$exp/${tag}_study/times.tsv"; do keep "$f" "$out/${f##*/}"; done
keep "$exp/${tag}_adapt/base/lwasr.json" "$out/adapted_base/lwasr.json"
keep "$exp/${tag}_adapt/train_shared/train.log" "$out/adapted_base/train.log.gz"
for d in "$exp/${tag}"_orig "$exp/${tag}"_adapted "$exp/${tag}"_adapted_n* "$exp/${tag}"_adapted_channels; do
  [ -d "$d" ] || continue
  name=${d##*/}; name=${name#"${tag}"_}
  for f in "$d"/RESULTS*.md "$d"/RESULTS*.json; do keep "$f" "$out/$name/${f##*/}"; done
  for h in "$d"/decode_*/summary.json; do  # finished decodes only (summary.json marks one)
    [ -f "$h" ] || continue
    h=$(dirname "$h")
    keep "$h/hyp.jsonl" "$out/$name/${h##*/}/hyp.jsonl.gz"
    keep "$h/summary.json" "$out/$name/${h##*/}/summary.json"
  done
  for l in "$d"/train_*/train.log; do  # the logs of finished units only
    run=$(basename "$(dirname "$l")") unit=${run#train_}
    [[ $unit == expert_* ]] && unit=experts/${unit#expert_}
    if [ -f "$d/$unit/lwasr.json" ]; then keep "$l" "$out/$name/$run.log.gz"; fi
  done
done
echo "kept in $out:"; find "$out" -type f | sort | sed 's/^/  /'
