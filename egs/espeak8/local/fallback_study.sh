#!/usr/bin/env bash
# Temperature fallback before and after (issue 28): each system decoded given the language, once with plain
# greedy search (--temperatures 0 --no-speech-threshold none) and once with openai-whisper's transcribe rules
# (--temperatures 0,0.2,0.4,0.6,0.8,1 --no-speech-threshold 0.6, compression ratio 2.4, log-probability -1),
# on the same utterances; `lwasr score compare` then gives each system's WER change with its paired bootstrap
# interval, its loops and its utterances above 100% error, in exp/<tag>/<name>.md (+ .json, .png).
#
#   bash local/fallback_study.sh --cuts-glob 'data/espeak8_base/manifests/synth_*_test-first32_cuts.jsonl.gz' \
#       --system zeroshot=embedded:whisper-base --system experts=exp/espeak8_base_adapted/experts
#
# Options: --tag T (default espeak8_fallback), --expdir DIR (default exp), --system NAME=SYSTEM (repeat),
# --cuts-glob GLOB (the test cuts, one manifest per language). Re-running resumes: a finished decode is kept.
set -euo pipefail
cd "$(dirname "$0")/.."

tag=espeak8_fallback
expdir=exp
cuts_glob=
systems=()
while (( $# > 0 )); do
  case $1 in
    --tag) tag=$2; shift 2 ;;
    --expdir) expdir=$2; shift 2 ;;
    --cuts-glob) cuts_glob=$2; shift 2 ;;
    --system) systems+=("$2"); shift 2 ;;
    --help|-h) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "$0: unknown option $1 (--help lists them)" >&2; exit 2 ;;
  esac
done
(( ${#systems[@]} > 0 )) || { echo "$0: give at least one --system NAME=SYSTEM" >&2; exit 2; }
[ -n "$cuts_glob" ] || { echo "$0: give --cuts-glob, the test manifests" >&2; exit 2; }
# shellcheck disable=SC2206  # the glob is meant to expand
manifests=($cuts_glob)
[ -f "${manifests[0]}" ] || { echo "$0: --cuts-glob '$cuts_glob' matches no file" >&2; exit 2; }
cuts=()
for m in "${manifests[@]}"; do cuts+=(--cuts "$m"); done

out=$expdir/$tag
mkdir -p "$out/log"
flags() {  # flags MODE: the decode options of greedy or fallback
  if [ "$1" = greedy ]; then echo "--temperatures 0 --no-speech-threshold none"
  else echo "--temperatures 0,0.2,0.4,0.6,0.8,1 --no-speech-threshold 0.6 --compression-ratio-threshold 2.4 --logprob-threshold -1"
  fi
}
for s in "${systems[@]}"; do
  name=${s%%=*} system=${s#*=}
  for mode in greedy fallback; do
    dir=$out/decode_${name}_$mode
    if [ -f "$dir/summary.json" ]; then echo "kept: $dir"; continue; fi
    read -ra mode_flags <<< "$(flags "$mode")"
    /usr/bin/time -f "$name $mode: %e s wall" -a -o "$out/times.txt" \
      bash utils/local.sh "$out/log/decode_${name}_$mode.log" \
      lwasr decode --system "$system" "${cuts[@]}" --out "$dir" --scenario aware \
        --max-duration 120 --batch-size 16 "${mode_flags[@]}"
  done
  lwasr score compare "$out/decode_${name}_greedy" "$out/decode_${name}_fallback" \
    --name greedy --name fallback --baseline greedy --title "$name: greedy vs temperature fallback" \
    --out "$out/$name.md"
done
echo "tables: $out/*.md; decode times: $out/times.txt"
