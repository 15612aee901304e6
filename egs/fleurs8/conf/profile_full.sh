# shellcheck shell=bash
# Longer training than the default (the papers train to convergence).
: "${train_utts:=0}" "${dev_utts:=0}" "${test_utts:=0}"   # FLEURS decides
: "${expert_steps:=2000}" "${shared_steps:=16000}"   # equal data passes: 8 experts x 2000 = 16000
: "${max_duration:=400}" "${decode_max_duration:=600}" "${decode_batch_size:=64}"
: "${fusion_methods:="sum learned"}" "${distill_steps:=16000}"
: "${expand_langs:=pt,ja}" "${expand_utts:=300}" "${expand_steps:=2000}"
