# shellcheck shell=bash disable=SC2034
# Base study profile (issue 27; local/base_study.sh runs it on the original and on the adapted base): the same
# corpus and schedule for every system, fixed before the comparison ran (docs/results.md, "Pre-registration").
#   - 160 training (about 0.1 h), 16 dev and 192 test utterances per language, unseen test voices; the training
#     text from the built-in lists and then the gettext catalogs (--train-text catalogs: the first 160 are the
#     built-in sentences, so this corpus is the first 160 of the data-size arm's 800);
#   - every system (experts, shared LoRA, full fine-tuning) trained 3 epochs, validated on dev at the end of
#     each by greedy dev WER (CER for zh, ja) beside the loss, the epoch of lowest dev WER kept (valid_metric=wer),
#     no averaging, no early stop; lr 1e-3 for LoRA (conf/train_expert.yaml, train_shared.yaml: the rate the paper
#     profile chose on dev for shared LoRA and 7 of 8 experts), 5e-5 for full fine-tuning;
#   - decoded given the language (the compared scenario), zero-shot on the first 32 test utterances per language.
: "${train_utts:=160}" "${dev_utts:=16}" "${test_utts:=192}"
: "${expert_steps:=20}" "${shared_steps:=160}"   # unused by stages 3-4 (--epochs)
: "${max_duration:=20}" "${decode_max_duration:=120}" "${decode_batch_size:=16}"
: "${fusion_methods:=}" "${distill_steps:=0}"
: "${expand_langs:=}" "${expand_utts:=40}" "${expand_steps:=20}"
: "${train_set:=valid_metric=wer}"
# options whose recipe default is not empty: set here, the command line's value is restored after
epochs=3
patience=0
baselines=shared
decode_scenario=aware
zeroshot_test_utts=32
train_text=catalogs
