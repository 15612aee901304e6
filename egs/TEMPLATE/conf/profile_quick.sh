# shellcheck shell=bash
# A smoke run: a few steps of everything.
: "${train_utts:=0}" "${dev_utts:=0}" "${test_utts:=0}"
: "${expert_steps:=2}" "${shared_steps:=4}"
: "${max_duration:=30}" "${decode_max_duration:=60}" "${decode_batch_size:=16}"
: "${fusion_methods:=sum}" "${distill_steps:=4}"
: "${expand_langs:=${langs##*,}}" "${expand_utts:=4}" "${expand_steps:=2}"   # the last language is the new one
