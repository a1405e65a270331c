#!/usr/bin/env bash
# keel's accuracy against LogisticRegression, XGBoost and MLPClassifier on the shipped data
# (issue 3): 5-fold stratified CV on the same folds, keel with its defaults, one thread.
# Prints the per-data-set tables and writes every fold's figures to bench/out/accuracy.json.
# Exit status 1 when keel fails or misses the goal (best peer - 0.005) on a judged data set.
# Usage: bench/accuracy.sh [path/to/keel] [more bench/accuracy.py options]
set -euo pipefail
cd "$(dirname "$0")/.."
keel=${1:-${KEEL:-build/keel}}
[ $# -gt 0 ] && shift
mkdir -p bench/out
exec /usr/bin/python3 bench/accuracy.py --keel "$keel" --json bench/out/accuracy.json "$@"
