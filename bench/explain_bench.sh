#!/usr/bin/env bash
# Explanations per second through keel serve (issue 6: "per-request explanation through the
# server stays above 10,000 explanations per second"), measured like the serving benchmark
# (bench/serve_bench.sh): wrk on loopback against `keel serve --no-log`, every request the
# same single-row Open Inference Protocol v2 body (row 1 of data/mlc_churn.csv, one tensor
# per column; bench/serve_request.lua), here POSTed to /v2/models/churn/explain, against the
# model `keel train data/mlc_churn.csv --target churn` makes (bench/out/churn.keel, shared
# with serve_bench.sh). Default parameters: Integrated Gradients on the log-odds of "yes",
# adaptive quadrature, 4 reasons. The same body to /infer runs in the same rounds, for scale.
#
# Before timing, the answer is checked: one explanation whose attributions add up to
# prediction - baseline_prediction, whose prediction is the log-odds of /infer's probability.
# wrk must report no errors (non-2xx, socket errors, timeouts). Before each run the script
# waits for the machine to be idle (others share it); a run during which other processes
# used more than 5% of the machine, or during which it sat idle (under 20% busy: the server
# left requests waiting, see serve_bench.sh), is done again, at most twice more.
#
# Method: a sweep of connection counts (EXPLAIN_BENCH_CONNS, "16 64") for SWEEP seconds each,
# then ROUNDS rounds of DURATION seconds at the best count, explain and infer interleaved;
# medians of the rounds. Server CPU per request is read from /proc. With EXPLAIN_BENCH_PERF=1
# (or when the median is under 10,000/s and perf is installed) one more run is profiled with
# `perf record -g` and the top of `perf report` is printed: where the server's CPU goes.
#
# Usage: bench/explain_bench.sh [ROUNDS]        (default 3)
# Environment: KEEL=path (default build/keel, built with make), EXPLAIN_BENCH_DURATION (10),
#   EXPLAIN_BENCH_SWEEP (5), EXPLAIN_BENCH_CONNS ("16 64"), SERVE_THREADS (nproc),
#   WRK_THREADS (2), EXPLAIN_BENCH_QUIET_WAIT (30), EXPLAIN_BENCH_PERF (unset), EXPLAIN_PARAMS
#   (a JSON object sent as "parameters", e.g. '{"method":"shapley"}'; default none).
# Writes bench/out/explain_bench.jsonl (every run) and bench/out/explain_bench.json (summary).
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
duration=${EXPLAIN_BENCH_DURATION:-10}
sweep=${EXPLAIN_BENCH_SWEEP:-5}
quiet_wait=${EXPLAIN_BENCH_QUIET_WAIT:-30}
read -r -a conns <<<"${EXPLAIN_BENCH_CONNS:-16 64}"
threads=${SERVE_THREADS:-$(nproc)}
wrk_threads=${WRK_THREADS:-2}
py=/usr/bin/python3
out=bench/out
model=$out/churn.keel
body=$out/explain_v2.json
jsonl=$out/explain_bench.jsonl
mkdir -p "$out"

die() {
    echo "explain_bench.sh: $*" >&2
    exit 1
}
for tool in wrk curl /usr/bin/time; do
    command -v "$tool" >/dev/null || die "$tool is not installed (apt-get install $tool)"
done

