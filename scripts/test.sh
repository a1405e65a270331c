#!/usr/bin/env bash
# The README's test command: installs what the build needs (and headless Chromium, group
# "look", which tests/e2e/card.sh opens the model card in), builds, and runs every test
# suite (unit, fuzz corpora, end to end). The last line is "N passed, N failed".
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh build look
exec make --no-print-directory -j2 test "$@"
