#!/usr/bin/env bash
# Run a command on this machine, appending its output to LOGFILE and showing it.
#   local.sh LOGFILE command [args...]
set -o pipefail
log=$1; shift
mkdir -p "$(dirname "$log")"
"$@" 2>&1 | tee -a "$log"
