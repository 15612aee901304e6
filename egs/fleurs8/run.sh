#!/usr/bin/env bash
# egs/fleurs8: the papers' setup. FLEURS in pl, pt, it, zh, da, el, cy, ja with whisper-small on GPU (the size
# LoRA-Whisper's parameter counts point to; --model openai/whisper-large-v3 for the largest).
#
#   bash run.sh --ngpu 1                              # downloads FLEURS from the Hugging Face hub
#   bash run.sh --corpus-dir /data/fleurs --ngpu 4    # an already-downloaded copy (google/fleurs layout)
#   bash run.sh --stage 3                             # from the experts on
# Expected results: docs/recipes/fleurs8.md.
# shellcheck source-path=SCRIPTDIR
set -euo pipefail
cd "$(dirname "$0")"

fleurs_langs=pl_pl,pt_br,it_it,cmn_hans_cn,da_dk,el_gr,cy_gb,ja_jp
langs=pl,pt,it,zh,da,el,cy,ja   # the same languages as Whisper codes
model=openai/whisper-small
corpus_dir=                     # a local copy of google/fleurs (data/<lang>/{train,dev,test}.tsv, audio/); empty: download
data=data/fleurs
corpus=fleurs
help_message="Usage: bash run.sh [options]   (egs/fleurs8: FLEURS, whisper-small, GPU)"

prepare() {  # stage 1: download (or read --corpus-dir) and write manifests
  logged_cpu stage1 lwasr prepare fleurs --langs "$fleurs_langs" --out "$data" \
    ${corpus_dir:+--corpus-dir "$corpus_dir"}
}

# shellcheck source=utils/recipe.sh
. utils/recipe.sh "$@"