work=$(mktemp -d "$PWD/$out/explain_bench.XXXXXX")
server_pid=
cleanup() {
    if [ -n "$server_pid" ]; then
        kill -TERM "$server_pid" 2>/dev/null || true
        for _ in $(seq 1 100); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- build, model, request ----
keel=${KEEL:-build/keel}
if [ -z "${KEEL-}" ]; then
    make -s build/keel || die "make build/keel failed"
fi
[ -x "$keel" ] || die "$keel is not an executable"
train() {
    echo "== train: $keel train data/mlc_churn.csv --target churn -o $model --no-registry -q"
    "$keel" train data/mlc_churn.csv --target churn -o "$model" --no-registry -q >"$work/train.out" ||
        die "keel train failed: $(cat "$work/train.out")"
}
[ -f "$model" ] && [ -z "${SERVE_BENCH_RETRAIN-}" ] || train
# Row 1 as one OIP v2 tensor per column, exactly as serve_bench.sh builds its request.
"$py" - data/mlc_churn.csv "$body" "${EXPLAIN_PARAMS-}" <<'PY'
import csv, json, sys
src, body, params = sys.argv[1:4]
with open(src, newline="") as f:
    r = csv.reader(f)
    header, row = next(r), next(r)
def typed(v):
    try:
        return float(v) if any(c in v for c in ".eE") else int(v)
    except ValueError:
        return v
tensors = []
for h, v in zip(header, row):
    if h == "churn":
        continue
    t = typed(v)
    dt = "BYTES" if isinstance(t, str) else ("FP64" if isinstance(t, float) else "INT64")
    tensors.append({"name": h, "shape": [1], "datatype": dt, "data": [t]})
req = {"inputs": tensors}
if params:
    req["parameters"] = json.loads(params)
with open(body, "w") as f:
    f.write(json.dumps(req, separators=(",", ":")))
PY

echo "== machine"
nproc
grep -m1 'model name' /proc/cpuinfo || true
uptime
wrk -v 2>&1 | head -1 || true

# ---- the server ----
cpu_of() { # PID: CPU ticks (user + system) of the process
    sed -E 's/^.*\) //' "/proc/$1/stat" | awk '{print $12 + $13}'
}
machine_ticks() { # task time, interrupt time, total (see serve_bench.sh)
    awk '/^cpu /{print $2 + $3 + $4 + $9, $7 + $8, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9}' /proc/stat
}
wait_quiet() { # up to quiet_wait seconds for the machine to be under 10% busy
    local m0 m1
    for _ in $(seq 1 $((quiet_wait * 2))); do
        m0=$(machine_ticks)
        sleep 0.5
        m1=$(machine_ticks)
        if awk -v a="$m0" -v b="$m1" 'BEGIN { split(a, x); split(b, y)
            exit !((y[1] + y[2] - x[1] - x[2]) < 0.1 * (y[3] - x[3])) }'; then
            return 0
        fi
    done
    echo "  (the machine stayed busy for ${quiet_wait} s; measuring anyway)"
}
mkdir -p "$work/home"
KEEL_HOME="$work/home" "$keel" serve --model "$model" -p 0 --threads "$threads" --no-log \
    >"$work/serve.log" 2>"$work/serve.err" &
server_pid=$!
for _ in $(seq 1 400); do
    grep -q "listening on http://" "$work/serve.log" 2>/dev/null && break
    kill -0 "$server_pid" 2>/dev/null || die "keel serve exited at start: $(cat "$work/serve.err")"
    sleep 0.05
done
url=$(grep -o 'http://[0-9.]*:[0-9]*' "$work/serve.log" | head -1)
[ -n "$url" ] || die "keel serve did not start in 20 s"

# ---- the answer, checked ----
post() { # PATH FILE: POSTs the body, insists on 200
    local code
    code=$(curl -s -o "$2" -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
        --data-binary "@$body" "$url$1")
    [ "$code" = 200 ] || die "$1 answered HTTP $code: $(head -c 400 "$2")"
}
post /v2/models/churn/explain "$out/explain_answer.json"
post /v2/models/churn/infer "$work/infer.json"
"$py" - "$out/explain_answer.json" "$work/infer.json" <<'PY' || die "the explanation does not check out"
import json, math, sys
x = json.load(open(sys.argv[1]))["explanations"]
p = json.load(open(sys.argv[2]))["outputs"][1]["data"][1]
assert len(x) == 1, "one explanation"
x = x[0]
gap = x["prediction"] - x["baseline_prediction"]
s = sum(x["attributions"].values())
print("  %s on %s of %s: prediction %.6f, baseline %.6f, sum of %d attributions %.6f, "
      "completeness error %.2g, %d steps, %d reasons" % (x["method"], x["scale"], x.get("class"),
      x["prediction"], x["baseline_prediction"], len(x["attributions"]), s,
      x["completeness_error"], x["steps"], len(x["reasons"])))
