# shellcheck shell=bash
# Full profile: more data and steps per language (about four times the default's training time).
: "${train_utts:=400}" "${dev_utts:=24}" "${test_utts:=48}"
: "${expert_steps:=60}" "${shared_steps:=480}"
: "${max_duration:=30}" "${decode_max_duration:=120}" "${decode_batch_size:=16}"
: "${fusion_methods:=sum}" "${distill_steps:=480}"   # the student gets the baselines' steps
: "${expand_langs:=pt,ja}" "${expand_utts:=40}" "${expand_steps:=40}"   # 6 base + 2 low-resource new languages
