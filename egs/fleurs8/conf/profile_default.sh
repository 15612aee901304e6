# shellcheck shell=bash
# The papers' setup on GPU: FLEURS has about 2,000-3,000 training utterances (~8-10 h) per language.
: "${train_utts:=0}" "${dev_utts:=0}" "${test_utts:=0}"   # FLEURS decides
: "${expert_steps:=1000}" "${shared_steps:=8000}"   # equal data passes: 8 experts x 1000 = 8000
: "${max_duration:=400}" "${decode_max_duration:=600}" "${decode_batch_size:=64}"
: "${fusion_methods:="sum learned"}" "${distill_steps:=8000}"
: "${expand_langs:=pt,ja}" "${expand_utts:=300}" "${expand_steps:=1000}"   # 6 base + 2 low-resource new languages (~1 h each)
