#!/usr/bin/env bash
# The README's test command: installs what the build needs, builds, and runs every test
# suite (unit, fuzz corpora, end to end). The last line is "N passed, N failed".
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh build
exec make --no-print-directory -j2 test "$@"
