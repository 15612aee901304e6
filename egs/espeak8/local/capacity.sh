#!/usr/bin/env bash
# The capacity study (issue 14): language experts against shared LoRA at several LoRA ranks, one chart.
#
#   bash local/capacity.sh                         # ranks 4 8 32, profile capacity (conf/profile_capacity.sh)
#   bash local/capacity.sh --ranks "4 32" --train-utts 80 --tag espeak8_capacity_n80
#
# Stages 1-2 (data, zero-shot) run once, under exp/<tag>; each rank then trains and decodes under
# exp/<tag>_r<rank> from stage 3 on, with lora_alpha = 2 x rank (the update's scale alpha/rank stays 2, as in
# conf/train_*.yaml's rank 32 / alpha 64), and `lwasr score sweep` puts experts vs shared LoRA of every rank in
# exp/<tag>/CAPACITY.md (+ .png, .json). Re-running resumes: each rank starts at its first unfinished stage.
# Any other option goes to run.sh (--model, --langs, --data, --expdir, --train-utts, ...).
set -euo pipefail
cd "$(dirname "$0")/.."

ranks="4 8 32"
profile=capacity
tag=
expdir=exp
args=()
while (( $# > 0 )); do
  case $1 in
    --ranks) ranks=$2; shift 2 ;;
    --profile) profile=$2; shift 2 ;;
    --tag) tag=$2; shift 2 ;;
    --expdir) expdir=$2; args+=("$1" "$2"); shift 2 ;;
    --help|-h) sed -n '2,12p' "$0"; exit 0 ;;
    *) args+=("$1"); shift ;;
  esac
done
tag=${tag:-espeak8_$profile}
for r in $ranks; do
  [[ $r =~ ^[1-9][0-9]{0,3}$ ]] || { echo "$0: --ranks '$ranks' must be whole numbers >= 1, e.g. \"4 8 32\"" >&2; exit 2; }
done
data_dir=data/$tag  # shared by every rank: the same corpus and test set, so the comparisons are paired alike

bash run.sh --profile "$profile" --tag "$tag" --data "$data_dir" --stop-stage 2 "${args[@]}"
sweep=() xs=()
for r in $ranks; do
  rtag=${tag}_r$r
  first=3  # resume: the first stage of this rank without a completion marker
  while (( first <= 9 )) && [ -f "$expdir/$rtag/.done/stage$first.done" ]; do first=$(( first + 1 )); done
  if (( first <= 9 )); then
    bash run.sh --profile "$profile" --tag "$rtag" --data "$data_dir" --stage "$first" \
      --train-set "lora_rank=$r lora_alpha=$(( 2 * r ))" "${args[@]}"
  fi
  sweep+=("$expdir/$rtag/RESULTS.json") xs+=(--x "$r")
done
# shellcheck source=SCRIPTDIR/../path.sh
. ./path.sh
lwasr score sweep "${sweep[@]}" "${xs[@]}" --system experts_aware --xlabel "LoRA rank" \
  --title "$tag: experts vs shared LoRA by LoRA rank (alpha = 2 x rank)" --out "$expdir/$tag/CAPACITY.md"
