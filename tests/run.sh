#!/usr/bin/env bash
# Runs every test suite against one build directory and prints the total as the last line:
# "N passed, N failed". Usage: tests/run.sh BUILD_DIR
#   layers   scripts/check-layers.sh — no source file includes a module drawn above its own
#   unit     build/unit — C unit tests, one forked process per test
#   corpus   build/replay-* — every fuzz corpus file through its parser
#   e2e      tests/e2e/*.sh — the real CLI on real and broken files
set -uo pipefail
build=${1:-build}
root=$(cd "$(dirname "$0")/.." && pwd)
export KEEL_TEST_ROOT=$root
export KEEL="$root/$build/keel"
[ -x "$KEEL" ] || KEEL="$build/keel"
export KEEL_STRESS="$root/$build/registry_stress"
passed=0; failed=0
tally() { # reads a suite's output, echoes it, adds its "N passed, N failed" line
    local line p f
    line=$(grep -E '[0-9]+ passed, [0-9]+ failed' "$1" | tail -n 1)
    p=$(sed -E 's/.*([0-9]+) passed.*/\1/; s/.* ([0-9]+) passed.*/\1/' <<<"$line")
    p=$(grep -oE '[0-9]+ passed' <<<"$line" | grep -oE '[0-9]+'); f=$(grep -oE '[0-9]+ failed' <<<"$line" | grep -oE '[0-9]+')
    if [ -z "$line" ]; then echo "   (suite printed no summary: counted as 1 failure)"; p=0; f=1; fi
    passed=$((passed + p)); failed=$((failed + f))
}
log=$(mktemp); trap 'rm -f "$log"' EXIT

echo "== layers"
"$root/scripts/check-layers.sh" >"$log" 2>&1; grep -v '^ok  ' "$log"; tally "$log"

echo "== unit"
"$build/unit" >"$log" 2>&1; cat "$log" | grep -v '^ok  ' ; tally "$log"

echo "== fuzz corpora"
for r in "$build"/replay-*; do
    [ -x "$r" ] || continue
    name=${r##*/replay-}
    "$r" "$root/tests/corpus/$name" >"$log" 2>&1; cat "$log"; tally "$log"
done

echo "== end to end"
for t in "$root"/tests/e2e/*.sh; do
    [ "${t##*/}" = lib.sh ] && continue
    [ -f "$t" ] || continue
    echo "-- ${t##*/}"
    bash "$t" >"$log" 2>&1; grep -v '^ok  ' "$log"; tally "$log"
done

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
