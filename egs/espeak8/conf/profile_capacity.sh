# shellcheck shell=bash disable=SC2034
# Capacity profile (issue 14; local/capacity.sh runs it once per LoRA rank): does a shared adapter lose to
# the experts because it must split its rank across eight languages? The default profile's corpus and schedule
# (160 training utterances per language; 20 steps per expert, 160 for shared LoRA: the same passes over the same
# data), the claims test set (192 utterances per language), experts and shared LoRA only (no full fine-tuning,
# no fusion: neither has a LoRA rank to vary), zero-shot on the first 32 (once per study: its data is shared).
: "${train_utts:=160}" "${dev_utts:=16}" "${test_utts:=192}"
: "${expert_steps:=20}" "${shared_steps:=160}"
: "${max_duration:=20}" "${decode_max_duration:=120}" "${decode_batch_size:=16}"
: "${fusion_methods:=}" "${distill_steps:=0}"
: "${expand_langs:=}" "${expand_utts:=40}" "${expand_steps:=20}"
# options whose recipe default is not empty: set here, the command line's value is restored after
baselines=shared
decode_scenario=aware  # the study compares the systems given their language; agnostic expert decoding would double stage 5
zeroshot_test_utts=32
