# shellcheck shell=bash disable=SC2034
# Paper profile (issue 14): LoRA-Whisper's training protocol as far as it is known, sized for one seed in about
# 150 minutes on 2 CPU cores (measured stage times: docs/results.md, "The papers' protocol").
#   - the same schedule for experts, shared LoRA and full fine-tuning: up to $epochs epochs, validated on dev at
#     the end of every epoch, the best epoch kept, early stop after $patience epochs without improvement;
#   - AdamW with linear warm-up (conf/train_*.yaml);
#   - the learning rate of the LoRA systems chosen on dev, per system, from the paper's 1e-4 and the default
#     profile's 1e-3; full fine-tuning at the recipe's 5e-5 (not chosen: a second full run costs 21 minutes);
#   - the claims test set (192 utterances per language) and zero-shot on its first 32.
# Trade: 80 training utterances per language (half the default) and 6 epochs, not 10: with two learning rates
# each LoRA system trains twice, and 6 epochs of one system cost about 21 minutes at this size; no fusion.
: "${train_utts:=80}" "${dev_utts:=16}" "${test_utts:=192}"
: "${expert_steps:=20}" "${shared_steps:=160}"   # unused by stages 3-4 (--epochs); stage 6's learned fusion
: "${max_duration:=20}" "${decode_max_duration:=120}" "${decode_batch_size:=16}"
: "${fusion_methods:=}" "${distill_steps:=0}"
: "${expand_langs:=}" "${expand_utts:=40}" "${expand_steps:=20}"
: "${lrs:=1e-4 1e-3}" "${full_lrs:=5e-5}"
# options whose recipe default is not empty: set here, the command line's value is restored after
epochs=6
patience=2
zeroshot_test_utts=32
