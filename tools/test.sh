#!/usr/bin/env bash
# Check lwasr's import layering (lint-imports), then run its test suite; sets up the environment first when it
# is missing (tools/install.sh).
#   bash tools/test.sh                 # everything
#   bash tools/test.sh -k ct2 -x       # any pytest arguments
#   LWASR_TEST_WORKERS=4 bash tools/test.sh   # pytest-xdist workers (default 2, CI's cores; 0: one process)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bash "$root/tools/install.sh"
# shellcheck disable=SC1091
. "$root/tools/env.sh"
cd "$root"
# the layering contracts ([tool.importlinter] in pyproject.toml): a layer violation or an import cycle fails
lint-imports
set +e
# the suite on LWASR_TEST_WORKERS processes (pytest-xdist): most of its time is single-threaded (imports, tiny
# models, the recipe's CLI calls), so 2 workers nearly halve it on 2 cores
python -m pytest -q -ra -n "${LWASR_TEST_WORKERS:-2}" "$@"
rc=$?
set -e
if [ "$rc" = 5 ]; then
  echo "tools/test.sh: pytest collected no tests; that is a failure, not a pass" >&2
  exit 1
fi
exit "$rc"
