#!/usr/bin/env bash
# Nothing moved for users: the golden recipe (tests/golden/recipe.sh) run with this build must
# give, file for file, the bytes recorded in tests/golden/expected.sha256 by an earlier keel:
# schemas, quarantines, profiles and reports, the trained models themselves, evaluations,
# predictions, explanations, the model card and what the registry says. Times, paths and the
# audit chain's hashes are masked first (tests/golden/normalise.py). A refactoring that
# changes any of them fails here; a change meant to be seen re-records the file and says why.
# The models' bytes depend on the CPU's kernels: on a CPU whose vector features differ from
# the recording's, only the data layer's outputs are compared (and the test says so). The
# sanitizer build runs two small data sets only (its training is ten times slower), against
# tests/golden/expected-small.sha256, recorded the same way: the registry's ids depend on
# which data sets ran before.
source "$(dirname "$0")/lib.sh"
expected=$ROOT/tests/golden/expected.sha256
cpu=$(grep -m1 -o -w -E 'avx512f|avx512_bf16|avx512_vnni|avx2|fma' /proc/cpuinfo | sort -u | tr '\n' ' ')
recorded=$(sed -n 's/^# cpu: //p' "$expected")
sets=()
case "$KEEL" in
*build-san*) sets=(breast_cancer_wdbc mlc_churn); expected=$ROOT/tests/golden/expected-small.sha256 ;;
esac
if ! "$ROOT/tests/golden/recipe.sh" "$KEEL" "$T/g" "${sets[@]}" >"$T/recipe.out" 2>&1; then
    fail "golden recipe runs" "$(tail -n 20 "$T/recipe.out")"
    finish; exit
fi
ok "golden recipe runs"
python3 "$ROOT/tests/golden/normalise.py" "$T/g" "$ROOT" > "$T/got.sha256"
model_bound='\.(keel|train\.json|evaluate\.json|predictions\.csv|explain\.jsonl|global\.json)$|^card\.|^registry\.'
while read -r hash name; do
    want=$(awk -v n="$name" '$2 == n { print $1 }' "$expected")
    if [ -z "$want" ]; then fail "golden $name" "not in $expected (a new output: record it)"; continue; fi
    if [ "$cpu" != "$recorded" ] && [[ $name =~ $model_bound ]]; then
        echo "skip golden $name (recorded on a CPU with '$recorded', this one has '$cpu')"
        continue
    fi
    equal "golden $name" "$hash" "$want"
done < "$T/got.sha256"
# The run must produce every recorded output: none lost.
missing=$(grep -v '^#' "$expected" | awk '{ print $2 }' | while read -r n; do
    [ -f "$T/g/$n" ] || echo "$n"; done)
equal "golden: every recorded output written" "$missing" ""
finish
