#!/usr/bin/env bash
# A/B of the paths issue 20's amplification bounds touch, which bench/ab.sh does not reach:
# a KServe v1 one-row prediction under wrk (the bound on rows x columns), and keel data infer
# and keel data validate of a JSON Lines file (the column cap, the hashed keys, the count of
# absent values). OLD and NEW are two checkouts with build/keel made; rounds alternate which
# goes first. Prints each round and the medians.
# Usage: bench/amplification_ab.sh OLD_TREE NEW_TREE [ROUNDS]   (default 5)
set -euo pipefail
old=$(cd "$1" && pwd) new=$(cd "$2" && pwd) rounds=${3:-5}
cd "$(dirname "$0")/.."
work=$(mktemp -d) && trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$work"' EXIT
export KEEL_HOME=$work/home SOURCE_DATE_EPOCH=1700000000 KEEL_USER=ab
py=/usr/bin/python3
# 200,000 churn records as JSON Lines (the CSV's 3,333 rows over and over), one in 50 with a
# key left out and one in 40 with null, as a real export has.
$py - data/mlc_churn.csv "$work/churn.jsonl" "$work/v1.json" <<'PY'
import csv, json, sys
rows = list(csv.DictReader(open(sys.argv[1])))
num = lambda k: k.startswith("total") or k in ("account_length", "number_vmail_messages")
with open(sys.argv[2], "w") as f:
    for i in range(200000):
        o = {k: (float(v) if num(k) else v) for k, v in rows[i % len(rows)].items()}
        if i % 50 == 7: del o["total_eve_calls"]
        if i % 40 == 3: o["total_day_minutes"] = None
        f.write(json.dumps(o) + "\n")
r = {k: (float(v) if num(k) else v) for k, v in rows[0].items() if k != "churn"}
open(sys.argv[3], "w").write(json.dumps({"instances": [r]}))
PY
"$new/build/keel" data infer "$work/churn.jsonl" --target churn -o "$work/s.yaml" >/dev/null
"$new/build/keel" train data/mlc_churn.csv --target churn -o "$work/churn.keel" --epochs 3 -q \
    --no-registry >/dev/null
declare -A url
for b in old new; do
    t=$old; [ $b = new ] && t=$new
    "$t/build/keel" serve -p 0 --no-log --model "$work/churn.keel" >"$work/$b.out" 2>/dev/null &
    for _ in $(seq 100); do grep -q listening "$work/$b.out" && break; sleep 0.1; done
    url[$b]=$(grep -o 'http://[0-9.:]*' "$work/$b.out")
done
secs() { local t0 t1; t0=$(date +%s.%N); "$@" >/dev/null 2>&1; t1=$(date +%s.%N); echo "$t1 - $t0" | bc; }
for r in $(seq 1 "$rounds"); do
    order="old new"; [ $((r % 2)) = 0 ] && order="new old"
    for b in $order; do
        t=$old; [ $b = new ] && t=$new
        inf=$(secs taskset -c 0 "$t/build/keel" data infer "$work/churn.jsonl" --target churn -o "$work/i.yaml")
        val=$(secs taskset -c 0 "$t/build/keel" data validate "$work/churn.jsonl" --schema "$work/s.yaml" --json --no-quarantine)
        rps=$(SERVE_BODY=$work/v1.json wrk -t2 -c16 -d5s -s bench/serve_request.lua \
            "${url[$b]}/v1/models/churn:predict" | awk '/Requests\/sec/ {print $2}')
        echo "round $r $b infer_s $inf validate_s $val v1_rps $rps"
    done
done | tee "$work/rounds.txt"
for b in old new; do
    for m in infer_s validate_s v1_rps; do
        printf '%s %s median ' $b $m
        awk -v b=$b -v m=$m '$3 == b { for (i = 4; i < NF; i += 2) if ($i == m) print $(i + 1) }' \
            "$work/rounds.txt" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
    done
done
