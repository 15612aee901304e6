# Longer training than the default (the papers train to convergence).
: "${train_utts:=0}" "${dev_utts:=0}" "${test_utts:=0}"   # FLEURS decides
: "${expert_steps:=6000}" "${shared_steps:=24000}"
: "${max_duration:=400}" "${decode_max_duration:=600}"
: "${fusion_methods:="sum learned"}" "${distill_steps:=12000}"
: "${expand_langs:=pt,ja}" "${expand_utts:=300}" "${expand_steps:=2000}"
