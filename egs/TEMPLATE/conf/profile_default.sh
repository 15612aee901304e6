# shellcheck shell=bash
# Sizes and steps of the default profile. *_utts are unused by `prepare dir` (your corpus decides).
: "${train_utts:=0}" "${dev_utts:=0}" "${test_utts:=0}"
: "${expert_steps:=2000}" "${shared_steps:=8000}"
: "${max_duration:=200}" "${decode_max_duration:=300}" "${decode_batch_size:=16}"
: "${fusion_methods:=sum}" "${distill_steps:=0}"
: "${expand_langs:=}" "${expand_utts:=0}" "${expand_steps:=1000}"   # e.g. --expand-langs xx: add xx to the others' experts
