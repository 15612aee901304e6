# shellcheck shell=bash
# Quick profile: a smoke run of every stage in a few minutes (results are not meaningful).
: "${train_utts:=16}" "${dev_utts:=4}" "${test_utts:=4}"
: "${expert_steps:=2}" "${shared_steps:=4}"
: "${max_duration:=20}" "${decode_max_duration:=60}" "${decode_batch_size:=16}"
: "${fusion_methods:=sum}" "${distill_steps:=4}"
: "${expand_langs:=${langs##*,}}" "${expand_utts:=8}" "${expand_steps:=2}"   # the last language is the new one