assert abs(s - gap) <= x["completeness_error"] + 1e-9 + 1e-3 * abs(gap), "attributions add up"
if x["scale"] == "log_odds" and x.get("class") == "yes":
    q = 1 / (1 + math.exp(-x["prediction"]))
    assert abs(q - p) < 1e-4, "prediction %g is not infer's %g" % (q, p)
    print("  the same probability as /infer: %.6f" % p)
PY

# ---- runs ----
: >"$jsonl"
# run_wrk WHAT(explain|infer) CONNS SECONDS PHASE ROUND: one timed run, one JSON line
run_wrk() {
    local what=$1 c=$2 secs=$3 phase=$4 round=$5 t0 t1 m0 m1 w line attempt
    for attempt in 1 2 3; do
        wait_quiet
        t0=$(cpu_of "$server_pid")
        m0=$(machine_ticks)
        w=$(SERVE_BODY=$body /usr/bin/time -f 'WRK_CPU %U %S' -o "$work/wrk.time" \
            wrk -t"$wrk_threads" -c"$c" -d"${secs}s" -s bench/serve_request.lua \
            "$url/v2/models/churn/$what" 2>&1) || die "wrk failed: $w"
        m1=$(machine_ticks)
        t1=$(cpu_of "$server_pid")
        line=$(grep '^SERVE_BENCH_JSON ' <<<"$w" | sed 's/^SERVE_BENCH_JSON //') ||
            die "no result from wrk: $w"
        line=$("$py" - "$line" "$what" "$c" "$phase" "$round" "$((t1 - t0))" \
            "$(getconf CLK_TCK)" "$m0" "$m1" "$attempt" "$(grep '^WRK_CPU' "$work/wrk.time")" <<'PY'
import json, sys
o = json.loads(sys.argv[1])
what, c, phase, rnd, ticks, hz, m0, m1, attempt, wrk_cpu = sys.argv[2:12]
hz = int(hz)
x0, x1 = [[int(v) for v in m.split()] for m in (m0, m1)]
task_s, irq_s, total_s = [(b - a) / hz for a, b in zip(x0, x1)]
server_s = int(ticks) / hz
wrk_s = sum(float(x) for x in wrk_cpu.split()[1:3])
# Others: CPU time of processes that are neither the server nor wrk (interrupt work done in
# their context counts in their own time too, as in serve_bench.sh).
others = max(task_s + irq_s - server_s - wrk_s, 0.0)
o.update(endpoint=what, connections=int(c), phase=phase, round=int(rnd), attempt=int(attempt),
         server_cpu_us_per_request=server_s * 1e6 / max(o["requests"], 1),
         wrk_cpu_us_per_request=wrk_s * 1e6 / max(o["requests"], 1),
         machine_busy=(task_s + irq_s) / max(total_s, 1e-9),
         others_share=others / max(total_s, 1e-9))
if int(attempt) < 3 and (o["machine_busy"] < 0.2 or o["others_share"] > 0.05):
    o["phase"] = phase + "_disturbed"  # shared with others, or stalled: not a measurement
print(json.dumps(o))
PY
        )
        echo "$line" >>"$jsonl"
        "$py" -c 'import json, sys
o = json.loads(sys.argv[1])
print("  %-8s c%-3d %9.0f req/s  p50 %6d  p99 %6d us  non-2xx %d  CPU us/req: server %6.1f wrk %5.1f  busy %3.0f%%, others %4.1f%%%s" % (
    o["endpoint"], o["connections"], o["rps"], o["latency_us"]["p50"], o["latency_us"]["p99"],
    o["errors"]["status"], o["server_cpu_us_per_request"], o["wrk_cpu_us_per_request"],
    100 * o["machine_busy"], 100 * o["others_share"],
    "  DISTURBED, again" if o["phase"].endswith("_disturbed") else ""))' "$line"
        local bad
        bad=$("$py" -c 'import json,sys; e = json.loads(sys.argv[1])["errors"]; print(sum(e.values()))' "$line")
        [ "$bad" = 0 ] || die "wrk saw errors (non-2xx statuses or socket errors): $line"
        [[ $("$py" -c 'import json,sys; print(json.loads(sys.argv[1])["phase"])' "$line") == *_disturbed ]] || break
    done
}

