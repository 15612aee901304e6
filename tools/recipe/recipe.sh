# The stages every lwasr recipe shares, sourced by egs/<corpus>/run.sh as the last thing it does:
#
#   langs=pl,pt; data=data/x; corpus=x ... (the recipe's own defaults)
#   prepare() { lwasr prepare ...; }        # stage 1: writes $data/manifests/${corpus}_<lang>_<split>_cuts.jsonl.gz
#   . utils/recipe.sh "$@"
#
# Stages: 1 prepare | 2 zero-shot decode | 3 train experts | 4 train baselines | 5 decode |
#         6 fuse the experts | 7 distill the experts | 8 language expansion | 9 score and compare.
# Every variable below (and every variable the recipe set before sourcing) is an option: --name value.
# shellcheck shell=bash disable=SC2034 source-path=SCRIPTDIR
: "${langs:?run.sh sets langs}" "${corpus:?run.sh sets corpus}"
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
zeroshot_test_utts=${zeroshot_test_utts:-0}  # stage 2: decode zero-shot on the first N test utterances per language (0: all)
seeds=${seeds:-}          # training seeds, e.g. "1 2 3": stages 3-7 once per seed, in $exp/seed<N>/ (empty: once, conf seed)
expert_steps=${expert_steps:-}   # optimizer steps per expert
epochs=${epochs:-0}              # stages 3-4: N > 0 trains experts and baselines for N epochs, validated at the end
                                 # of each (best epoch kept), instead of --expert-steps / --shared-steps
patience=${patience:-0}          # stages 3-4 with --epochs: stop after this many epochs without a better dev loss
lrs=${lrs:-}                     # stages 3-4: learning rates to choose from on dev, e.g. "1e-4 1e-3": every expert
                                 # and baseline is trained once per lr (in exp/<tag>/lr<lr>/) and the lowest best
                                 # dev loss is kept, linked (lwasr train pick); empty: the lr of conf/train_*.yaml
full_lrs=${full_lrs:-}           # the same for full fine-tuning, which needs smaller rates (empty: --lrs)
train_set=${train_set:-}         # every training command (stages 3, 4, 7, 8): more settings, key=value separated
                                 # by spaces (lwasr train --set), e.g. "lora_rank=8 lora_alpha=16"
shared_steps=${shared_steps:-}   # steps of the shared-LoRA and full fine-tuning baselines
max_duration=${max_duration:-}   # seconds of audio per training batch
decode_max_duration=${decode_max_duration:-}  # seconds of audio per decoding batch
decode_batch_size=${decode_batch_size:-}      # utterances per decoding batch (whichever limit fills first)
decode_scenario=${decode_scenario:-both}      # stage 5: both, aware or agnostic (experts and baselines)
baselines=${baselines:-"shared full"}  # stages 4-5: the baselines trained and decoded (shared LoRA, full fine-tuning;
                                       # shared_nolang, full_nolang: the same without the language token, decoded agnostic)
expert_routing=${expert_routing:-base}   # stage 5: how the experts are routed when decoded agnostic, space-separated:
                                         # base (the base model's language ID), router (a learned classifier on the
                                         # frozen encoder, lwasr router train, in $exp/router), router_soft<K> (its
                                         # top-K mixture of experts, e.g. router_soft2), or a system of $exp (e.g.
                                         # shared_nolang, which --baselines must then train: routed by its own
                                         # language ID, lwasr decode --lid-system;
                                         # fused_* and distilled_*: at the end of stage 6 or 7, which builds them)
baseline=${baseline:-shared_aware}  # the system relative changes are taken against
fusion_methods=${fusion_methods:-}  # stage 6: fusion systems, space-separated (profile default: sum): an lwasr fuse
                                    # method (sum svd ties dare dare_ties learned), learned_<gate>_<fn> (e.g.
                                    # learned_layer_linear), ta (sum, λ chosen on dev from --fusion-lambdas) or
                                    # svd_ft (svd at the experts' rank, then trained as the shared LoRA is)
fusion_epochs=${fusion_epochs:-1}   # stage 6: passes over the pooled data of learned fusion, validated after each
                                    # (best kept); 0: --expert-steps steps instead
