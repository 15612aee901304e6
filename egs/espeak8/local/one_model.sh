#!/usr/bin/env bash
# One model and routing (issue 15): the tables of docs/results.md from an experiment dir that ran stages 3-7
# with --baselines "shared shared_nolang full_nolang", fusion methods, distillation and --expert-routing.
#
#   bash local/one_model.sh exp/espeak8_routing
#   bash local/one_model.sh /tmp/one_model   # a copy of results/one_model: the same tables from the kept decodes
#
# Writes, in that dir, ONE_MODEL_aware.md (against shared LoRA, and against the experts: the target "within 5%
# of the experts"), ONE_MODEL_agnostic.md (against shared LoRA trained without the language token, the fair
# baseline of every agnostic single model) and ONE_MODEL_routing.md (each routing of the agnostic experts
# against the experts given the language). A decode that is missing is left out, with a note.
set -euo pipefail
exp=${1:?usage: bash local/one_model.sh EXPDIR}
# shellcheck source=SCRIPTDIR/../path.sh
. ./path.sh

decoded() {  # decoded DIR: DIR holds a decode's records, or a kept decode's (results/*: hyp.jsonl.gz)
  [ -f "$1/hyp.jsonl" ] || [ -f "$1/hyp.jsonl.gz" ]
}

compare() {  # compare OUT BASELINE TITLE NAME... : score compare the decode dirs of NAME (decode_<NAME>_test)
  local out=$1 baseline=$2 title=$3 name dirs=() names=()
  shift 3
  for name in "$@"; do
    if decoded "$exp/decode_${name}_test"; then dirs+=("$exp/decode_${name}_test"); names+=(--name "$name")
    else echo "note: $exp/decode_${name}_test is missing; left out of $out" >&2; fi
  done
  lwasr score compare "${dirs[@]}" "${names[@]}" --baseline "$baseline" --title "$title" --out "$exp/$out"
}

systems() {  # systems VAR GLOB: appends NAME_SCENARIO of every finished decode $exp/decode_GLOB_test to array VAR
  local -n _systems=$1
  local d
  for d in "$exp"/decode_$2_test; do
    decoded "$d" || continue
    d=${d#"$exp"/decode_}
    _systems+=("${d%_test}")
  done
}
fused=() routed=()
systems fused "fused_*_aware"
systems routed "experts_*_agnostic"  # every routing but the base model's LID (experts_agnostic)
compare ONE_MODEL_aware.md shared_aware "one model, language given: against shared LoRA" \
  shared_aware experts_aware "${fused[@]}" distilled_aware
compare ONE_MODEL_aware_vs_experts.md experts_aware "one model, language given: against the experts" \
  experts_aware shared_aware "${fused[@]}" distilled_aware
compare ONE_MODEL_agnostic.md shared_nolang_agnostic \
  "language not given: against shared LoRA trained without the language token" \
  shared_nolang_agnostic full_nolang_agnostic shared_agnostic experts_agnostic "${routed[@]}" \
  "${fused[@]/%_aware/_agnostic}" distilled_agnostic
compare ONE_MODEL_routing.md experts_aware "the experts, routed without the language, against the experts given it" \
  experts_aware experts_agnostic "${routed[@]}"
