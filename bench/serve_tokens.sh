#!/usr/bin/env bash
# A/B of keel serve with and without bearer tokens (issue 20): does --require-token cost
# more than 5% of the serving rate?
#
# One binary (build/keel), one model (trained here from data/mlc_churn.csv, --no-registry),
# two servers running side by side for the whole benchmark, idle between their runs:
#   plain   keel serve --model churn.keel --no-log
#   tokens  keel serve --model churn.keel --no-log --require-token, with 100 live tokens in
#           its registry (so that the lookup searches a table, not one entry), the request
#           carrying one of them (an invoke token for churn) as "Authorization: Bearer ..."
# Each round runs wrk (-tAB_WRK_THREADS -cAB_CONNS, AB_SERVE_SECONDS s, the single-row OIP v2
# request of bench/serve_bench.sh, bench/serve_request.lua) against both, in an order that
# alternates from round to round so that drift of the machine falls on both alike. Before any
# timing: both answer 200 with the same bytes, and the tokens server answers 401 without the
# header. wrk must report no errors (non-2xx included). Prints each round and the medians;
# tokens/plain is the ratio of the medians (below 1: slower with tokens). Run it on an
# otherwise idle machine.
#
# Usage: bench/serve_tokens.sh [ROUNDS]    (default 7)
# Environment: AB_SERVE_SECONDS (5), AB_CONNS (16), AB_SERVE_THREADS (nproc), AB_WRK_THREADS (2).
set -euo pipefail
rounds=${1:-7}
cd "$(dirname "$0")/.."
secs=${AB_SERVE_SECONDS:-5} conns=${AB_CONNS:-16} sthreads=${AB_SERVE_THREADS:-$(nproc)}
wthreads=${AB_WRK_THREADS:-2}
py=/usr/bin/python3 K=$PWD/build/keel
die() { echo "serve_tokens.sh: $*" >&2; exit 1; }
for tool in wrk curl; do command -v "$tool" >/dev/null || die "$tool is not installed"; done
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
    "$K" serve --model "$work/churn.keel" -p 0 --threads "$sthreads" --no-log "$@" \
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
auth() { [ "$1" = tokens ] && echo "Bearer $token" || true; }
ask() { # NAME FILE [AUTH]: prints the HTTP status
    curl -s -o "$2" -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
        ${3:+-H "Authorization: $3"} --data-binary "@$body" "${url[$1]}$path"
}
[ "$(ask plain "$work/a_plain.json")" = 200 ] || die "plain did not answer 200"
[ "$(ask tokens "$work/a_tokens.json" "$(auth tokens)")" = 200 ] || die "tokens did not answer 200"
cmp -s "$work/a_plain.json" "$work/a_tokens.json" || die "the two servers answer differently"
[ "$(ask tokens "$work/a_401.json")" = 401 ] || die "tokens answered without a token"
echo "both answer the request alike; without the header the tokens server answers 401"

wrk_rps() { # NAME [SECONDS]: prints req/s, insists on no errors
    local w
    w=$(SERVE_BODY=$body SERVE_AUTH=$(auth "$1") wrk -t"$wthreads" -c"$conns" -d"${2:-$secs}s" \
        -s bench/serve_request.lua "${url[$1]}$path" 2>&1) || die "wrk failed against $1: $w"
    $py -c 'import json, sys
o = json.loads(sys.argv[1].split("SERVE_BENCH_JSON ", 1)[1].splitlines()[0])
bad = {k: v for k, v in o["errors"].items() if v}
sys.exit("errors %s" % bad) if bad else print(o["rps"])' "$w" || die "wrk against $1: $w"
}
wrk_rps plain 1 >/dev/null
wrk_rps tokens 1 >/dev/null # warm-up
declare -A got=([plain]="" [tokens]="")
for r in $(seq 1 "$rounds"); do
    order=(plain tokens)
    [ $((r % 2)) = 0 ] && order=(tokens plain)
    line="round $r:"
    for n in "${order[@]}"; do
        v=$(wrk_rps "$n")
        got[$n]+="$v "
        line+=" $n $v req/s"
    done
    echo "$line"
done
$py - "${got[plain]}" "${got[tokens]}" <<'PY'
import statistics, sys
p, t = ([float(x) for x in a.split()] for a in sys.argv[1:3])
mp, mt = statistics.median(p), statistics.median(t)
spread = lambda v, m: (max(v) - min(v)) / m * 100
print("median req/s: plain %.0f, tokens %.0f; tokens/plain %.3f; spread plain %.1f%%, tokens %.1f%%"
      % (mp, mt, mt / mp, spread(p, mp), spread(t, mt)))
PY