echo "== sweep: connections ${conns[*]}, ${sweep} s each, server $threads threads, wrk -t$wrk_threads"
for c in "${conns[@]}"; do run_wrk explain "$c" "$sweep" sweep 0; done
best=$("$py" - "$jsonl" <<'PY'
import json, sys
runs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
print(max((o for o in runs if o["phase"] == "sweep"), key=lambda o: o["rps"])["connections"])
PY
)
echo "== $rounds rounds of ${duration} s at c$best, explain and infer interleaved"
for r in $(seq 1 "$rounds"); do
    run_wrk explain "$best" "$duration" main "$r"
    run_wrk infer "$best" "$duration" main "$r"
done

echo "== summary (medians over $rounds rounds)"
"$py" - "$jsonl" "$out/explain_bench.json" "$threads" "$wrk_threads" "${EXPLAIN_PARAMS-}" <<'PY'
import json, statistics, sys
jsonl, out_f, threads, wrk_threads, params = sys.argv[1:6]
runs = [json.loads(l) for l in open(jsonl) if l.strip()]
summary = {}
for what in ("explain", "infer"):
    rs = [o for o in runs if o["phase"] == "main" and o["endpoint"] == what]
    if not rs:
        continue
    med = lambda k: statistics.median(k(o) for o in rs)
    summary[what] = {"connections": rs[0]["connections"], "runs": len(rs),
                     "rps": med(lambda o: o["rps"]), "rps_each": [round(o["rps"], 1) for o in rs],
                     "p50_us": med(lambda o: o["latency_us"]["p50"]),
                     "p99_us": med(lambda o: o["latency_us"]["p99"]),
                     "server_cpu_us_per_request": med(lambda o: o["server_cpu_us_per_request"]),
                     "wrk_cpu_us_per_request": med(lambda o: o["wrk_cpu_us_per_request"]),
                     "others_share_each": [round(o["others_share"], 3) for o in rs],
                     "machine_busy": med(lambda o: o["machine_busy"])}
    s = summary[what]
    print("%-8s c%-3d %9.0f req/s (runs %s)  p50 %5.0f us  p99 %5.0f us  server CPU %6.1f us/req" % (
        what, s["connections"], s["rps"], s["rps_each"], s["p50_us"], s["p99_us"],
        s["server_cpu_us_per_request"]))
e = summary["explain"]["rps"]
print("explanations per second: %.0f (goal > 10,000: %s)" % (e, "met" if e > 10000 else "NOT met"))
with open(out_f, "w") as f:
    json.dump({"endpoints": summary, "goal_explanations_per_second": 10000,
               "met": e > 10000, "server_threads": int(threads), "wrk_threads": int(wrk_threads),
               "parameters": json.loads(params) if params else None,
               "sweep": [o for o in runs if o["phase"] == "sweep"]}, f, indent=1)
    f.write("\n")
PY

# ---- where the server's CPU goes ----
below=$("$py" -c 'import json; print(int(json.load(open("bench/out/explain_bench.json"))["endpoints"]["explain"]["rps"] < 10000))')
if { [ -n "${EXPLAIN_BENCH_PERF-}" ] || [ "$below" = 1 ]; } && command -v perf >/dev/null; then
    echo "== perf: the server under wrk -c$best for 5 s"
    perf record -g -o "$work/perf.data" -p "$server_pid" -- sleep 6 >/dev/null 2>&1 &
    perf_pid=$!
    sleep 0.5
    SERVE_BODY=$body wrk -t"$wrk_threads" -c"$best" -d5s -s bench/serve_request.lua \
        "$url/v2/models/churn/explain" >/dev/null 2>&1 || true
    wait "$perf_pid" || true
    perf report -i "$work/perf.data" --no-children --percent-limit 1.5 --stdio 2>/dev/null |
        grep -E '^ +[0-9.]+%' | head -30 || echo "  (perf report failed)"
fi
