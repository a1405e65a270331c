#!/usr/bin/env bash
# A/B of keel serve with and without bearer tokens (issue 20): does --require-token cost
# more than 5% of the serving rate?
#
# One binary (build/keel), one model (trained here from data/mlc_churn.csv, --no-registry),
# two servers running side by side for the whole benchmark, idle between their runs:
#   plain   keel serve --model churn.keel --no-log
#   tokens  keel serve --model churn.keel --no-log --require-token, with 100 live tokens in
#           its registry (so that the lookup searches a table, not one entry)
# and three loads, the single-row OIP v2 request of bench/serve_bench.sh
# (bench/serve_request.lua) under wrk -t1 -cAB_CONNS for AB_SERVE_SECONDS s:
#   plain          to plain, no Authorization header
#   plain+header   to plain, with the header tokens gets (plain ignores it): the same bytes
#   tokens         to tokens, with "Authorization: Bearer keel_..." (an invoke token for churn)
# so that tokens/plain is what a client sees, and tokens/plain+header the server's own cost
# of checking (the extra 90 bytes a request cost wrk and libmicrohttpd too). Each server runs
# one worker thread pinned to CPU 0 and wrk one thread pinned to CPU 1: on a small machine
# that gives each a core of its own, as a client on another machine would be. Each round runs
# the three loads in an order that rotates from round to round, so that drift of the machine
# falls on all alike. Besides req/s, the server's CPU time per request (user + system, from
# /proc, over the requests wrk counted). Before any timing: both servers answer 200 with the
# same bytes, and tokens answers 401 without the header; wrk must report no errors (non-2xx
# included). Prints each run and the medians; a ratio below 1 is slower (for CPU per request,
# above 1 is more). The machine may be shared: before each run the script waits (up to a
# minute) for it to be idle, and it redoes a run (at most 4 times) during which other
# processes used more than 5% of the machine (its CPU time from /proc/stat, less the
# server's and wrk's); the last try stands, marked.
#
# Usage: bench/serve_tokens.sh [ROUNDS]    (default 7)
# Environment: AB_SERVE_SECONDS (5), AB_CONNS (8).
set -euo pipefail
rounds=${1:-7}
cd "$(dirname "$0")/.."
secs=${AB_SERVE_SECONDS:-5} conns=${AB_CONNS:-8}
py=/usr/bin/python3 K=$PWD/build/keel
die() { echo "serve_tokens.sh: $*" >&2; exit 1; }
for tool in wrk curl taskset; do command -v "$tool" >/dev/null || die "$tool is not installed"; done
[ -x "$K" ] || die "build/keel is missing (make)"
mkdir -p bench/out
work=$(mktemp -d "$PWD/bench/out/tokens.XXXXXX")
export KEEL_HOME=$work/home KEEL_USER=bench SOURCE_DATE_EPOCH=1700000000
declare -A pid=() url=()
cleanup() {
    for n in "${!pid[@]}"; do kill -TERM "${pid[$n]}" 2>/dev/null || true; done
    for n in "${!pid[@]}"; do wait "${pid[$n]}" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT

"$K" train data/mlc_churn.csv --target churn --epochs 5 --no-registry --no-quarantine -q \
    -o "$work/churn.keel" >/dev/null || die "train failed"
for i in $(seq 1 99); do
    "$K" token create --model "m$i" --role invoke --json >/dev/null || die "token create failed"
done
token=$("$K" token create --model churn --role invoke --json |
    $py -c 'import json, sys; print(json.load(sys.stdin)["token"])') || die "token create failed"
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

start() { # NAME ARGS...: keel serve in the background; waits for its address
    local n=$1
    shift
    taskset -c 0 "$K" serve --model "$work/churn.keel" -p 0 --threads 1 --no-log "$@" \
        >"$work/$n.log" 2>&1 &
    pid[$n]=$!
    for _ in $(seq 1 200); do
        grep -q 'listening on http://' "$work/$n.log" && break
        kill -0 "${pid[$n]}" 2>/dev/null || die "$n exited at start: $(cat "$work/$n.log")"
        sleep 0.05
    done
    url[$n]=$(grep -o 'http://127\.0\.0\.1:[0-9]*' "$work/$n.log" | head -1)
    [ -n "${url[$n]}" ] || die "$n did not listen in 10 s: $(cat "$work/$n.log")"
}
start plain
start tokens --require-token
path=/v2/models/churn/infer
ask() { # NAME FILE [AUTH]: prints the HTTP status
    curl -s -o "$2" -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
        ${3:+-H "Authorization: $3"} --data-binary "@$body" "${url[$1]}$path"
}
[ "$(ask plain "$work/a_plain.json")" = 200 ] || die "plain did not answer 200"
[ "$(ask tokens "$work/a_tokens.json" "Bearer $token")" = 200 ] || die "tokens did not answer 200"
cmp -s "$work/a_plain.json" "$work/a_tokens.json" || die "the two servers answer differently"
[ "$(ask tokens "$work/a_401.json")" = 401 ] || die "tokens answered without a token"
echo "both answer the request alike; without the header the tokens server answers 401"

ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; } # user + system, in clock ticks
kids() { awk '{ print $16 + $17 }' "/proc/$$/stat"; }  # this shell's waited-for children's
busy() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9 }' /proc/stat; } # the machine's
hz=$(getconf CLK_TCK) ncpu=$(nproc)
idle_wait() { # until the machine was under 10% busy for half a second (a minute at most)
    local b0 b1
    for _ in $(seq 1 120); do
        b0=$(busy)
        sleep 0.5
        b1=$(busy)
        [ $(((b1 - b0) * 100 / (hz * ncpu / 2))) -lt 10 ] && return
    done
    return 0 # busy all along: measure anyway (the check after the run decides)
}
run_once() { # LOAD: sets rps, cpu (µs a request) and others (% of the machine)
    local server=${1%%+*} hdr="" w t0 t1 k0 k1 b0 b1
    [ "$1" != plain ] && hdr="Bearer $token"
    t0=$(ticks "${pid[$server]}") k0=$(kids) b0=$(busy)
    SERVE_BODY=$body SERVE_AUTH=$hdr taskset -c 1 wrk -t1 -c"$conns" -d"${2:-$secs}s" \
        -s bench/serve_request.lua "${url[$server]}$path" >"$work/wrk.out" 2>&1 ||
        die "wrk failed ($1): $(cat "$work/wrk.out")"
    t1=$(ticks "${pid[$server]}") k1=$(kids) b1=$(busy)
    read -r rps cpu < <($py -c 'import json, sys
o = json.loads(open(sys.argv[1]).read().split("SERVE_BENCH_JSON ", 1)[1].splitlines()[0])
bad = {k: v for k, v in o["errors"].items() if v}
if bad: sys.exit("errors %s" % bad)
print("%.1f %.3f" % (o["rps"], (int(sys.argv[2]) / int(sys.argv[3])) * 1e6 / o["requests"]))' \
        "$work/wrk.out" "$((t1 - t0))" "$hz") || die "wrk ($1): $(cat "$work/wrk.out")"
    others=$(((b1 - b0 - (t1 - t0) - (k1 - k0)) * 100 / (hz * ncpu * ${2:-$secs})))
}
run_load() { # LOAD: run_once on an idle machine, redone while others used more than 5% of it
    local try
    for try in 1 2 3 4 5; do
        idle_wait
        run_once "$@"
        [ "$others" -le 5 ] && { mark=""; return; }
    done
    mark="(others ${others}%)"
}
loads=(plain plain+header tokens)
for l in "${loads[@]}"; do run_once "$l" 1; done # warm-up
results=$work/results.txt
: >"$results"
for r in $(seq 1 "$rounds"); do
    line="round $r:"
    for k in 0 1 2; do
        l=${loads[$(((k + r - 1) % 3))]}
        run_load "$l"
        echo "$l $rps $cpu" >>"$results"
        line+="  $l $rps req/s ${cpu} us$mark"
    done
    echo "$line"
done
$py - "$results" <<'PY'
import statistics, sys
runs = {}
for line in open(sys.argv[1]):
    load, rps, cpu = line.split()
    runs.setdefault(load, []).append((float(rps), float(cpu)))
med = {l: (statistics.median(r for r, _ in v), statistics.median(c for _, c in v)) for l, v in runs.items()}
for l, v in runs.items():
    rs = [r for r, _ in v]
    print("%-13s median %8.0f req/s (spread %4.1f%%), %.2f us CPU a request" %
          (l, med[l][0], (max(rs) - min(rs)) / med[l][0] * 100, med[l][1]))
p, h, t = med["plain"], med["plain+header"], med["tokens"]
print("tokens/plain %.3f req/s, %.3f CPU a request; tokens/plain+header %.3f req/s, %.3f CPU"
      % (t[0] / p[0], t[1] / p[1], t[0] / h[0], t[1] / h[1]))
PY
