#!/usr/bin/env bash
# The golden recipe: what a user sees from keel on the shipped data, written to one folder so
# that two binaries can be compared byte for byte (tests/e2e/golden.sh). It infers, validates
# and profiles every shipped data set, trains a model on each with the defaults (one thread,
# SOURCE_DATE_EPOCH fixed), evaluates and predicts with it, explains rows and the whole model,
# writes the churn model's card and reads the registry back. Registry output carries wall-clock
# times, identities' keys and audit hashes that differ on every run; normalise.py masks them.
# Usage: tests/golden/recipe.sh KEEL OUT_DIR [DATASET...]   (default: every shipped data set)
set -euo pipefail
keel=$1 out=$2; shift 2
root=$(cd "$(dirname "$0")/../.." && pwd)
mkdir -p "$out"
export KEEL_HOME="$out/home" KEEL_USER=analyst SOURCE_DATE_EPOCH=1700000000 TZ=UTC LC_ALL=C
unset KEEL_CONFIG
declare -A target=(
    [breast_cancer_wdbc]=diagnosis [pima2]=diabetes [spam]=type [income]=INCOME
    [mlc_churn]=churn [shuttle]=Class [digits]=digit
)
sets=("$@")
[ ${#sets[@]} -gt 0 ] || sets=(breast_cancer_wdbc pima2 spam income mlc_churn shuttle digits)
for n in "${sets[@]}"; do
    d="$root/data/$n.csv" o="$out/$n"
    "$keel" data infer "$d" --target "${target[$n]}" -o "$o.schema.yaml" > "$o.infer.txt"
    "$keel" data validate "$d" --schema "$o.schema.yaml" --quarantine "$o.quarantine.jsonl" \
        --json > "$o.validate.json"
    "$keel" data profile "$d" --schema "$o.schema.yaml" --no-quarantine --sha256 \
        -o "$o.profile.json" --html "$o.profile.html" > "$o.profile.txt"
    head -n 301 "$d" > "$o.head.csv"
    "$keel" train "$d" --target "${target[$n]}" --schema "$o.schema.yaml" -o "$o.keel" \
        --quarantine "$o.train_quarantine.jsonl" --threads 1 -q --json > "$o.train.json"
    "$keel" evaluate "$o.keel" "$o.head.csv" --json > "$o.evaluate.json"
    "$keel" predict "$o.keel" "$o.head.csv" -o "$o.predictions.csv" --no-quarantine > /dev/null
    "$keel" explain "$o.keel" "$o.head.csv" --limit 20 -o "$o.explain.jsonl" -q
done
# The dirty copy of the churn data against the clean schema: a quarantine with reasons.
if [ -f "$out/mlc_churn.schema.yaml" ]; then
    "$keel" data validate "$root/examples/churn_dirty.csv" --schema "$out/mlc_churn.schema.yaml" \
        --quarantine "$out/churn_dirty.quarantine.jsonl" --json > "$out/churn_dirty.validate.json" || true
    o="$out/mlc_churn"
    "$keel" explain "$o.keel" "$o.head.csv" --global -q --json > "$o.global.json"
    "$keel" user add reviewer --role approver > /dev/null
    KEEL_USER=reviewer "$keel" model approve mlc_churn:1 -m "golden" > /dev/null
    "$keel" model alias mlc_churn champion 1 -m "golden" > /dev/null
    "$keel" model tag mlc_churn:1 "owner=golden tests" > /dev/null
    "$keel" card mlc_churn@champion --data "$o.head.csv" -o "$out/card.html" \
        --markdown "$out/card.md" > /dev/null
    "$keel" model list --json > "$out/registry.models.json"
    "$keel" model show mlc_churn:1 --json > "$out/registry.show.json"
    "$keel" model history mlc_churn > "$out/registry.history.txt"
    "$keel" lineage mlc_churn@champion > "$out/registry.lineage.txt"
    "$keel" dataset list --json > "$out/registry.datasets.json"
    "$keel" run list --json > "$out/registry.runs.json"
    "$keel" audit verify > "$out/registry.verify.txt"
fi
