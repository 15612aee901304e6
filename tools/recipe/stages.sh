# Stage bookkeeping for recipes, sourced by run.sh after parse_options.sh.
# Needs: $stage, $stop_stage, $exp (experiment dir). Markers live in $exp/.done/.
#
#   if stage_begin 3 "Train the experts"; then
#     lwasr train experts ...
#     stage_end 3
#   fi
#
# A stage with a completion marker is skipped, saying so. Passing --stage N explicitly clears the
# markers of stages N and above, so stages N..stop_stage run again; the lwasr commands themselves resume from
# their own complete outputs and checkpoints, so re-running a finished stage is cheap.
# shellcheck shell=bash
_lw_done_dir="$exp/.done"
mkdir -p "$_lw_done_dir" "$exp/log"
if [[ " ${_lw_given_options-} " == *" stage "* ]]; then
  for _m in "$_lw_done_dir"/stage*.done; do
    [ -e "$_m" ] || continue
    _n=${_m##*/stage}; _n=${_n%.done}
    if (( _n >= stage )); then rm -f "$_m"; fi
  done
fi
_lw_t0=$(date +%s)

stage_begin() {
  local n=$1 desc=$2
  if (( n < stage || n > stop_stage )); then return 1; fi
  if [ -f "$_lw_done_dir/stage$n.done" ]; then
    echo "=== stage $n: $desc -- already done, skipping (rm $_lw_done_dir/stage$n.done or pass --stage $n to redo)"
    return 1
  fi
  echo "=== stage $n: $desc ($(date '+%H:%M:%S'), logs: $exp/log/)"
  _lw_stage_start=$(date +%s)
  return 0
}

stage_end() {
  local n=$1
  date '+%F %T' > "$_lw_done_dir/stage$n.done"
  echo "=== stage $n done in $(( $(date +%s) - _lw_stage_start )) s (total $(( $(date +%s) - _lw_t0 )) s)"
}

# Run a command with its output shown and kept in $exp/log/<name>.log; fails the recipe if it fails.
# logged: through $gpu_cmd (training, decoding); logged_cpu: through $cmd (data preparation, scoring).
logged() {
  local name=$1; shift
  echo "+ $*" >> "$exp/log/$name.log"
  $gpu_cmd "$exp/log/$name.log" "$@"
}
logged_cpu() {
  local name=$1; shift
  echo "+ $*" >> "$exp/log/$name.log"
  $cmd "$exp/log/$name.log" "$@"
}

# Repeated manifest options for a split and a language list, following the manifest contract:
#   manifest_opts --cuts data/espeak8/manifests synth train pl,pt
#   -> --cuts data/espeak8/manifests/synth_pl_train_cuts.jsonl.gz --cuts .../synth_pt_train_cuts.jsonl.gz
manifest_opts() {
  local opt=$1 dir=$2 corpus=$3 split=$4 langs=$5 l
  for l in ${langs//,/ }; do printf '%s %s ' "$opt" "$dir/${corpus}_${l}_${split}_cuts.jsonl.gz"; done
}
