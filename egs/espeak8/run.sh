#!/usr/bin/env bash
# egs/espeak8: LoRA language experts on an offline espeak-ng corpus in the papers' eight languages, with the
# embedded whisper-base. Runs end to end on a CPU machine with no internet: the README's main job.
#
#   bash run.sh                 # default profile (28 minutes on 2 CPU cores, see docs/results.md)
#   bash run.sh --quick         # smoke run of every stage
#   bash run.sh --full          # more data and steps
#   bash run.sh --profile claims  # a test set sized for claims (192 per language), 3 seeds (about 2 hours)
#   bash run.sh --stage 5 --stop-stage 6
# shellcheck source-path=SCRIPTDIR
set -euo pipefail
cd "$(dirname "$0")"

langs=pl,pt,it,zh,da,el,cy,ja
data=                    # default data/espeak8_<profile>: the corpus size depends on the profile
corpus=synth
test_voices=unseen       # test speakers: unseen (espeak-ng variants that no train/dev utterance has) or seen
train_text=builtin       # training text: builtin (the sentence lists) or catalogs (and the gettext catalogs' sentences)
channels=                # recording conditions: empty (clean), builtin (each language its own) or LANG=CHANNEL,...;
                         # constructed (lwasr prepare synth --channels, docs/data.md); give such a corpus its own --data
help_message="Usage: bash run.sh [options]   (egs/espeak8: offline espeak-ng corpus, embedded whisper-base)"

prepare() {  # stage 1: synthesise the corpus with espeak-ng
  logged_cpu stage1 lwasr prepare synth --langs "$langs" --out "$data" \
    --train "$train_utts" --dev "$dev_utts" --test "$test_utts" --test-voices "$test_voices" \
    --train-text "$train_text" --channels "$channels"
}

# shellcheck source=utils/recipe.sh
. utils/recipe.sh "$@"
