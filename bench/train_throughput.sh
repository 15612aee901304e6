#!/usr/bin/env bash
# Benchmark 1 (issue #4): `lwasr train` vs Hugging Face Seq2SeqTrainer + PEFT, training throughput on CPU.
# Usage: bench/train_throughput.sh [extra options of bench/train_throughput.py, e.g. --num-cuts 64 --rounds 2]
# Regenerates the espeak-ng corpus in /tmp/espeak8 when it is missing.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck disable=SC1091
[ -f "$root/tools/venv/bin/activate" ] && . "$root/tools/venv/bin/activate"
corpus=${CORPUS:-/tmp/espeak8}
cuts=$corpus/manifests/synth_pl_train_cuts.jsonl.gz
if [ ! -f "$cuts" ]; then
  lwasr prepare synth --langs pl --out "$corpus"
fi
exec python "$root/bench/train_throughput.py" --cuts "$cuts" --threads 2 "$@"
