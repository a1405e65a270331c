# Amplification: small inputs that would make keel hold far more memory than their size.
# JSON Lines records that each bring new keys, or leave out most of a wide schema's keys, and
# request bodies of one wide row and thousands of {} rows. Each is refused with a message
# that says which limit, at a peak memory that is a small multiple of the input (before the
# fix: an 85 KB file took 3.2 GB to train, a 1.1 MB one of 2,000 numeric columns over 5 GB,
# a 52 KB request 150 MB of the server's memory),
# and normal inputs are still read. Thresholds are generous: a tenth of the old peaks.
. "$(dirname "$0")/lib.sh"
cd "$T"
py=/usr/bin/python3
# Under AddressSanitizer (the sanitizer pass) a cap on virtual memory stops the program before
# main (its shadow memory is a reservation of terabytes), and resident memory is not the
# program's own: there the errors are checked, the peaks are not.
sanitized=0
if ldd "$KEEL" 2>/dev/null | grep -q libasan; then sanitized=1; fi
export SANITIZED=$sanitized

# peak_kb CMD...: runs CMD (output in $T/out, $T/err, status in $status) and sets $peak to
# its peak resident memory in KB. Virtual memory is capped at 3 GB, so a binary that
# amplifies fails here instead of pressing on the machine.
peak_kb() {
    peak=$($py - "$@" <<'PY'
import resource, subprocess, sys
lim = 3 << 30
import os
def cap():
    resource.setrlimit(resource.RLIMIT_AS, (lim, lim))
uncapped = os.environ.get("SANITIZED") == "1"
with open("out", "wb") as o, open("err", "wb") as e:
    rc = subprocess.call(sys.argv[1:], stdout=o, stderr=e, preexec_fn=None if uncapped else cap)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, rc)
PY
)
    status=${peak#* }; peak=${peak% *}
}
# below NAME GOT_KB MAX_KB
below() {
    if [ "$sanitized" = 1 ]; then ok "$1 (sanitizer build: the peak is not compared)"; return; fi
    if [ "$2" -lt "$3" ]; then ok "$1 (${2} KB)"; else fail "$1" "peak ${2} KB, wanted under ${3} KB"; fi
}

$py - <<'PY'
import json
# 1,000 records, each with five keys no other record has: 85 KB, 5,002 keys.
with open("wide.jsonl", "w") as f:
    for i in range(1000):
        o = {"y": i % 2, "x": i * 0.5}
        o.update({"k%d_%d" % (i, k): k for k in range(5)})
        f.write(json.dumps(o) + "\n")
# One record with 4,000 keys, then 30,000 records with the target only: 300 KB.
with open("sparse.jsonl", "w") as f:
    f.write(json.dumps({"y": 0, "x": 1, **{"c%d" % k: k for k in range(4000)}}) + "\n")
    for i in range(30000):
        f.write('{"y":%d}\n' % (i % 2))
# Ordinary records: 2,000 of 11 keys, a few left out.
with open("normal.jsonl", "w") as f:
    for i in range(2000):
        o = {"y": "yes" if i % 3 else "no", **{"f%d" % k: (i * 7 + k) % 13 for k in range(10)}}
        if i % 50 == 1: del o["f3"]
        f.write(json.dumps(o) + "\n")
# 60 records of 2,000 numeric keys, every one given: 1.1 MB (as wide as a CSV could be).
with open("dense.jsonl", "w") as f:
    for i in range(60):
        o = {"y": i % 2, **{"c%d" % k: (i * k) % 7 for k in range(2000)}}
        f.write(json.dumps(o, separators=(",", ":")) + "\n")
PY

# ---- JSON Lines: inference caps the columns, the reader caps the absent values ----
peak_kb "$KEEL" train wide.jsonl --target y --epochs 1 --no-registry -q -o wide.keel
equal "jsonl new keys: train refused" "$status" 1
contains "jsonl new keys: the error names the line, the key and the limit" "$T/err" \
    "wide.jsonl:819: the key 'k818_4' would be column 4097; keel infers at most 4096 columns"
