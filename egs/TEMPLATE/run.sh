#!/usr/bin/env bash
# egs/TEMPLATE: copy this directory to egs/<your corpus>/ and fill in local/prepare.sh and the languages.
# See docs/adding-a-corpus.md.
#
#   bash run.sh --quick         # smoke run of every stage
#   bash run.sh                 # default profile
# shellcheck source-path=SCRIPTDIR
set -euo pipefail
cd "$(dirname "$0")"

langs=pl,pt                   # Whisper codes of your languages
data=data/mycorpus
corpus=mycorpus               # manifests are $data/manifests/${corpus}_<lang>_<split>_cuts.jsonl.gz
corpus_dir=                   # where your corpus lives (passed to local/prepare.sh)
help_message="Usage: bash run.sh [options]   (egs/TEMPLATE: your corpus, see docs/adding-a-corpus.md)"

prepare() {  # stage 1: write the manifests
  logged_cpu stage1 local/prepare.sh "$corpus_dir" "$data" "$corpus" "$langs"
}

# shellcheck source=utils/recipe.sh
. utils/recipe.sh "$@"
