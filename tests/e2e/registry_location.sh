# KEEL_REGISTRY: a registry kept somewhere other than KEEL_HOME is the one every command
# follows — training records into it, the card reads it, the server resolves and records its
# deployment in it — and none of them creates a second, empty registry in KEEL_HOME.
. "$(dirname "$0")/lib.sh"
cd "$T"
export KEEL_USER=alice
export KEEL_REGISTRY="sqlite://$T/shared/team.db"
mkdir -p shared
head -n 301 "$ROOT/data/pima2.csv" > pima.csv

expect "train: recorded in KEEL_REGISTRY" 0 "$KEEL" train pima.csv --target diabetes -o pima.keel --epochs 2 -q
[ -f "$T/shared/team.db" ] && ok "the registry file is where KEEL_REGISTRY says" \
    || fail "the registry file is where KEEL_REGISTRY says" "$(ls -R "$T")"
[ ! -e "$KEEL_HOME/registry.db" ] && ok "no registry created in KEEL_HOME" \
    || fail "no registry created in KEEL_HOME" "$(ls "$KEEL_HOME")"
expect "model list reads it" 0 "$KEEL" model list
contains "model list: pima" "$T/out" "pima"

expect "card: finds the version there" 0 "$KEEL" card pima.keel --data pima.csv -o card.html --markdown card.md
contains "card: the registered version" card.md "pima:1"

start_server --model pima --no-log
[ -n "$URL" ] && ok "serve: resolves the model in KEEL_REGISTRY" \
    || fail "serve: resolves the model in KEEL_REGISTRY" "$(cat "$T/serve.err")"
code=$(curl -s -o /dev/null -w '%{http_code}' "$URL/v2/models/pima")
equal "serve: the model's metadata" "$code" "200"
kill -TERM $pid 2>/dev/null; wait $pid 2>/dev/null
expect "history: the deployment recorded there" 0 "$KEEL" model history pima
contains "history: deployed" "$T/out" "deploy"
[ ! -e "$KEEL_HOME/registry.db" ] && ok "still no registry in KEEL_HOME" \
    || fail "still no registry in KEEL_HOME" "$(ls "$KEEL_HOME")"

KEEL_REGISTRY="postgresql://db/keel" expect "an unknown scheme is refused" 1 "$KEEL" model list
contains "the refusal names KEEL_REGISTRY" "$T/err" "KEEL_REGISTRY"
finish
