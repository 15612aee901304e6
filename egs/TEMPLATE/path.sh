# Activates lwasr's environment (bootstrapping tools/install.sh when it is missing).
# shellcheck shell=bash disable=SC1091
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)/../../tools/env.sh"
