#!/usr/bin/env bash
# Run a command through slurm (blocking srun), appending its output to LOGFILE.
#   slurm.sh [--gpu N] [--mem 32G] [--time 24:00:00] [--partition P] LOGFILE command [args...]
# Extra srun options can also come from $LWASR_SRUN_OPTS.
set -o pipefail
opts=()
while [[ "$1" == --* ]]; do
  case "$1" in
    --gpu) [ "$2" != 0 ] && opts+=("--gres=gpu:$2"); shift 2 ;;
    --mem) opts+=("--mem=$2"); shift 2 ;;
    --time) opts+=("--time=$2"); shift 2 ;;
    --partition) opts+=("--partition=$2"); shift 2 ;;
    *) echo "slurm.sh: unknown option $1" >&2; exit 1 ;;
  esac
done
log=$1; shift
command -v srun >/dev/null || { echo "slurm.sh: srun not found; use cmd=(utils/local.sh) in cmd.sh" >&2; exit 1; }
mkdir -p "$(dirname "$log")"
read -ra extra <<< "${LWASR_SRUN_OPTS-}"  # extra srun options, split at spaces
srun "${opts[@]}" "${extra[@]}" "$@" 2>&1 | tee -a "$log"
