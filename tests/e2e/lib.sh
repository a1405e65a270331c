# Helpers for end-to-end tests: each check prints "ok  NAME" or "FAIL NAME" with details,
# and `finish` prints "N passed, N failed". A crash (exit status >= 128) always fails.
passed=0; failed=0
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
ROOT=${KEEL_TEST_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
KEEL=${KEEL:-$ROOT/build/keel}
# Every test file gets a registry of its own, and a known identity (its first user: admin).
export KEEL_HOME="$T/keel-home" KEEL_USER=${KEEL_TEST_USER:-tester}
unset KEEL_CONFIG
ok()   { echo "ok   $1"; passed=$((passed + 1)); }
fail() { echo "FAIL $1"; shift; for l in "$@"; do echo "     $l"; done; failed=$((failed + 1)); }
# run: runs a command capturing stdout/stderr/status into $T/out $T/err $status
run() { "$@" >"$T/out" 2>"$T/err"; status=$?; }
# expect NAME WANT_STATUS CMD...: the command exits with WANT_STATUS
expect() {
    local name=$1 want=$2; shift 2
    run "$@"
    if [ "$status" -eq "$want" ]; then ok "$name"
    else fail "$name" "exit $status, wanted $want: $*" "stdout: $(head -c 600 "$T/out")" "stderr: $(head -c 600 "$T/err")"; fi
}
# contains NAME FILE TEXT: FILE contains TEXT
contains() {
    if grep -qF -- "$3" "$2"; then ok "$1"; else fail "$1" "'$3' not in $2:" "$(head -c 800 "$2")"; fi
}
# equal NAME GOT WANT
equal() { if [ "$2" == "$3" ]; then ok "$1"; else fail "$1" "got '$2', wanted '$3'"; fi; }
# json FILE EXPR: evaluates a Python expression on the parsed JSON (as j)
json() { python3 -c "import json,sys; j=json.load(open(sys.argv[1])); print(($2))" "$1"; }
# start_server ARGS...: starts `keel serve -p 0 ARGS` (stdout in $T/serve.out, stderr in
# $T/serve.err) and waits until it prints "listening on http[s]://HOST:PORT"; sets $pid and
# $URL ($URL empty when it did not start).
start_server() {
    "$KEEL" serve -p 0 "$@" >"$T/serve.out" 2>"$T/serve.err" &
    pid=$!
    for _ in $(seq 1 200); do
        grep -q "listening on" "$T/serve.out" 2>/dev/null && break
        kill -0 $pid 2>/dev/null || break
        sleep 0.05
    done
    URL=$(grep -o 'https\?://[0-9.:]*' "$T/serve.out" | head -n 1)
}
finish() { echo "$passed passed, $failed failed"; [ "$failed" -eq 0 ]; }
