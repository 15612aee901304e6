# shellcheck shell=bash
# Claims profile: the default profile's corpus and schedule, a test set sized for claims, three seeds.
# 192 test utterances per language: the size at which the 95% interval of "experts against shared LoRA"
# measured +-4.1% relative (+-5.1% at 128, +-3.8% at 255; docs/results.md, "How large a test set the claims need").
# Zero-shot decodes the first 32 of them (30-s input is the slow decode), compared on its own.
: "${train_utts:=160}" "${dev_utts:=16}" "${test_utts:=192}"
: "${expert_steps:=20}" "${shared_steps:=160}"
: "${max_duration:=20}" "${decode_max_duration:=120}" "${decode_batch_size:=16}"
: "${fusion_methods:=sum}" "${distill_steps:=0}"
: "${expand_langs:=}" "${expand_utts:=40}" "${expand_steps:=20}"
: "${seeds:=1 2 3}"
# shellcheck disable=SC2034  # read by recipe.sh; the command line's --zeroshot-test-utts wins (restored after)
zeroshot_test_utts=32
