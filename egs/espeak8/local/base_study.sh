#!/usr/bin/env bash
# The base study (issue 27): do language experts beat shared LoRA once the base already knows the corpus's voice,
# and once each language has more data? One seed. Every part resumes from its outputs; re-running the same
# command rebuilds whatever exp/ lost, deterministically (seeded corpus, seeded training), and skips what exists.
#
#   bash local/base_study.sh                           # every part, in order
#   bash local/base_study.sh --parts "adapt zeroshot"  # some parts
#
# Parts (each in exp/<tag>_*/, with its wall time in exp/<tag>_study/times.tsv):
#   adapt     the adapted base: shared LoRA trained on --adapt-langs (espeak-ng languages that are not targets,
#             spoken by the training voices, text from the gettext catalogs), merged into a standalone Whisper
#             (lwasr export --format hf) at exp/<tag>_adapt/base, whose lwasr.json records what it was adapted on
#   zeroshot  both bases decoded zero-shot on the first 32 test utterances per language (run.sh stages 1-2),
#             compared with paired intervals: exp/<tag>_study/ZEROSHOT.md
#   2x2       8 experts and shared LoRA on each base (run.sh stages 3-5, 9; conf/profile_basestudy.sh), then the
#             2x2 table and the interaction (the experts' gap on the adapted base minus the gap on the original),
#             each with paired-bootstrap intervals: exp/<tag>_study/TWO_BY_TWO.md
#   full      full fine-tuning on each base, the same schedule (run.sh stages 4-5, 9 with --baselines "shared full")
#   size      the data-size arm on the adapted base: 800 training utterances per language (about 0.5 h; the 2x2's
#             160 are its first 160), experts and shared LoRA: exp/<tag>_study/SIZE.md
#   channel   constructed: the 2x2's corpus with each language its own recording condition (prepare synth
#             --channels builtin), experts and shared LoRA on the adapted base, zero-shot too:
#             exp/<tag>_study/CHANNELS.md (against the clean corpus) and ZEROSHOT_CHANNELS.md
# Any other option goes to every run.sh call (e.g. --langs, --epochs).
set -euo pipefail
cd "$(dirname "$0")/.."

tag=espeak8_base
parts="adapt zeroshot 2x2 full size channel"
model=embedded:whisper-base          # the original base
adapt_langs=es,fr,de,nl,cs,ru,tr,sv  # espeak-ng speaks them and their catalogs hold 600+ sentences each here
adapt_utts=200                       # training utterances per adaptation language
adapt_dev_utts=16
adapt_epochs=1
train_utts=160                       # the 2x2's training utterances per target language (about 0.1 h)
size_utts=800                        # the data-size arm's (about 0.5 h)
zeroshot_test_utts=32
data_root=data
expdir=exp
args=()
while (( $# > 0 )); do
  case $1 in
    --tag|--parts|--model|--adapt-langs|--adapt-utts|--adapt-dev-utts|--adapt-epochs|--train-utts|--size-utts|\
    --zeroshot-test-utts|--data-root|--expdir)
      v=${1#--}; printf -v "${v//-/_}" '%s' "$2"; shift 2 ;;
    --help|-h) sed -n '2,26p' "$0"; exit 0 ;;
    *) args+=("$1"); shift ;;
  esac
done
args+=(--expdir "$expdir" --zeroshot-test-utts "$zeroshot_test_utts")
# shellcheck source=SCRIPTDIR/../path.sh
. ./path.sh
study=$expdir/${tag}_study
adapt=$expdir/${tag}_adapt
adapted=$adapt/base
data=$data_root/$tag
mkdir -p "$study"

