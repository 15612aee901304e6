#!/usr/bin/env bash
# Stage 1 of the TEMPLATE recipe: turn your corpus into lwasr manifests.
#   local/prepare.sh CORPUS_DIR DATA_DIR CORPUS LANGS
# Usually one `lwasr prepare dir` call per split: a Kaldi data directory (wav.scp, text, optional
# utt2spk, segments, utt2lang) or a TSV of path<TAB>text<TAB>lang. See docs/data.md.
set -euo pipefail
corpus_dir=$1 data=$2 corpus=$3
[ -n "$corpus_dir" ] || { echo "local/prepare.sh: set --corpus-dir (see docs/adding-a-corpus.md)" >&2; exit 1; }
for split in train dev test; do
  lwasr prepare dir "$corpus_dir/$split" --out "$data" --corpus "$corpus" --split "$split"
done
