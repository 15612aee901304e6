# shellcheck shell=bash disable=SC2034
# Paper profile (issue 14): LoRA-Whisper's protocol on FLEURS, on GPU. The recipe's whisper-small (the size
# LoRA-Whisper's parameter counts point to; from the hub: PyPI holds only part of it, docs/models.md), 10 epochs validated on
# dev at each epoch's end with the best kept, the learning rate chosen on dev per system.
: "${train_utts:=0}" "${dev_utts:=0}" "${test_utts:=0}"   # FLEURS decides
: "${expert_steps:=1000}" "${shared_steps:=8000}"   # unused by stages 3-4 (--epochs)
: "${max_duration:=400}" "${decode_max_duration:=600}" "${decode_batch_size:=64}"
: "${fusion_methods:="sum learned"}" "${distill_steps:=8000}"
: "${expand_langs:=pt,ja}" "${expand_utts:=300}" "${expand_steps:=1000}"
: "${lrs:=1e-4 1e-3}" "${full_lrs:=1e-5 5e-5}"
# options whose recipe default is not empty: set here, the command line's value is restored after
epochs=10
patience=3