timed() {  # timed PART CMD...: run CMD, append PART's wall time to $study/times.tsv
  local t0=$SECONDS
  "${@:2}"
  printf '%s\t%s\t%d\n' "$1" "$(date -u '+%F %T')" "$(( SECONDS - t0 ))" >> "$study/times.tsv"
}
run() {  # run BASE TAG DATA UTTS ARGS...: run.sh, the study's profile, on BASE (orig or adapted), exp/<tag>_<TAG>
  local base=$model
  [ "$1" = adapted ] && base=$adapted
  bash run.sh --profile basestudy --tag "${tag}_$2" --data "$3" --train-utts "$4" --model "$base" "${args[@]}" "${@:5}"
}
cuts() {  # cuts VAR OPTION SPLIT: the adaptation corpus's SPLIT manifests as repeated OPTION, appended to array VAR
  local -n _cuts=$1
  local l
  for l in ${adapt_langs//,/ }; do _cuts+=("$2" "$data_root/${tag}_adapt/manifests/synth_${l}_$3_cuts.jsonl.gz"); done
}

part_adapt() {
  local train=()
  lwasr prepare synth --langs "$adapt_langs" --out "$data_root/${tag}_adapt" --train "$adapt_utts" \
    --dev "$adapt_dev_utts" --test 0 --train-text catalogs
  cuts train --cuts train
  cuts train --dev-cuts dev
  lwasr train --mode shared --config conf/train_shared.yaml --model "$model" --exp-dir "$adapt" \
    "${train[@]}" --set max_duration=20 --set max_steps=0 --set "num_epochs=$adapt_epochs" --set valid_every=0
  [ -f "$adapted/lwasr.json" ] || lwasr export "$adapt/shared" --format hf --out "$adapted"
}

part_zeroshot() {
  run orig orig "$data" "$train_utts" --stop-stage 2
  run adapted adapted "$data" "$train_utts" --stop-stage 2
  local z=decode_zeroshot_aware_test-first$zeroshot_test_utts
  lwasr score compare "$expdir/${tag}_orig/$z" "$expdir/${tag}_adapted/$z" --name original --name adapted \
    --baseline original --title "zero-shot, language given: the adapted base against the original" \
    --out "$study/ZEROSHOT.md"
}

# the decode dirs of the 2x2 (and full fine-tuning, when decoded) on base B: $expdir/<tag>_B/decode_<sys>_aware_test
two_by_two() {
  local d=$expdir/$tag
  lwasr score interaction "${d}_orig/decode_experts_aware_test" "${d}_orig/decode_shared_aware_test" \
    "${d}_adapted/decode_experts_aware_test" "${d}_adapted/decode_shared_aware_test" \
    --name experts_original --name shared_original --name experts_adapted --name shared_adapted \
    --title "experts against shared LoRA, on the original and on the adapted base" --out "$study/TWO_BY_TWO.md"
}

part_2x2() {
  run adapted adapted "$data" "$train_utts" --stop-stage 9
  run orig orig "$data" "$train_utts" --stop-stage 9
  two_by_two
}

part_full() {
  local b
  for b in adapted orig; do
    [ -f "$expdir/${tag}_$b/decode_full_aware_test/hyp.jsonl" ] && continue
    run "$b" "$b" "$data" "$train_utts" --baselines "shared full" --stage 4 --stop-stage 9
  done
}

part_size() {
  local big=(adapted "adapted_n$size_utts" "$data_root/${tag}_n$size_utts" "$size_utts")
  run "${big[@]}" --stop-stage 1  # the same test set as the 2x2's: its zero-shot decode is not repeated
  [ -f "$expdir/${tag}_adapted_n$size_utts/.done/stage9.done" ] || run "${big[@]}" --stage 3 --stop-stage 9
  local dirs=() names=() n d
  for n in "$train_utts" "$size_utts"; do
    d=$expdir/${tag}_adapted
    [ "$n" = "$train_utts" ] || d=${d}_n$n
    dirs+=("$d/decode_experts_aware_test" "$d/decode_shared_aware_test")
    names+=(--name "experts_n$n" --name "shared_n$n")
  done
  lwasr score interaction "${dirs[@]}" "${names[@]}" --out "$study/SIZE.md" \
    --title "experts against shared LoRA on the adapted base, $train_utts and $size_utts training utterances per language"
}

part_channel() {
  local clean=$expdir/${tag}_adapted ch=$expdir/${tag}_adapted_channels
  local z=decode_zeroshot_aware_test-first$zeroshot_test_utts
  run adapted adapted_channels "$data_root/${tag}_channels" "$train_utts" --channels builtin --stop-stage 9
  lwasr score compare "$clean/$z" "$ch/$z" --name clean --name channels --baseline clean \
    --out "$study/ZEROSHOT_CHANNELS.md" \
    --title "the adapted base zero-shot, language given: each language through its own channel, against clean"
  lwasr score interaction "$clean/decode_experts_aware_test" "$clean/decode_shared_aware_test" \
    "$ch/decode_experts_aware_test" "$ch/decode_shared_aware_test" \
    --name experts_clean --name shared_clean --name experts_channels --name shared_channels --out "$study/CHANNELS.md" \
    --title "experts against shared LoRA on the adapted base: clean, and each language through its own channel"
}

for p in $parts; do
  case $p in
    adapt|zeroshot|2x2|full|size|channel) echo "=== base study, part $p ($(date -u '+%F %T') UTC)"; timed "$p" "part_$p" ;;
    *) echo "$0: unknown part '$p' (adapt zeroshot 2x2 full size channel)" >&2; exit 2 ;;
  esac
done
