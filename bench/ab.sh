#!/usr/bin/env bash
# A/B benchmark of two keel builds in one run: "nothing got slower" for a refactoring.
#
# OLD_TREE and NEW_TREE are two checkouts with their builds done (build/keel and
# build/api_latency; made here with make when missing). Every round measures, for each build,
# in an order that alternates from round to round (OLD first in odd rounds, NEW first in even
# ones) so that drift of the machine falls on both alike:
#   api      build/api_latency on one churn model (trained once by NEW's keel, SOURCE_DATE_EPOCH
#            fixed; the same .keel for both): keel_model_predict_row, keel_model_predict_fields
#            and keel_explain (IG), medians in ns, pinned to CPU 0 as data_bench.py pins keel;
#   data     keel data validate (--json, a quarantine file, no --sha256: as bench/data_bench.py)
#            and keel data profile (--no-quarantine, JSON and HTML) of a file of AB_ROWS rows
#            made once by bench/gen_data.py, schema from NEW's `keel data infer`, --no-registry,
#            pinned to CPU 0; wall seconds of the whole process, start-up included;
#   train    keel train data/mlc_churn.csv --threads 1 --epochs AB_EPOCHS --patience 1000, pinned
#            to CPU 0: wall seconds, and train rows x epochs / s from keel's own training time;
#            the two builds' .keel files are compared byte for byte (SOURCE_DATE_EPOCH is set);
#   serve    keel serve --no-log (each build's own binary, same model, -p 0, same --threads) and
#            the trivial server (bench/trivial_server.c of NEW_TREE, answering keel's answer as
#            a fixed body), each under wrk -cAB_CONNS for AB_SERVE_SECONDS with the request of
#            bench/serve_bench.sh (bench/serve_request.lua): keel A, trivial, keel B. Req/s, and
#            each keel's rate over the trivial server's rate of the same round.
# The servers run for the whole benchmark (idle between their runs); before any timing each
# answers the request once, and OLD's and NEW's answers must be byte-identical.
#
# Reading the table: median over the rounds of OLD and NEW, NEW/OLD, and the spread of each
# side ((max - min) / median over the rounds). For times (ns, s) a ratio above 1 is slower, for
# rates (rows/s, req/s) a ratio below 1 is slower. The verdict says "within noise" when the
# ratio is off 1 by no more than the larger spread, else which way it went; one round has no
# spread. The environment's OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE are left as they are (keel does
# not use OpenBLAS; they are printed). Run it on an otherwise idle machine.
#
# Usage: bench/ab.sh OLD_TREE NEW_TREE [ROUNDS]     (default 5 rounds)
# Environment: AB_ROWS (1000000), AB_EPOCHS (20), AB_SERVE_SECONDS (5), AB_CONNS (16),
#   AB_SERVE_THREADS (nproc), AB_WRK_THREADS (2), AB_API_RUNS (3), AB_API_CALLS (100000).
# Writes bench/out/ab.jsonl (every measurement) and bench/out/ab.json (the summary); scratch
# files (models, KEEL_HOME, logs) go in bench/out/ab.XXXXXX, removed at the end.
set -euo pipefail
if [ $# -lt 2 ] || [ $# -gt 3 ]; then sed -n '/^# Usage/,/^# Writes/p' "$0" >&2; exit 2; fi
old=$(cd "$1" && pwd) new=$(cd "$2" && pwd)
rounds=${3:-5}
cd "$(dirname "$0")/.."
rows=${AB_ROWS:-1000000} epochs=${AB_EPOCHS:-20} secs=${AB_SERVE_SECONDS:-5}
conns=${AB_CONNS:-16} sthreads=${AB_SERVE_THREADS:-$(nproc)} wthreads=${AB_WRK_THREADS:-2}
api_runs=${AB_API_RUNS:-3} api_calls=${AB_API_CALLS:-100000}
py=/usr/bin/python3 out=bench/out
die() { echo "ab.sh: $*" >&2; exit 1; }
for tool in wrk curl taskset; do
    command -v "$tool" >/dev/null || die "$tool is not installed (scripts/deps.sh bench)"
done
mkdir -p "$out"
work=$(mktemp -d "$PWD/$out/ab.XXXXXX")
# One identity for both builds: the model records who trained it (KEEL_USER, else the login
# name since issue 19; 4fe6e37 took USER), and the byte comparison is about the model.
export KEEL_HOME=$work/home SOURCE_DATE_EPOCH=1700000000 KEEL_USER=ab
declare -A pid=() url=()
cleanup() {
    local n
    for n in "${!pid[@]}"; do kill -TERM "${pid[$n]}" 2>/dev/null || true; done
    for n in "${!pid[@]}"; do
        for _ in $(seq 1 50); do kill -0 "${pid[$n]}" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "${pid[$n]}" 2>/dev/null || true
        wait "${pid[$n]}" 2>/dev/null || true
    done
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- builds, the probe of keel's kernels, the trivial server ----
declare -A tree=([old]=$old [new]=$new)
for b in old new; do
    t=${tree[$b]}
    if [ ! -x "$t/build/keel" ] || [ ! -x "$t/build/api_latency" ]; then
        echo "== make -C $t build/keel build/api_latency"
        make -s -j2 -C "$t" build/keel build/api_latency || die "building $t failed"
    fi
    # keel_tensor_backend() (src/tensor/tensor.h) names the GEMM and kernels that run; no
    # command prints it, so a three-line program linked against the build's libkeel.a does.
    printf '#include <stdio.h>\nconst char *keel_tensor_backend(void);\nint main(void) { puts(keel_tensor_backend()); return 0; }\n' |
        cc -x c - -x none "$t/build/libkeel.a" -lsodium -ldnnl -lgomp -lm -lpthread -o "$work/backend_$b" ||
        die "cannot link a probe against $t/build/libkeel.a"
done
build_cmd=$(sed -nE '1,20{s@^ \* Build: ((cc|gcc|clang) .*-o) build/trivial_server$@\1@p}' \
    "$new/bench/trivial_server.c" | head -1)
[ -n "$build_cmd" ] || die "no 'Build:' line at the top of $new/bench/trivial_server.c"
(cd "$new" && eval "$build_cmd $work/trivial_server") || die "building the trivial server failed"

echo "== machine"
echo "$(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'), Linux $(uname -r)"
uptime
echo "kernels: OLD $("$work/backend_old"); NEW $("$work/backend_new")"
echo "OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE-<unset>} OPENBLAS_L2_SIZE=${OPENBLAS_L2_SIZE-<unset>}" \
    "(left as the environment set them; keel does not use OpenBLAS)"
echo "OLD $old $(git -C "$old" rev-parse --short HEAD 2>/dev/null || echo '?')," \
    "NEW $new $(git -C "$new" rev-parse --short HEAD 2>/dev/null || echo '?')" \
    "(uncommitted changes count: whatever each build/ holds is measured)"

# ---- inputs: the churn model, the big file and its schema, the request ----
K_new=$new/build/keel
model=$work/churn.keel
"$K_new" train data/mlc_churn.csv --target churn -o "$model" --no-registry --no-quarantine -q \
    >/dev/null || die "training the churn model failed"
bigcsv=$out/ab_churn_$rows.csv
[ "$rows" = 1000000 ] && bigcsv=$out/churn_1m.csv # the file bench/run.sh makes, same generator
[ -f "$bigcsv" ] || { echo "== gen_data.py $bigcsv $rows"; $py bench/gen_data.py "$bigcsv" "$rows"; }
"$K_new" data infer "$bigcsv" --target churn -o "$work/schema.yaml" >/dev/null
body=$work/serve_v2.json
$py - data/mlc_churn.csv "$body" <<'PY'
import csv, json, sys  # row 1 as one OIP v2 tensor per column, as bench/serve_bench.sh sends it
with open(sys.argv[1], newline="") as f:
    r = csv.reader(f)
    header, row = next(r), next(r)
def tensor(name, v):
    try:
        t = float(v) if any(c in v for c in ".eE") else int(v)
    except ValueError:
        t = v
    dt = "BYTES" if isinstance(t, str) else "FP64" if isinstance(t, float) else "INT64"
    return {"name": name, "shape": [1], "datatype": dt, "data": [t]}
with open(sys.argv[2], "w") as f:
    json.dump({"inputs": [tensor(h, v) for h, v in zip(header, row) if h != "churn"]}, f,
              separators=(",", ":"))
PY

# ---- servers ----
start() { # NAME COMMAND...: runs it in the background, waits for "listening on http://..."
    local n=$1
    shift
    "$@" >"$work/$n.log" 2>&1 &
    pid[$n]=$!
    for _ in $(seq 1 200); do
        grep -q 'listening on http://' "$work/$n.log" && break
        kill -0 "${pid[$n]}" 2>/dev/null || die "$n exited at start: $(cat "$work/$n.log")"
        sleep 0.05
    done
    url[$n]=$(grep -o 'http://127\.0\.0\.1:[0-9]*' "$work/$n.log" | head -1)
    [ -n "${url[$n]}" ] || die "$n did not listen on 127.0.0.1 in 10 s: $(cat "$work/$n.log")"
}
path=/v2/models/churn/infer
ask() { # NAME FILE
    local code
    code=$(curl -s -o "$2" -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
        --data-binary "@$body" "${url[$1]}$path")
    [ "$code" = 200 ] || die "$1 answered HTTP $code: $(head -c 300 "$2")"
}
for b in old new; do
    start "keel_$b" "${tree[$b]}/build/keel" serve --model "$model" -p 0 --threads "$sthreads" --no-log
    ask "keel_$b" "$work/answer_$b.json"
done
cmp -s "$work/answer_old.json" "$work/answer_new.json" || die "OLD and NEW serve different answers"
echo "serve: OLD and NEW answer the request byte for byte alike"
start trivial "$work/trivial_server" -p 0 --threads "$sthreads" --body "$work/answer_new.json"
ask trivial "$work/answer_trivial.json"
cmp -s "$work/answer_trivial.json" "$work/answer_new.json" || die "the trivial server's answer is not keel's"

# ---- measurements: each appends one JSON line per figure to $jsonl ----
jsonl=$out/ab.jsonl
: >"$jsonl"
rec() { # ROUND BUILD MEASURE VALUE
    printf '{"round":%s,"build":"%s","measure":"%s","value":%s}\n' "$@" >>"$jsonl"
}
now() { echo "$EPOCHREALTIME"; }
since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.4f", b - a }'; }
api() { # ROUND BUILD
    local line
    taskset -c 0 "${tree[$2]}/build/api_latency" "$model" data/mlc_churn.csv "$api_runs" \
        "$api_calls" >"$work/api.out" || die "api_latency ($2) failed"
    for m in row fields explain_ig; do
        line=$(grep "\"api_predict_${m}_b1\"\|\"api_${m}_b1\"" "$work/api.out" | head -1)
        rec "$1" "$2" "api_${m}_ns" "$(sed -E 's/.*"value":([0-9.]+).*/\1/' <<<"$line")"
    done
}
dataset() { # ROUND BUILD
    local t0 K=${tree[$2]}/build/keel
    t0=$(now)
    taskset -c 0 "$K" data validate "$bigcsv" --schema "$work/schema.yaml" --json --no-registry \
        --quarantine "$work/q.jsonl" >/dev/null || die "validate ($2) failed"
    rec "$1" "$2" validate_s "$(since "$t0")"
    t0=$(now)
    taskset -c 0 "$K" data profile "$bigcsv" --schema "$work/schema.yaml" --no-quarantine \
        --no-registry -o "$work/profile.json" --html "$work/profile.html" >/dev/null ||
        die "profile ($2) failed"
    rec "$1" "$2" profile_s "$(since "$t0")"
}
train() { # ROUND BUILD
    local t0 s
    t0=$(now)
    taskset -c 0 "${tree[$2]}/build/keel" train data/mlc_churn.csv --target churn --threads 1 \
        --epochs "$epochs" --patience 1000 --no-registry --no-quarantine -q --json \
        -o "$work/train_$2.keel" >"$work/train_$2.json" || die "train ($2) failed"
    rec "$1" "$2" train_wall_s "$(since "$t0")"
    s=$($py -c 'import json, sys; o = json.load(open(sys.argv[1]))
assert o["epochs"] == int(sys.argv[2]), "ran %d epochs" % o["epochs"]
print(o["train_rows"] * o["epochs"] / o["seconds"])' "$work/train_$2.json" "$epochs") ||
        die "train ($2): unexpected summary $(cat "$work/train_$2.json")"
    rec "$1" "$2" train_rows_epochs_per_s "$s"
}
wrk_rps() { # NAME: prints req/s, insists on no errors
    local w
    w=$(SERVE_BODY=$body wrk -t"$wthreads" -c"$conns" -d"${secs}s" -s bench/serve_request.lua \
        "${url[$1]}$path" 2>&1) || die "wrk failed against $1: $w"
    $py -c 'import json, sys
o = json.loads(sys.argv[1].split("SERVE_BENCH_JSON ", 1)[1].splitlines()[0])
bad = {k: v for k, v in o["errors"].items() if v}
sys.exit("errors %s" % bad) if bad else print(o["rps"])' "$w" || die "wrk against $1: $w"
}

echo "== warm-up: 1 s of wrk against each server"
for n in keel_old trivial keel_new; do SERVE_BODY=$body wrk -t1 -c"$conns" -d1s \
    -s bench/serve_request.lua "${url[$n]}$path" >/dev/null; done
same_train=yes
for r in $(seq 1 "$rounds"); do
    order=(old new)
    [ $((r % 2)) = 0 ] && order=(new old)
    echo "== round $r/$rounds: ${order[0]^^} first"
    for b in "${order[@]}"; do api "$r" "$b"; done
    for b in "${order[@]}"; do dataset "$r" "$b"; done
    for b in "${order[@]}"; do train "$r" "$b"; done
    cmp -s "$work/train_old.keel" "$work/train_new.keel" || same_train=no
    rec "$r" "${order[0]}" serve_rps "$(wrk_rps "keel_${order[0]}")"
    rec "$r" trivial serve_rps "$(wrk_rps trivial)"
    rec "$r" "${order[1]}" serve_rps "$(wrk_rps "keel_${order[1]}")"
done
echo "train: OLD's and NEW's models byte-identical in every round: $same_train"
uptime

# ---- summary ----
$py - "$jsonl" "$out/ab.json" "$same_train" "$("$work/backend_old")" "$("$work/backend_new")" \
    "$old" "$new" "$rows" "$epochs" "$secs" "$conns" "$sthreads" "$wthreads" <<'PY'
import json, platform, statistics as st, sys
jsonl, out_f, same, be_old, be_new, old, new = sys.argv[1:8]
rows, epochs, secs, conns, sthreads, wthreads = map(int, sys.argv[8:14])
runs = [json.loads(l) for l in open(jsonl) if l.strip()]
def vals(build, m, r=None):
    return [o["value"] for o in runs if o["build"] == build and o["measure"] == m
            and (r is None or o["round"] == r)]
rounds = sorted({o["round"] for o in runs})
for b in ("old", "new"):  # keel / trivial within each round
    for r in rounds:
        runs.append({"round": r, "build": b, "measure": "serve_keel_vs_trivial",
                     "value": vals(b, "serve_rps", r)[0] / vals("trivial", "serve_rps", r)[0]})
units = {"api_row_ns": "ns", "api_fields_ns": "ns", "api_explain_ig_ns": "ns",
         "validate_s": "s", "profile_s": "s", "train_wall_s": "s",
         "train_rows_epochs_per_s": "rows/s", "serve_rps": "req/s", "serve_keel_vs_trivial": "ratio"}
spread = lambda xs: (max(xs) - min(xs)) / st.median(xs) if len(xs) > 1 else None
table = []
print("%-24s %-6s %12s %12s %9s %8s %8s  %s" % ("measure", "unit", "OLD median", "NEW median",
      "NEW/OLD", "OLD spr", "NEW spr", "verdict"))
for m, u in units.items():
    a, b = vals("old", m), vals("new", m)
    ma, mb = st.median(a), st.median(b)
    ratio, sa, sb = mb / ma, spread(a), spread(b)
    worse = ratio > 1 if u in ("ns", "s") else ratio < 1
    if sa is None:
        verdict = "n/a (1 round)"
    elif abs(ratio - 1) <= max(sa, sb):
        verdict = "within noise"
    else:
        verdict = "NEW slower" if worse else "NEW faster"
    table.append({"measure": m, "unit": u, "old_median": ma, "new_median": mb, "new_vs_old": ratio,
                  "old_spread": sa, "new_spread": sb, "verdict": verdict, "old": a, "new": b})
    fmt = lambda x: "%12.0f" % x if x >= 1000 else "%12.4g" % x
    print("%-24s %-6s %s %s %9.4f %8s %8s  %s" % (m, u, fmt(ma), fmt(mb), ratio,
          "-" if sa is None else "%.1f%%" % (100 * sa), "-" if sb is None else "%.1f%%" % (100 * sb),
          verdict))
t = vals("trivial", "serve_rps")
print("trivial server: median %.0f req/s (%s); keel/trivial OLD %.1f%%, NEW %.1f%%" % (
    st.median(t), ", ".join("%.0f" % x for x in t),
    100 * st.median(vals("old", "serve_keel_vs_trivial")),
    100 * st.median(vals("new", "serve_keel_vs_trivial"))))
print("(spr: (max - min) / median over the rounds; times: NEW/OLD > 1 is slower; rates: < 1 is)")
with open(out_f, "w") as f:
    json.dump({"old_tree": old, "new_tree": new, "rounds": len(rounds), "table": table,
               "trivial_rps": t, "train_models_identical": same == "yes",
               "kernels": {"old": be_old, "new": be_new}, "kernel": platform.release(),
               "settings": {"rows": rows, "epochs": epochs, "serve_seconds": secs,
                            "connections": conns, "server_threads": sthreads,
                            "wrk_threads": wthreads}}, f, indent=1)
    f.write("\n")
PY
echo "wrote $out/ab.jsonl and $out/ab.json"
