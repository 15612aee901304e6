# Source this file (recipes do it from their path.sh) to activate lwasr's environment.
# When the environment is missing it runs tools/install.sh first.
_lwasr_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export LWASR_ROOT=$_lwasr_root
_lwasr_venv=${LWASR_VENV:-$LWASR_ROOT/tools/venv}
if [ ! -x "$_lwasr_venv/bin/lwasr" ] || [ ! -f "$_lwasr_venv/.lwasr-stamp" ]; then
  echo "[env] lwasr environment missing: running tools/install.sh" >&2
  bash "$LWASR_ROOT/tools/install.sh" || return 1 2>/dev/null || exit 1
fi
# shellcheck disable=SC1091
. "$_lwasr_venv/bin/activate"
export PYTHONUNBUFFERED=1
export HF_HUB_DISABLE_TELEMETRY=1
unset _lwasr_root _lwasr_venv