fusion_lambdas=${fusion_lambdas:-"0.2 0.4 0.6 0.8 1.0"}  # stage 6, ta: the grid of λ
distill_steps=${distill_steps:-}    # stage 7: student steps (0 skips distillation)
distill_init=${distill_init:-scratch}  # stage 7: scratch (a fresh rank-r LoRA), or a stage-6 system, e.g. fused_svd
expand_langs=${expand_langs:-}      # stage 8: new languages (comma-separated); the other langs are the base (empty skips)
expand_utts=${expand_utts:-}        # stage 8: training utterances per new language (low-resource)
expand_steps=${expand_steps:-}      # stage 8: steps of each new expert and of each continued baseline
expand_inits=${expand_inits:-"random warm moe continue-shared continue-full"}  # stage 8: lwasr expand --init values
expand_moe_k=${expand_moe_k:-2}     # stage 8: base experts mixed into a moe expert (at most the number of base languages)
help_message=${help_message:-}"
Stages: 1 prepare data | 2 zero-shot decode | 3 train experts | 4 train baselines (shared LoRA, full; --baselines)
        5 decode them (aware and agnostic; --expert-routing) | 6 fuse the experts into one LoRA, decode
        7 distill the experts into one student (aware: with language token; agnostic: without), decode
        8 language expansion (--expand-langs): new experts (random, warm, moe) and forgetting baselines
        9 score and compare every system (exp/<tag>/RESULTS.md + PNG; expansion: exp/<tag>/expansion/*.md)
Options: --stage N --stop-stage M --quick --full --profile P --langs a,b --model M --tag T --ngpu N --seeds \"1 2 3\"
         and any other variable set at the top of run.sh or tools/recipe/recipe.sh, as --name value."

# shellcheck source=../../egs/TEMPLATE/path.sh
. ./path.sh
# shellcheck source=parse_options.sh
. utils/parse_options.sh
[ "$quick" = true ] && profile=quick
[ "$full" = true ] && profile=full
[ -f "conf/profile_${profile}.sh" ] || recipe_error "no profile conf/profile_${profile}.sh (--profile $profile)"
declare -A _lw_given=()
for _v in ${_lw_given_options-}; do _lw_given[$_v]=${!_v}; done
# shellcheck disable=SC1090
. "conf/profile_${profile}.sh"  # fills in what is empty; what the command line gave (even empty) wins
for _v in "${!_lw_given[@]}"; do printf -v "$_v" '%s' "${_lw_given[$_v]}"; done
unset _lw_given _v
require_int 1 stage stop_stage expert_steps shared_steps expand_steps expand_moe_k decode_batch_size
require_int 0 ngpu epochs patience fusion_epochs train_utts dev_utts test_utts zeroshot_test_utts distill_steps expand_utts
require_seconds max_duration decode_max_duration
(( stop_stage >= stage )) || recipe_error "--stop-stage $stop_stage is before --stage $stage: no stage would run"
[[ $langs =~ ^[a-z-]+(,[a-z-]+)*$ ]] || recipe_error "--langs '$langs' must be Whisper codes separated by commas, e.g. pl,pt"
seed_list=()  # the training seeds; one empty entry: a single run with the seed of conf/train_*.yaml
for s in ${seeds//,/ }; do
  [[ $s =~ ^[0-9]{1,9}$ ]] || recipe_error "--seeds '$seeds' must be whole numbers separated by spaces, e.g. --seeds \"1 2 3\""
  s=$(( 10#$s ))
  [[ " ${seed_list[*]} " == *" $s "* ]] && recipe_error "--seeds '$seeds' gives seed $s twice"
  seed_list+=("$s")
done
(( ${#seed_list[@]} > 0 )) || seed_list=("")
read -ra baseline_list <<< "$baselines"
read -ra fusion_list <<< "$fusion_methods"
declare -A fuse_systems=()  # the fusion systems lwasr fuse knows -> their options (lwasr fuse --list-methods)
if (( ${#fusion_list[@]} > 0 )); then
  _lw_systems=$(lwasr fuse --list-methods) || recipe_error "lwasr fuse --list-methods failed; is lwasr installed (tools/install.sh)?"
  while IFS=$'\t' read -r _lw_name _lw_opts; do fuse_systems[$_lw_name]=$_lw_opts; done <<< "$_lw_systems"
  unset _lw_systems _lw_name _lw_opts
fi
for m in "${fusion_list[@]}"; do  # a bad name stops here, before any work
  [[ $m == ta || $m == svd_ft || -n ${fuse_systems[$m]+set} ]] ||
    recipe_error "--fusion-methods: $m is not learned_<gate>_<fn>, ta, svd_ft or a method; lwasr fuse --list-methods lists them"
done
read -ra lr_list <<< "$lrs"
read -ra full_lr_list <<< "${full_lrs:-$lrs}"
set_opts=()  # --train-set as lwasr train options
for kv in $train_set; do
  [[ $kv =~ ^[a-z_]+=[^=]+$ ]] || recipe_error "--train-set '$train_set' must be key=value settings separated by spaces, e.g. \"lora_rank=8 lora_alpha=16\""
  set_opts+=(--set "$kv")
done
for _v in lrs full_lrs; do  # --full-lrs empty: the rates of --lrs
  read -ra _lw_rates <<< "${!_v}"
  for lr in "${_lw_rates[@]}"; do
    is_positive "$lr" ||
      recipe_error "--${_v//_/-} '${!_v}' must be learning rates separated by spaces, e.g. \"1e-4 1e-3\": $lr is not a number > 0"
  done
done
unset _lw_rates _v
read -ra _lw_lambdas <<< "$fusion_lambdas"
for _v in "${_lw_lambdas[@]}"; do  # stage 6's λ grid: lwasr fuse --lambdas takes numbers
  is_number "$_v" || recipe_error "--fusion-lambdas '$fusion_lambdas' must be numbers separated by spaces, e.g. \"0.2 0.4\": $_v is not one"
done
unset _lw_lambdas _v
for b in "${baseline_list[@]}"; do
  [[ $b =~ ^(shared|full)(_nolang)?$ ]] || recipe_error "--baselines: $b is not shared, full, shared_nolang or full_nolang"
done
read -ra routing_list <<< "$expert_routing"
for r in "${routing_list[@]}"; do
  [[ $r =~ ^(base|router|router_soft[1-9][0-9]*)$ || ($r =~ ^[a-z][a-z0-9_]*$ && $r != router*) ]] ||
    recipe_error "--expert-routing: $r is not base, router, router_soft<K> (K >= 1) or the name of a system in the\
 experiment dir (e.g. shared_nolang)"
  if [[ $r =~ ^(shared|full)(_nolang)?$ && " ${baseline_list[*]} " != *" $r "* ]]; then  # stage 4 trains only those
    recipe_error "--expert-routing $r routes the experts by the $r baseline, which --baselines '$baselines' does not\
 train: add $r to --baselines"
  fi
done
[[ $decode_scenario =~ ^(both|aware|agnostic)$ ]] || recipe_error "--decode-scenario must be both, aware or agnostic, not '$decode_scenario'"
export LWASR_RECIPE_CMD  # the recipe's command line, for the header of every RESULTS.md section (lwasr.envinfo)
LWASR_RECIPE_CMD=$(quote_cmd bash "$0" "${_lw_args[@]}")
[ -n "${data-}" ] || data=data/$(basename "$PWD")_$profile  # a corpus whose size depends on the profile
tag=${tag:-$(basename "$PWD")_$profile}
exp=$expdir/$tag
manifests=$data/manifests

# The expansion experiment (stages 8, 9): $xexp holds it, $new_langs are added to experts of $base_langs.
xexp=$exp/expansion
new_langs=${expand_langs// /,}
base_langs=
for l in ${langs//,/ }; do [[ ",$new_langs," == *",$l,"* ]] || base_langs+=${base_langs:+,}$l; done
for l in ${new_langs//,/ }; do
  [[ ",$langs," == *",$l,"* ]] || recipe_error "--expand-langs: $l is not one of --langs $langs (stage 1 prepares those)"
done
if [ -n "$new_langs" ] && [ -z "$base_langs" ]; then
  if [[ " ${_lw_given_options-} " == *" expand_langs "* ]]; then
    recipe_error "--expand-langs $new_langs leaves no base language in --langs $langs; add one, or pass --expand-langs ''"
  fi
  echo "note: profile $profile makes the last language new, but --langs $langs has no other one: no expansion (stage 8)"
  new_langs=
fi
IFS=, read -ra base_list <<< "$base_langs"
if (( expand_moe_k > ${#base_list[@]} && ${#base_list[@]} > 0 )); then expand_moe_k=${#base_list[@]}; fi
# shellcheck source=../../egs/TEMPLATE/cmd.sh
. ./cmd.sh
# shellcheck source=stages.sh
. utils/stages.sh
seeds_note=
if (( ${#seed_list[@]} > 1 )); then seeds_note=", seeds ${seed_list[*]} (in $exp/seed<N>/)"; fi
echo "$(basename "$PWD"): profile $profile, languages $langs, model $model, exp $exp$seeds_note"

launch=(lwasr)  # training launcher: torchrun with DDP on several GPUs
if (( ngpu > 1 )); then launch=(torchrun --standalone --nproc-per-node "$ngpu" -m lwasr); fi
data_opts() {  # data_opts VAR LANGS: appends the training and dev manifest options of LANGS to array VAR
  manifest_opts "$1" --cuts train "$2"
  manifest_opts "$1" --dev-cuts dev "$2"
}
fusion_opts() {  # fusion_opts VAR SYSTEM: the lwasr fuse options of a stage-6 system (see fusion_methods)
  local -n _lw_fuse=$1
  local method=$2 system_opts
  case $2 in
    ta) method=sum
        _lw_fuse+=(--lambdas "${fusion_lambdas// /,}" --max-duration "$max_duration")
        manifest_opts _lw_fuse --dev-cuts dev "$langs" ;;
    svd_ft) method=svd ;;
    learned|learned_*)
      data_opts _lw_fuse "$langs"
      _lw_fuse+=(--max-duration "$max_duration")
      if (( fusion_epochs > 0 )); then _lw_fuse+=(--max-steps 0 --num-epochs "$fusion_epochs")
      else _lw_fuse+=(--max-steps "$expert_steps"); fi ;;
  esac
  read -ra system_opts <<< "${fuse_systems[$method]}"  # --method, and a learned_<gate>_<fn>'s gate options
  _lw_fuse+=("${system_opts[@]}")
}
read -ra init_list <<< "$expand_inits"

# Training seeds (--seeds). The systems of stages 3-7 are built and decoded once per seed; with one seed (or
# none) everything stays in $exp, with several each seed has its own $exp/seed<N>/. Stage 2 (zero-shot) runs
# once; stage 8 builds on the first seed.
use_seed() {  # use_seed SEED: sets $sexp (its experiment dir), $sfx (its log-name suffix), seed_opts, train_opts
  sexp=$exp
  sfx=
  seed_opts=()
  [ -z "$1" ] || seed_opts=(--set "seed=$1")
  if (( ${#seed_list[@]} > 1 )); then sexp=$exp/seed$1 sfx=_seed$1; fi
  train_opts=()
  data_opts train_opts "$langs"
  train_opts+=(--model "$model" --exp-dir "$sexp" --set "max_duration=$max_duration" "${set_opts[@]}" "${seed_opts[@]}")
}
for_seeds() {  # for_seeds N FUNC: FUNC once per seed (use_seed); with several seeds, each has a marker of its own
  local s
  for s in "${seed_list[@]}"; do
    use_seed "$s"
    if (( ${#seed_list[@]} == 1 )); then "$2"; continue; fi
    seed_begin "$1" "$s" || continue
    "$2"
    seed_end "$1" "$s"
  done
  first_seed
}
seed_dirs() {  # seed_dirs VAR NAME: appends the decode dir NAME (e.g. decode_experts_aware_test) of every seed to array VAR
  local -n _lw_dirs=$1
  local s
  for s in "${seed_list[@]}"; do use_seed "$s"; _lw_dirs+=("$sexp/$2"); done
  first_seed
}
first_seed() {  # outside the per-seed stages: the first seed's dirs and options (stage 8), logs without suffix
  use_seed "${seed_list[0]}"
  sfx=
}
first_seed

# Stage 2 decodes zero-shot on the split $zsplit: the test split, or its first --zeroshot-test-utts cuts per language.
zsplit="test"
if (( zeroshot_test_utts > 0 )); then zsplit=test-first$zeroshot_test_utts; fi
first_cuts() {  # first_cuts SPLIT N LANGS: split SPLIT-firstN, the first N cuts of each language's SPLIT manifest
  local l src dst tmp
  for l in ${3//,/ }; do
    src=$manifests/${corpus}_${l}_$1_cuts.jsonl.gz dst=$manifests/${corpus}_${l}_$1-first$2_cuts.jsonl.gz
    [ "$dst" -nt "$src" ] && continue  # made from this manifest already
    tmp=${dst%_cuts.jsonl.gz}_partial_cuts.jsonl.gz
    logged_cpu stage2 lhotse subset --first "$2" "$src" "$tmp"
    mv "$tmp" "$dst"
  done
}

decode() {  # decode SYSTEM NAME SCENARIO [LANGS [EXPDIR [SPLIT [OPTION...]]]]: writes EXPDIR/decode_NAME_SCENARIO_SPLIT
  # SCENARIO both: the aware and the agnostic decode in one pass (decode_NAME_{aware,agnostic}_SPLIT); OPTIONs: more
  # lwasr decode options
  local system=$1 name=$2 scenario=$3 dlangs=${4:-$langs} dexp=${5:-$exp} split=${6:-test} outs cuts=()
  shift "$(( $# < 6 ? $# : 6 ))"
  outs=(--out "$dexp/decode_${name}_${scenario}_$split")
  if [ "$scenario" = both ]; then
    outs=(--out "$dexp/decode_${name}_aware_$split" --agnostic-out "$dexp/decode_${name}_agnostic_$split")
  fi
  manifest_opts cuts --cuts "$split" "$dlangs"
  logged "decode_${name}_$scenario$sfx" lwasr decode --system "$system" "${cuts[@]}" \
    "${outs[@]}" --scenario "$scenario" --lid-langs "$dlangs" --max-duration "$decode_max_duration" \
    --batch-size "$decode_batch_size" "$@"
}

if stage_begin 1 "Prepare the data"; then
  prepare
  stage_end 1
fi

if stage_begin 2 "Zero-shot decoding (language-aware and language-agnostic)"; then
  need_manifests test "$langs"
  if (( zeroshot_test_utts > 0 )); then first_cuts test "$zeroshot_test_utts" "$langs"; fi
  decode "$model" zeroshot both "$langs" "$exp" "$zsplit"
  stage_end 2
fi

schedule_opts() {  # schedule_opts VAR STEPS: appends to array VAR how stages 3-4 train: STEPS steps, or --epochs
  local -n _lw_sched=$1
  if (( epochs > 0 )); then
    _lw_sched+=(--set max_steps=0 --set "num_epochs=$epochs" --set valid_every=0 --set "patience=$patience")
  else
    _lw_sched+=(--set "max_steps=$2")
  fi
}
per_lr() {  # per_lr LOG LR... -- CMD...: CMD as it is without LRs, else once per lr, in $sexp/lr<lr> with --lr <lr>
  local log=$1 lr grid=()
  shift
  while [ "$1" != -- ]; do grid+=("$1"); shift; done
  shift
  if (( ${#grid[@]} == 0 )); then logged "$log" "$@"; return; fi
  for lr in "${grid[@]}"; do logged "$log" "$@" --exp-dir "$sexp/lr$lr" --lr "$lr"; done
}
pick_lr() {  # pick_lr UNIT LOG LR...: link $sexp/UNIT to the $sexp/lr<lr>/UNIT of the lowest dev loss
  local unit=$1 log=$2 lr candidates=()
  shift 2
  for lr in "$@"; do candidates+=("$sexp/lr$lr/$unit"); done
  logged "$log" lwasr train pick "${candidates[@]}" --out "$sexp/$unit"
}
length() {  # length STEPS: how long stages 3-4 train, for their titles
  if (( epochs > 0 )); then echo "$epochs epochs"; else echo "$1 steps"; fi
}

if stage_begin 3 "Train the language experts: one LoRA per language, $(length "$expert_steps") each"; then
  need_manifests "train dev" "$langs"
  jobs=1; (( ngpu > 1 )) && jobs=$ngpu   # on several GPUs, experts train side by side
  train_experts() {
    local sched=() l
    schedule_opts sched "$expert_steps"
    per_lr "stage3$sfx" "${lr_list[@]}" -- lwasr train experts --langs "$langs" --jobs "$jobs" \
      --config conf/train_expert.yaml "${train_opts[@]}" "${sched[@]}"
    if (( ${#lr_list[@]} > 0 )); then
      for l in ${langs//,/ }; do pick_lr "experts/$l" "stage3$sfx" "${lr_list[@]}"; done
    fi
  }
  for_seeds 3 train_experts
  stage_end 3
fi

if stage_begin 4 "Train the baselines (${baselines:-none}), $(length "$shared_steps") each"; then
  need_manifests "train dev" "$langs"
  train_baselines() {
    local sched=() grid b mode nolang
    schedule_opts sched "$shared_steps"
    for b in "${baseline_list[@]}"; do
      mode=${b%_nolang} nolang=()
      [ "$b" = "$mode" ] || nolang=(--set lang_token=false --set "name=$b")  # beside $mode, trained without the token
      grid=("${lr_list[@]}")
      [ "$mode" = full ] && grid=("${full_lr_list[@]}")
      per_lr "stage4_$b$sfx" "${grid[@]}" -- "${launch[@]}" train --mode "$mode" --config "conf/train_$mode.yaml" \
        "${train_opts[@]}" "${sched[@]}" "${nolang[@]}"
      if (( ${#grid[@]} > 0 )); then pick_lr "$b" "stage4_$b$sfx" "${grid[@]}"; fi
    done
  }
  for_seeds 4 train_baselines
  stage_end 4
fi

routing_stage() {  # routing_stage ROUTING: the stage that decodes it, after the one that builds its system
  case $1 in fused_*) echo 6 ;; distilled_*) echo 7 ;; *) echo 5 ;; esac
}
need_routing_system() {  # need_routing_system ROUTING: the system whose language ID ROUTING names, or which stage makes it
  local maker
  maker=$(routing_stage "$1")
  # stage 5: a baseline, which it needs with the others (--baselines has it: checked up front), or a system of the
  # user's, which no stage makes
  (( maker > 5 )) || maker=
  stage_needs "$maker" "the system that routes the experts (--expert-routing $1)" "$sexp/$1/lwasr.json"
}
route_in_stage() {  # route_in_stage N: decode the experts agnostic with every --expert-routing that stage N decodes
  local r
  [ "$decode_scenario" = aware ] && return 0
  for r in "${routing_list[@]}"; do
    if [ "$r" != base ] && (( $(routing_stage "$r") == $1 )); then route_experts "$r"; fi
  done
}
routing_name() {  # routing_name ROUTING: the system name of the experts so routed (decode_<name>_agnostic_test)
  case $1 in router*) echo "experts_$1" ;; *) echo "experts_lid_$1" ;; esac
}
route_experts() {  # route_experts ROUTING: decode the experts agnostic, routed by ROUTING (see --expert-routing)
  local system=$sexp/router name opts=() trainer=()
  name=$(routing_name "$1")
  case $1 in
    router|router_soft*)
      if [[ $1 == router_soft* ]]; then opts=(--soft-top-k "${1#router_soft}"); fi
      manifest_opts trainer --train train "$langs"  # the experts' training and dev data, pooled
      manifest_opts trainer --dev dev "$langs"
      logged "stage5_router$sfx" lwasr router train --experts "$sexp/experts" "${trainer[@]}" --out "$sexp/router" ;;
    *)
      need_routing_system "$1"
      system=$sexp/experts opts=(--lid-system "$sexp/$1") ;;
  esac
  decode "$system" "$name" agnostic "$langs" "$sexp" test "${opts[@]}"
}
expert_scenario() {  # the scenarios the experts are decoded in with the base model's LID: both, aware, agnostic or none
  local base=false
  [[ " $expert_routing " == *" base "* ]] && base=true
  case $decode_scenario:$base in
    *:true) echo "$decode_scenario" ;;
    agnostic:false) echo none ;;
    *) echo aware ;;
  esac
}
routing_names() {  # routing_names VAR: appends the system names of the experts' other routings to array VAR
  local -n _lw_routed=$1
  local r
  [ "$decode_scenario" = aware ] && return 0
  for r in "${routing_list[@]}"; do
    [ "$r" = base ] || _lw_routed+=("$(routing_name "$r")")
  done
}

if stage_begin 5 "Decode every system ($decode_scenario; agnostic experts routed by: $expert_routing)"; then
  need_manifests test "$langs"
  if [[ " $expert_routing " == *" router"* && $decode_scenario != aware ]]; then need_manifests "train dev" "$langs"; fi
  decode_systems() {
    need_experts "$langs" "$sexp/experts"
    local units=("${baseline_list[@]/#/$sexp/}")
    (( ${#units[@]} == 0 )) || stage_needs 4 "the baselines of stage 4" "${units[@]/%//lwasr.json}"
    local sys scenario r
    for r in "${routing_list[@]}"; do  # the stage-4 systems whose language ID routes the experts, before any decode
      [[ $r == base || $r == router* || $decode_scenario == aware ]] && continue
      (( $(routing_stage "$r") == 5 )) || continue  # a fused or distilled system: routed in its own stage
      need_routing_system "$r"
    done
    for sys in experts "${baseline_list[@]}"; do
      scenario=$decode_scenario
      [ "$sys" = experts ] && scenario=$(expert_scenario)
      [[ $sys == *_nolang ]] && scenario=agnostic  # trained without the token: decoded without it
      [ "$scenario" = none ] || decode "$sexp/$sys" "$sys" "$scenario" "$langs" "$sexp"
    done
    route_in_stage 5
  }
  for_seeds 5 decode_systems
  stage_end 5
fi

if stage_begin 6 "Fuse the experts into one adapter: ${fusion_methods:-none}"; then
  if (( ${#fusion_list[@]} > 0 )); then
    need_manifests test "$langs"
    trained='(^| )(learned[a-z_]*|ta|svd_ft)( |$)'  # the systems that use the training or dev data
    if [[ "${fusion_list[*]}" =~ $trained ]]; then need_manifests "train dev" "$langs"; fi
  fi
  fuse_experts() {
    (( ${#fusion_list[@]} > 0 )) || return 0
    need_experts "$langs" "$sexp/experts"
    local m opts sched system
    for m in "${fusion_list[@]}"; do
      opts=()
      fusion_opts opts "$m"
      system=$sexp/fused_$m
      if [ "$m" = svd_ft ]; then  # fuse-then-fine-tune: the svd fusion, trained on as the shared LoRA is
        system=$sexp/fused_svd_ft/shared
        logged "stage6_${m}_fuse$sfx" lwasr fuse --experts "$sexp/experts" --langs "$langs" --out "$sexp/fused_svd" \
          "${opts[@]}"
        sched=()
        schedule_opts sched "$shared_steps"
        logged "stage6_$m$sfx" "${launch[@]}" train --mode shared --config conf/train_shared.yaml "${train_opts[@]}" \
          "${sched[@]}" --init-adapter "$sexp/fused_svd" --exp-dir "$sexp/fused_svd_ft"
      else
        logged "stage6_$m$sfx" lwasr fuse --experts "$sexp/experts" --langs "$langs" --out "$system" "${opts[@]}"
      fi
      decode "$system" "fused_$m" both "$langs" "$sexp"
    done
  }
  fuse_and_route() { fuse_experts; route_in_stage 6; }  # the experts routed by a fused system's LID, if asked
  for_seeds 6 fuse_and_route
  stage_end 6
fi

if stage_begin 7 "Distill the experts into one student ($distill_steps steps; 0 skips)"; then
  if (( distill_steps > 0 )); then need_manifests "train dev test" "$langs"; fi
  distill_experts() {
    (( distill_steps > 0 )) || return 0
    need_experts "$langs" "$sexp/experts"
    init=scratch
    if [ "$distill_init" != scratch ]; then
      init=$sexp/$distill_init
      stage_needs 6 "the stage-6 system of --distill-init $distill_init" "$init/lwasr.json"
    fi
    for scenario in aware agnostic; do
      token=--lang-token; [ "$scenario" = agnostic ] && token=--no-lang-token
      logged "stage7_$scenario$sfx" lwasr distill --teachers "$sexp/experts" --langs "$langs" \
        --name "distilled_$scenario" --init "$init" "$token" --config conf/train_shared.yaml "${train_opts[@]}" \
        --max-steps "$distill_steps"
      decode "$sexp/distilled_$scenario" distilled "$scenario" "$langs" "$sexp"  # each student in its own scenario
    done
  }
  distill_and_route() { distill_experts; route_in_stage 7; }  # the experts routed by a student's LID, if asked
  for_seeds 7 distill_and_route
  stage_end 7
fi

expand_title="nothing to add"
[ -z "$new_langs" ] || expand_title="add $new_langs to the experts of $base_langs"
if stage_begin 8 "Language expansion: $expand_title"; then
  if [ -n "$new_langs" ]; then
    need_manifests "train dev test" "$langs"
    need_experts "$base_langs" "$sexp/experts"
    # The base experts are the ones of stage 3 (an expert depends only on its own language's data), linked;
    # with several seeds, those of the first seed, whose training seed stage 8 also uses.
    if (( ${#seed_list[@]} > 1 )); then echo "stage 8 builds on seed ${seed_list[0]}: $sexp/experts"; fi
    mkdir -p "$xexp/experts"
    for l in ${base_langs//,/ }; do ln -sfn "../..${sexp#"$exp"}/experts/$l" "$xexp/experts/$l"; done
    decode "$xexp/experts" experts_before aware "$base_langs" "$xexp"
    for mode in shared full; do  # the forgetting baselines start from models of the base languages only
      base_opts=()
      data_opts base_opts "$base_langs"
      logged "stage8_$mode" "${launch[@]}" train --mode "$mode" --config "conf/train_$mode.yaml" \
        "${base_opts[@]}" --model "$model" --exp-dir "$xexp" \
        --set max_duration="$max_duration" --set max_steps="$shared_steps" "${set_opts[@]}" "${seed_opts[@]}"
      decode "$xexp/$mode" "${mode}_before" aware "$base_langs" "$xexp"
    done
    for l in ${new_langs//,/ }; do
      new_opts=()
      data_opts new_opts "$l"
      for init in "${init_list[@]}"; do
        conf=conf/train_expert.yaml; [ "$init" = continue-full ] && conf=conf/train_full.yaml
        logged "stage8_${init}_$l" lwasr expand --experts "$xexp/experts" --new-lang "$l" --init "$init" --config "$conf" \
          "${new_opts[@]}" --max-steps "$expand_steps" --max-duration "$max_duration" --set max_utts="$expand_utts" \
          --moe-k "$expand_moe_k" "${set_opts[@]}" "${seed_opts[@]}"
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
  scored=() labels=()  # every decode, scored on its own
  dirs=() names=() zdirs=() znames=()  # compared in RESULTS.md; zdirs: zero-shot on a subset, in RESULTS_zeroshot.md
  routed=()
  routing_names routed
  for sys in zeroshot full shared full_nolang shared_nolang experts "${routed[@]}" "${fusion_list[@]/#/fused_}" \
    distilled; do
    for scenario in aware agnostic; do
      sdirs=()  # the system's decode dirs: zero-shot once, the others once per seed (pooled by the same --name)
      if [ "$sys" = zeroshot ]; then sdirs=("$exp/decode_zeroshot_${scenario}_$zsplit")
      else seed_dirs sdirs "decode_${sys}_${scenario}_test"; fi
      for d in "${sdirs[@]}"; do
        [ -f "$d/hyp.jsonl" ] || continue  # systems this profile does not build
        scored+=("$d"); labels+=("${sys}_${scenario}")
        if [ "$sys" = zeroshot ] && [ "$zsplit" != test ]; then zdirs+=("$d"); znames+=(--name "${sys}_${scenario}")
        else dirs+=("$d"); names+=(--name "${sys}_${scenario}"); fi
      done
    done
  done
  (( ${#scored[@]} > 0 )) || stage_needs 2 "the decodes of stages 2 to 7" "$exp/decode_zeroshot_aware_$zsplit/hyp.jsonl"
  if [ -n "$new_langs" ]; then
    xdirs=() xnames=()  # new languages: one system per init, pooled over the new languages
    for init in "${init_list[@]}"; do
      for l in ${new_langs//,/ }; do xdirs+=("$xexp/decode_${init}_${l}_aware_test"); xnames+=(--name "$init"); done
    done
    stage_needs 8 "the expansion decodes of stage 8" "${xdirs[@]/%//hyp.jsonl}"
  fi
  for i in "${!scored[@]}"; do
    logged_cpu stage9 lwasr score "${scored[$i]}" --name "${labels[$i]}"
  done
  title="$tag ($model)"
  if (( ${#seed_list[@]} > 1 )); then title+=", seeds ${seed_list[*]}"; fi
  if (( ${#dirs[@]} > 0 )); then
    logged_cpu stage9 lwasr score compare "${dirs[@]}" "${names[@]}" --baseline "$baseline" \
      --title "$title" --out "$exp/RESULTS.md"
  fi
  if (( ${#zdirs[@]} > 0 )); then
    logged_cpu stage9 lwasr score compare "${zdirs[@]}" "${znames[@]}" --out "$exp/RESULTS_zeroshot.md" \
      --title "$tag ($model): zero-shot on the first $zeroshot_test_utts test utterances per language"
  fi
  if [ -n "$new_langs" ]; then
    logged_cpu stage9 lwasr score compare "${xdirs[@]}" "${xnames[@]}" --baseline "${init_list[0]}" \
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
results=$exp/RESULTS.md
if [ "$zsplit" != test ]; then results+=", $exp/RESULTS_zeroshot.md"; fi
echo "$(basename "$PWD"): finished in $(( $(date +%s) - _lw_t0 )) s; results: $results${new_langs:+, $xexp/RESULTS_*.md}"