below "jsonl new keys: peak memory" "$peak" 300000
peak_kb "$KEEL" data infer wide.jsonl --target y --max-columns 6000 -o wide.yaml
equal "jsonl new keys: --max-columns allows more" "$status" 0
peak_kb "$KEEL" train sparse.jsonl --target y --epochs 1 --no-registry -q -o sparse.keel
equal "jsonl absent keys: train refused" "$status" 1
contains "jsonl absent keys: the error says what was left out" "$T/err" \
    "keel holds a value for each, and reads at most 1048576 plus 4 per byte of JSON Lines"
below "jsonl absent keys: peak memory" "$peak" 300000
# The per-column embedding grows with the square of the columns (OLD: over 5 GB here).
peak_kb "$KEEL" train dense.jsonl --target y --epochs 1 --no-registry -q -o dense.keel
equal "2,000 numeric columns: train refused" "$status" 1
contains "2,000 numeric columns: the error gives the way out" "$T/err" \
    "keel builds at most 64 million: --feature-dim 0 feeds the encodings to the first layer"
below "2,000 numeric columns: peak memory" "$peak" 300000
peak_kb "$KEEL" train dense.jsonl --target y --epochs 1 --no-registry -q -o dense.keel \
    --feature-dim 0
equal "2,000 numeric columns, --feature-dim 0: trains" "$status" 0
below "2,000 numeric columns, --feature-dim 0: peak memory" "$peak" 600000
peak_kb "$KEEL" train normal.jsonl --target y --epochs 2 --no-registry -q -o normal.keel
equal "jsonl normal: trains" "$status" 0
below "jsonl normal: peak memory" "$peak" 300000

# ---- keel serve: rows x columns bounded by the body ----
head -n 401 "$ROOT/data/mlc_churn.csv" > churn.csv
expect "serve: a model" 0 "$KEEL" train churn.csv --target churn -o churn.keel --epochs 1 -q \
    --no-registry
start_server --model churn.keel --no-log --threads 1
[ -n "$URL" ] && ok "serve: starts" || fail "serve: starts" "$(cat "$T/serve.err")"
hwm() { awk '/^VmHWM/ {print $2}' "/proc/$pid/status"; }
$py - <<'PY'
import json
wide = {"k%d" % i: 1 for i in range(4095)}
rows = json.dumps({"instances": [wide] + [{}] * 4096}, separators=(",", ":"))
open("wide_v1.json", "w").write(rows)
open("wide_mlflow.json", "w").write(rows.replace('"instances"', '"dataframe_records"'))
open("wide_csv.csv", "w").write(",".join(wide) + "\n" + "1\n" * 4096)
cols = ["state", "account_length", "area_code", "international_plan", "voice_mail_plan",
        "number_vmail_messages", "total_day_minutes", "total_day_calls", "total_day_charge"]
open("many_v1.json", "w").write(json.dumps({"instances": [{c: 1 for c in cols}] * 3000}))
PY
before=$(hwm)
post() { code=$(curl -s -o "$T/body" -w '%{http_code}' -H "Content-Type: $3" --data-binary "@$2" "$URL$1"); }
post /v1/models/churn:predict wide_v1.json application/json
equal "v1 wide row and {} rows: 400" "$code" 400
contains "v1 wide row and {} rows: the error says why" "$T/body" \
    "values (rows x columns) in a body of 52145 bytes; this one has 4097 rows and 4095 columns"
post /invocations wide_mlflow.json application/json
equal "mlflow records: 400" "$code" 400
post /invocations wide_csv.csv text/csv
equal "mlflow csv, wide header and short lines: 400" "$code" 400
contains "mlflow csv: the error says why" "$T/body" "values (rows x columns) in a body of"
after=$(hwm)
below "serve: growth of peak memory over the three requests" "$((after - before))" 15000
post /v1/models/churn:predict many_v1.json application/json
equal "v1 3,000 ordinary rows: still answered" "$code" 200
equal "v1 3,000 ordinary rows: 3,000 predictions" "$($py -c "import json; print(len(json.load(open('$T/body'))['predictions']))")" 3000
kill "$pid"; wait "$pid" 2>/dev/null
finish
