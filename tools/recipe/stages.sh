# Stage bookkeeping for recipes, sourced by recipe.sh after parse_options.sh and cmd.sh.
# Needs: $stage, $stop_stage, $exp (experiment dir), $manifests, $corpus, and the arrays cmd and gpu_cmd
# (cmd.sh). Markers live in $exp/.done/.
#
#   if stage_begin 3 "Train the experts"; then
#     need_manifests "train dev" "$langs"    # inputs first: a missing one names the stage that makes it
#     logged stage3 lwasr train experts ...
#     stage_end 3
#   fi
#
# A stage with a completion marker is skipped, saying so. A stage that runs once per training seed marks each
# seed too (seed_begin/seed_end), so an interrupted stage skips the seeds it finished. Passing --stage N
# explicitly clears the markers of stages N and above (their seeds' included), so stages N..stop_stage run again; the lwasr commands themselves resume from
# their own complete outputs and checkpoints, so re-running a finished stage is cheap. A stage that fails
# says which stage failed and where the log of the failing command is.
# shellcheck shell=bash
: "${stage:?}" "${stop_stage:?}" "${exp:?}" "${manifests:?}" "${corpus:?}" "${cmd:?}" "${gpu_cmd:?}"
_lw_done_dir=$exp/.done
mkdir -p "$_lw_done_dir" "$exp/log"
if [[ " ${_lw_given_options-} " == *" stage "* ]]; then
  for _m in "$_lw_done_dir"/stage*.done; do
    [ -e "$_m" ] || continue
    _n=${_m##*/stage}; _n=${_n%.done}; _n=${_n%%_*}  # stage<N>.done or stage<N>_seed<S>.done
    if (( _n >= stage )); then rm -f "$_m"; fi
  done
fi
_lw_t0=$(date +%s)
_lw_stage=   # the stage running now
_lw_log=     # the log of the command running now

# abspath PATH: PATH from / (messages name paths that work wherever the user is; run.sh cd's to its directory).
abspath() {
  if [[ $1 == /* ]]; then echo "$1"; else echo "$PWD/$1"; fi
}

_lw_on_exit() {
  local rc=$?
  if (( rc != 0 )) && [ -n "$_lw_stage" ]; then
    echo "=== stage $_lw_stage failed (exit status $rc); its log: $(abspath "${_lw_log:-$exp/log/}")" >&2
  fi
}
trap _lw_on_exit EXIT

stage_begin() {
  local n=$1 desc=$2
  if (( n < stage || n > stop_stage )); then return 1; fi
  if [ -f "$_lw_done_dir/stage$n.done" ]; then
    echo "=== stage $n: $desc -- already done, skipping (rm $_lw_done_dir/stage$n.done or pass --stage $n to redo)"
    return 1
  fi
  echo "=== stage $n: $desc ($(date '+%H:%M:%S'), logs: $exp/log/)"
  _lw_stage=$n _lw_log=
  _lw_stage_start=$(date +%s)
  return 0
}

stage_end() {
  local n=$1
  date '+%F %T' > "$_lw_done_dir/stage$n.done"
  _lw_stage=
  echo "=== stage $n done in $(( $(date +%s) - _lw_stage_start )) s (total $(( $(date +%s) - _lw_t0 )) s)"
}

# seed_begin N SEED / seed_end N SEED: like stage_begin/stage_end, for one seed of stage N (marker
# $exp/.done/stage<N>_seed<SEED>.done); seed_begin is false, saying so, when that seed is done.
seed_begin() {
  if [ -f "$_lw_done_dir/stage$1_seed$2.done" ]; then
    echo "--- stage $1, seed $2: already done, skipping"
    return 1
  fi
  echo "--- stage $1, seed $2 ($(date '+%H:%M:%S'))"
}
seed_end() {
  date '+%F %T' > "$_lw_done_dir/stage$1_seed$2.done"
}

# Run a command with its output shown and kept in $exp/log/<name>.log; fails the recipe if it fails.
# logged: through $gpu_cmd (training, decoding); logged_cpu: through $cmd (data preparation, scoring).
logged() {
  local name=$1; shift
  _lw_log=$exp/log/$name.log
  printf '+%s\n' "$(printf ' %q' "$@")" >> "$_lw_log"
  "${gpu_cmd[@]}" "$_lw_log" "$@"
}
logged_cpu() {
  local name=$1; shift
  _lw_log=$exp/log/$name.log
  printf '+%s\n' "$(printf ' %q' "$@")" >> "$_lw_log"
  "${cmd[@]}" "$_lw_log" "$@"
}

# stage_needs MAKER WHAT PATH...: before the running stage loads anything, every PATH must exist; if one is
# missing, stop with one line naming it, WHAT it belongs to and the command that runs stage MAKER (MAKER empty:
# that no stage makes it).
stage_needs() {
  local maker=$1 what=$2 p missing=()
  shift 2
  for p in "$@"; do [ -e "$p" ] || missing+=("$p"); done
  (( ${#missing[@]} == 0 )) && return 0
  local n=$_lw_stage more="" fix="no stage of this recipe makes it"
  if (( ${#missing[@]} > 1 )); then more=" (and $(( ${#missing[@]} - 1 )) more)"; fi
  if [ -n "$maker" ]; then fix="make them with: $(rerun_cmd "$maker")"; fi
  _lw_stage=  # nothing ran: no "stage failed" line
  recipe_error "stage $n needs $what: $(abspath "${missing[0]}") is missing$more; $fix"
}

# need_manifests "SPLITS" LANGS: the manifests of stage 1 for every split and language (comma-separated).
need_manifests() {
  local split paths=()
  for split in $1; do manifest_paths paths "$split" "$2"; done
  stage_needs 1 "the manifests of stage 1" "${paths[@]}"
}

# need_experts LANGS [DIR]: the stage-3 experts of LANGS (comma-separated), in DIR (default $exp/experts).
need_experts() {
  local l dir=${2:-$exp/experts} paths=()
  for l in ${1//,/ }; do paths+=("$dir/$l/lwasr.json"); done
  stage_needs 3 "the experts of stage 3" "${paths[@]}"
}

# The manifest contract: $manifests/${corpus}_<lang>_<split>_cuts.jsonl.gz.
#   manifest_paths VAR SPLIT LANGS     appends the manifest of each of LANGS (comma-separated) to array VAR
#   manifest_opts VAR OPT SPLIT LANGS  appends "OPT <manifest>" for each, e.g.
#     manifest_opts args --cuts train pl,pt  ->  args+=(--cuts .../synth_pl_train_cuts.jsonl.gz --cuts .../synth_pt_...)
manifest_paths() {
  local -n _lw_paths=$1
  local l
  for l in ${3//,/ }; do _lw_paths+=("$manifests/${corpus}_${l}_${2}_cuts.jsonl.gz"); done
}
manifest_opts() {
  local -n _lw_opts=$1
  local p found=()
  manifest_paths found "$3" "$4"
  for p in "${found[@]}"; do _lw_opts+=("$2" "$p"); done
}
