#!/usr/bin/env bash
# Peak memory of `keel data validate` on a file of about 2 GB: the 1M-row benchmark file
# repeated until it passes 2 GB (made in bench/out, removed afterwards). Goal: < 256 MB.
# Usage: bench/peak_memory.sh KEEL SMALL.csv SCHEMA
set -euo pipefail
keel=$1 small=$2 schema=$3
big=bench/out/big_2gb.csv
head -n 1 "$small" > "$big"
while [ "$(stat -c %s "$big")" -lt 2147483648 ]; do tail -n +2 "$small" >> "$big"; done
size=$(stat -c %s "$big")
/usr/bin/time -f '%M %e' -o bench/out/peak.txt taskset -c 0 "$keel" data validate "$big" \
    --schema "$schema" --json --quarantine bench/out/big.quarantine.jsonl > bench/out/big.json
read -r kb secs < bench/out/peak.txt
records=$(python3 -c "import json; print(json.load(open('bench/out/big.json'))['records'])")
rm -f "$big"
printf '{"bytes": %s, "records": %s, "peak_rss_kb": %s, "seconds": %s}\n' "$size" "$records" "$kb" "$secs"
