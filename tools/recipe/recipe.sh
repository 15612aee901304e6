# The stages every lwasr recipe shares, sourced by egs/<corpus>/run.sh as the last thing it does:
#
#   langs=pl,pt; data=data/x; corpus=x ... (the recipe's own defaults)
#   prepare() { lwasr prepare ...; }        # stage 1: writes $data/manifests/${corpus}_<lang>_<split>_cuts.jsonl.gz
#   . utils/recipe.sh "$@"
#
# Stages: 1 prepare | 2 zero-shot decode | 3 train experts | 4 train baselines | 5 decode | 6 score.
# Every variable below (and every variable the recipe set before sourcing) is an option: --name value.
# shellcheck shell=bash disable=SC2034,SC2086,SC2046
stage=${stage:-1}
stop_stage=${stop_stage:-100}
quick=false               # shorthand for --profile quick
full=false                # shorthand for --profile full
profile=${profile:-default}   # sizes and steps: conf/profile_<name>.sh
model=${model:-embedded:whisper-base}
tag=${tag:-}              # experiment name; default <recipe>_<profile>
expdir=${expdir:-exp}     # experiments go to $expdir/$tag
ngpu=${ngpu:-0}           # GPUs for training (0: CPU or one visible GPU); >1 launches torchrun
train_utts=${train_utts:-}  # the profile fills in every size/step option left empty
dev_utts=${dev_utts:-}
test_utts=${test_utts:-}
expert_steps=${expert_steps:-}   # optimizer steps per expert
shared_steps=${shared_steps:-}   # steps of the shared-LoRA and full fine-tuning baselines
max_duration=${max_duration:-}   # seconds of audio per training batch
decode_max_duration=${decode_max_duration:-}
baseline=${baseline:-shared_aware}  # the system relative changes are taken against
help_message=${help_message:-}"
Stages: 1 prepare data | 2 zero-shot decode | 3 train experts | 4 train baselines (shared LoRA, full)
        5 decode every system (language-aware and -agnostic) | 6 score and compare (exp/<tag>/RESULTS.md + PNG)
Options: --stage N --stop-stage M --quick --full --profile P --langs a,b --model M --tag T --ngpu N
         and any other variable set at the top of run.sh or tools/recipe/recipe.sh, as --name value."

. ./path.sh
. utils/parse_options.sh
[ "$quick" = true ] && profile=quick
[ "$full" = true ] && profile=full
[ -f "conf/profile_${profile}.sh" ] || { echo "$0: no profile conf/profile_${profile}.sh" >&2; exit 1; }
. "conf/profile_${profile}.sh"
tag=${tag:-$(basename "$PWD")_$profile}
exp=$expdir/$tag
manifests=$data/manifests
. ./cmd.sh
. utils/stages.sh
echo "$(basename "$PWD"): profile $profile, languages $langs, model $model, exp $exp"

launch=(lwasr)  # training launcher: torchrun with DDP on several GPUs
if (( ngpu > 1 )); then launch=(torchrun --standalone --nproc-per-node "$ngpu" -m lwasr); fi
train_opts="$(manifest_opts --cuts "$manifests" "$corpus" train "$langs") \
$(manifest_opts --dev-cuts "$manifests" "$corpus" dev "$langs") --model $model --exp-dir $exp \
--set max_duration=$max_duration"
test_cuts=$(manifest_opts --cuts "$manifests" "$corpus" test "$langs")

decode() {  # decode SYSTEM NAME SCENARIO
  logged "decode_$2_$3" lwasr decode --system "$1" $test_cuts --out "$exp/decode_$2_$3_test" \
    --scenario "$3" --lid-langs "$langs" --max-duration "$decode_max_duration"
}

if stage_begin 1 "Prepare the data"; then
  prepare
  stage_end 1
fi

if stage_begin 2 "Zero-shot decoding (language-aware and language-agnostic)"; then
  decode "$model" zeroshot aware
  decode "$model" zeroshot agnostic
  stage_end 2
fi

if stage_begin 3 "Train the language experts: one LoRA per language, $expert_steps steps each"; then
  jobs=1; (( ngpu > 1 )) && jobs=$ngpu   # on several GPUs, experts train side by side
  logged stage3 lwasr train experts --langs "$langs" --jobs "$jobs" --config conf/train_expert.yaml \
    $train_opts --set max_steps="$expert_steps"
  stage_end 3
fi

if stage_begin 4 "Train the baselines: shared LoRA and full fine-tuning, $shared_steps steps each"; then
  for mode in shared full; do
    logged "stage4_$mode" "${launch[@]}" train --mode "$mode" --config "conf/train_$mode.yaml" \
      $train_opts --set max_steps="$shared_steps"
  done
  stage_end 4
fi

if stage_begin 5 "Decode every system, language-aware and language-agnostic"; then
  for sys in experts shared full; do
    decode "$exp/$sys" "$sys" aware
    decode "$exp/$sys" "$sys" agnostic
  done
  stage_end 5
fi

if stage_begin 6 "Score and compare"; then
  dirs=() names=()
  for sys in zeroshot full shared experts; do
    for scenario in aware agnostic; do
      logged stage6 lwasr score "$exp/decode_${sys}_${scenario}_test" --name "${sys}_${scenario}"
      dirs+=("$exp/decode_${sys}_${scenario}_test"); names+=(--name "${sys}_${scenario}")
    done
  done
  logged stage6 lwasr score compare "${dirs[@]}" "${names[@]}" --baseline "$baseline" \
    --title "$tag ($model)" --out "$exp/RESULTS.md"
  stage_end 6
fi
echo "$(basename "$PWD"): finished in $(( $(date +%s) - _lw_t0 )) s; results: $exp/RESULTS.md"
