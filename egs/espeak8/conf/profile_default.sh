# shellcheck shell=bash
# Default profile: the whole recipe in 28 minutes on 2 CPU cores (docs/results.md).
: "${train_utts:=160}" "${dev_utts:=16}" "${test_utts:=32}"
: "${expert_steps:=20}" "${shared_steps:=160}"   # equal data passes: 8 experts x 20 = 160 steps
: "${max_duration:=20}" "${decode_max_duration:=120}" "${decode_batch_size:=16}"
: "${fusion_methods:=sum}" "${distill_steps:=0}"
: "${expand_langs:=}" "${expand_utts:=40}" "${expand_steps:=20}"   # --expand-langs pt,ja runs the expansion experiment
