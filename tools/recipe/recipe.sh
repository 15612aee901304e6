# The stages every lwasr recipe shares, sourced by egs/<corpus>/run.sh as the last thing it does:
#
#   langs=pl,pt; data=data/x; corpus=x ... (the recipe's own defaults)
#   prepare() { lwasr prepare ...; }        # stage 1: writes $data/manifests/${corpus}_<lang>_<split>_cuts.jsonl.gz
#   . utils/recipe.sh "$@"
#
# Stages: 1 prepare | 2 zero-shot decode | 3 train experts | 4 train baselines | 5 decode |
#         6 fuse the experts | 7 distill the experts | 8 language expansion | 9 score and compare.
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
decode_max_duration=${decode_max_duration:-}  # seconds of audio per decoding batch
decode_batch_size=${decode_batch_size:-}      # utterances per decoding batch (whichever limit fills first)
baseline=${baseline:-shared_aware}  # the system relative changes are taken against
fusion_methods=${fusion_methods:-}  # stage 6: lwasr fuse methods, space-separated (profile default: sum)
distill_steps=${distill_steps:-}    # stage 7: student steps (0 skips distillation)
distill_init=${distill_init:-scratch}  # stage 7: scratch (a fresh rank-r LoRA), or a stage-6 system, e.g. fused_svd
expand_langs=${expand_langs:-}      # stage 8: new languages (comma-separated); the other langs are the base (empty skips)
expand_utts=${expand_utts:-}        # stage 8: training utterances per new language (low-resource)
expand_steps=${expand_steps:-}      # stage 8: steps of each new expert and of each continued baseline
expand_inits=${expand_inits:-"random warm moe continue-shared continue-full"}  # stage 8: lwasr expand --init values
expand_moe_k=${expand_moe_k:-2}     # stage 8: base experts mixed into a moe expert (at most the number of base languages)
help_message=${help_message:-}"
Stages: 1 prepare data | 2 zero-shot decode | 3 train experts | 4 train baselines (shared LoRA, full)
        5 decode them (language-aware and -agnostic) | 6 fuse the experts into one LoRA, decode
        7 distill the experts into one student (aware: with language token; agnostic: without), decode
        8 language expansion (--expand-langs): new experts (random, warm, moe) and forgetting baselines
        9 score and compare every system (exp/<tag>/RESULTS.md + PNG; expansion: exp/<tag>/expansion/*.md)
Options: --stage N --stop-stage M --quick --full --profile P --langs a,b --model M --tag T --ngpu N
         and any other variable set at the top of run.sh or tools/recipe/recipe.sh, as --name value."

. ./path.sh
. utils/parse_options.sh
[ "$quick" = true ] && profile=quick
[ "$full" = true ] && profile=full
[ -f "conf/profile_${profile}.sh" ] || { echo "$0: no profile conf/profile_${profile}.sh" >&2; exit 1; }
declare -A _lw_given=()
for _v in ${_lw_given_options-}; do _lw_given[$_v]=${!_v}; done
. "conf/profile_${profile}.sh"  # fills in what is empty; what the command line gave (even empty) wins
for _v in "${!_lw_given[@]}"; do printf -v "$_v" '%s' "${_lw_given[$_v]}"; done
unset _lw_given _v
[ -n "${data-}" ] || data=data/$(basename "$PWD")_$profile  # a corpus whose size depends on the profile
tag=${tag:-$(basename "$PWD")_$profile}
exp=$expdir/$tag
manifests=$data/manifests
. ./cmd.sh
. utils/stages.sh
echo "$(basename "$PWD"): profile $profile, languages $langs, model $model, exp $exp"

launch=(lwasr)  # training launcher: torchrun with DDP on several GPUs
if (( ngpu > 1 )); then launch=(torchrun --standalone --nproc-per-node "$ngpu" -m lwasr); fi
data_opts() {  # data_opts LANGS: the training and dev manifests of LANGS
  echo "$(manifest_opts --cuts "$manifests" "$corpus" train "$1") $(manifest_opts --dev-cuts "$manifests" "$corpus" dev "$1")"
}
train_opts="$(data_opts "$langs") --model $model --exp-dir $exp --set max_duration=$max_duration"

decode() {  # decode SYSTEM NAME SCENARIO [LANGS [EXPDIR]]: writes EXPDIR/decode_NAME_SCENARIO_test
  # SCENARIO both: the aware and the agnostic decode in one pass (decode_NAME_{aware,agnostic}_test)
  local dlangs=${4:-$langs} dexp=${5:-$exp} outs
  outs=(--out "$dexp/decode_$2_$3_test")
  [ "$3" = both ] && outs=(--out "$dexp/decode_$2_aware_test" --agnostic-out "$dexp/decode_$2_agnostic_test")
  logged "decode_$2_$3" lwasr decode --system "$1" $(manifest_opts --cuts "$manifests" "$corpus" test "$dlangs") \
    "${outs[@]}" --scenario "$3" --lid-langs "$dlangs" --max-duration "$decode_max_duration" \
    --batch-size "$decode_batch_size"
}

# The expansion experiment (stages 8, 9): $xexp holds it, $new_langs are added to experts of $base_langs.
xexp=$exp/expansion
new_langs=${expand_langs// /,}
base_langs=$(for l in ${langs//,/ }; do [[ ",$new_langs," == *",$l,"* ]] || printf '%s,' "$l"; done)
base_langs=${base_langs%,}
n_base=$(( $(echo "$base_langs" | tr ',' '\n' | grep -c .) ))
(( expand_moe_k > n_base )) && expand_moe_k=$n_base

if stage_begin 1 "Prepare the data"; then
  prepare
  stage_end 1
fi

if stage_begin 2 "Zero-shot decoding (language-aware and language-agnostic)"; then
  decode "$model" zeroshot both
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
    decode "$exp/$sys" "$sys" both
  done
  stage_end 5
fi

if stage_begin 6 "Fuse the experts into one adapter: ${fusion_methods:-none}"; then
  for m in $fusion_methods; do
    learned_opts=()  # learned fusion trains its gate on the pooled training data (its own short schedule)
    [ "$m" = learned ] && learned_opts=($(data_opts "$langs") --max-steps "$expert_steps" --max-duration "$max_duration")
    logged "stage6_$m" lwasr fuse --experts "$exp/experts" --langs "$langs" --method "$m" \
      --out "$exp/fused_$m" "${learned_opts[@]}"
    decode "$exp/fused_$m" "fused_$m" both
  done
  stage_end 6
fi

if stage_begin 7 "Distill the experts into one student ($distill_steps steps; 0 skips)"; then
  if (( distill_steps > 0 )); then
    init=scratch; [ "$distill_init" = scratch ] || init="$exp/$distill_init"
    for scenario in aware agnostic; do
      token=--lang-token; [ $scenario = agnostic ] && token=--no-lang-token
      logged "stage7_$scenario" lwasr distill --teachers "$exp/experts" --langs "$langs" --name "distilled_$scenario" \
        --init "$init" $token --config conf/train_shared.yaml $train_opts --max-steps "$distill_steps"
      decode "$exp/distilled_$scenario" distilled "$scenario"  # each student in its own scenario
    done
  fi
  stage_end 7
fi

if stage_begin 8 "Language expansion: add ${new_langs:-nothing} to the experts of ${base_langs}"; then
  if [ -n "$new_langs" ]; then
    # The base experts are the ones of stage 3 (an expert depends only on its own language's data), linked.
    mkdir -p "$xexp/experts"
    for l in ${base_langs//,/ }; do ln -sfn "../../experts/$l" "$xexp/experts/$l"; done
    decode "$xexp/experts" experts_before aware "$base_langs" "$xexp"
    for mode in shared full; do  # the forgetting baselines start from models of the base languages only
      logged "stage8_$mode" "${launch[@]}" train --mode "$mode" --config "conf/train_$mode.yaml" \
        $(data_opts "$base_langs") --model "$model" --exp-dir "$xexp" \
        --set max_duration="$max_duration" --set max_steps="$shared_steps"
      decode "$xexp/$mode" "${mode}_before" aware "$base_langs" "$xexp"
    done
    for l in ${new_langs//,/ }; do
      for init in $expand_inits; do
        conf=conf/train_expert.yaml; [ "$init" = continue-full ] && conf=conf/train_full.yaml
        logged "stage8_${init}_$l" lwasr expand --experts "$xexp/experts" --new-lang "$l" --init "$init" --config "$conf" \
          $(data_opts "$l") --max-steps "$expand_steps" --max-duration "$max_duration" --set max_utts="$expand_utts" \
          --moe-k "$expand_moe_k"
        decode "$xexp/expand_$init/$l" "${init}_$l" aware "$l" "$xexp"
        if [[ $init == continue-* ]]; then  # what the continued baseline forgot
          decode "$xexp/expand_$init/$l" "${init}_${l}_base" aware "$base_langs" "$xexp"
        fi
      done
    done
    decode "$xexp/experts" experts_after aware "$base_langs" "$xexp"  # byte-identical experts: same hypotheses
  fi
  stage_end 8
fi

if stage_begin 9 "Score and compare"; then
  dirs=() names=()
  for sys in zeroshot full shared experts $(for m in $fusion_methods; do echo "fused_$m"; done) distilled; do
    for scenario in aware agnostic; do
      d=$exp/decode_${sys}_${scenario}_test
      [ -f "$d/hyp.jsonl" ] || continue  # systems this profile does not build
      logged_cpu stage9 lwasr score "$d" --name "${sys}_${scenario}"
      dirs+=("$d"); names+=(--name "${sys}_${scenario}")
    done
  done
  logged_cpu stage9 lwasr score compare "${dirs[@]}" "${names[@]}" --baseline "$baseline" \
    --title "$tag ($model)" --out "$exp/RESULTS.md"
  if [ -n "$new_langs" ]; then
    dirs=() names=()  # new languages: one system per init, pooled over the new languages
    for init in $expand_inits; do
      for l in ${new_langs//,/ }; do dirs+=("$xexp/decode_${init}_${l}_aware_test"); names+=(--name "$init"); done
    done
    logged_cpu stage9 lwasr score compare "${dirs[@]}" "${names[@]}" --baseline "${expand_inits%% *}" \
      --title "$tag: new languages $new_langs, $expand_utts training utterances each" --out "$xexp/RESULTS_new.md"
    dirs=("$xexp/decode_experts_before_aware_test" "$xexp/decode_experts_after_aware_test")
    names=(--name experts_before --name experts_after)
    for mode in shared full; do  # base languages before and after each continued baseline learnt a new language
      dirs+=("$xexp/decode_${mode}_before_aware_test"); names+=(--name "${mode}_before")
      for l in ${new_langs//,/ }; do
        d=$xexp/decode_continue-${mode}_${l}_base_aware_test
        [ -f "$d/hyp.jsonl" ] && { dirs+=("$d"); names+=(--name "${mode}_after_$l"); }
      done
    done
    logged_cpu stage9 lwasr score compare "${dirs[@]}" "${names[@]}" --baseline experts_before \
      --title "$tag: base languages $base_langs before and after expansion" --out "$xexp/RESULTS_base.md"
  fi
  stage_end 9
fi
echo "$(basename "$PWD"): finished in $(( $(date +%s) - _lw_t0 )) s; results: $exp/RESULTS.md${new_langs:+, $xexp/RESULTS_*.md}"
