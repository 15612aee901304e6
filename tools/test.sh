#!/usr/bin/env bash
# Check lwasr's import layering (lint-imports), then run its test suite; sets up the environment first when it
# is missing (tools/install.sh).
#   bash tools/test.sh                 # everything
#   bash tools/test.sh -k ct2 -x       # any pytest arguments
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bash "$root/tools/install.sh"
# shellcheck disable=SC1091
. "$root/tools/env.sh"
cd "$root"
# the layering contracts ([tool.importlinter] in pyproject.toml): a layer violation or an import cycle fails
lint-imports
set +e
python -m pytest -q -ra "$@"
rc=$?
set -e
if [ "$rc" = 5 ]; then
  echo "tools/test.sh: pytest collected no tests; that is a failure, not a pass" >&2
  exit 1
fi
exit "$rc"
