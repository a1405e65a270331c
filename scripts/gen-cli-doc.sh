#!/usr/bin/env bash
# Prints the CLI reference back from the commands' own --help: the page docs/cli.md would be.
# docs/cli.md is the source of --help (scripts/gen-cli-help.sh compiles it into keel);
# tests/e2e/data_broken.sh diffs this script's output against it, so a help text that did
# not make it into the binary, or a section the build does not know, is caught.
# Usage: scripts/gen-cli-doc.sh [path/to/keel]
set -euo pipefail
keel=${1:-build/keel}
echo "# CLI reference"
echo
echo "This page is the source of every command's \`--help\`: the build compiles each block below into"
echo "keel (scripts/gen-cli-help.sh), so the two cannot differ. Change a command's help here."
echo "Exit status everywhere: 0 success, 1 the work failed or a threshold was crossed, 2 usage error."
for c in "" data "data infer" "data validate" "data profile" train evaluate predict cv serve explain card \
    model run dataset lineage user token audit registry; do
    echo
    echo "## keel${c:+ $c}"
    echo
    echo '```'
    # shellcheck disable=SC2086
    "$keel" $c --help
    echo '```'
done
