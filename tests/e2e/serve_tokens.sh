# keel serve --require-token on 127.0.0.1 with real curl: bearer tokens made with keel token
# create; no header, a wrong token and a malformed header get 401 with WWW-Authenticate and
# the error JSON; a token for another model or a role too small gets 403; the right token
# gets 200 on every protected endpoint (OIP v2 infer, metadata and explain, KServe v1
# predict and explain, MLflow invocations, /metrics, /v2); health checks stay open; a revoked
# token is refused within the poll interval; an expired one at its time; the token is never
# in the audit export nor in the registry's files; and tokens work over HTTPS.
. "$(dirname "$0")/lib.sh"
cd "$T"
D=$ROOT/data
py=/usr/bin/python3
head -n 401 "$D/mlc_churn.csv" > churn.csv

expect "train: churn, registered as churn:1" 0 "$KEEL" train churn.csv --target churn -o churn.keel --epochs 1 -q
cp churn.keel other.keel # served as a file, under the name "other"

$py - churn.csv <<'PY'
import csv, json, sys
rows = [{k: v for k, v in r.items() if k != "churn"} for r in csv.DictReader(open(sys.argv[1]))][:2]
def typed(v):
    try: return float(v) if any(c in v for c in ".eE") else int(v)
    except ValueError: return v
def tensors(rs):
    out = []
    for k in rs[0]:
        vals = [typed(r[k]) for r in rs]
        if any(isinstance(v, str) for v in vals): dt, vals = "BYTES", [r[k] for r in rs]
        elif any(isinstance(v, float) for v in vals): dt, vals = "FP64", [float(v) for v in vals]
        else: dt = "INT64"
        out.append({"name": k, "shape": [len(rs)], "datatype": dt, "data": vals})
    return out
def dump(name, obj): open(name, "w").write(json.dumps(obj))
dump("v2.json", {"inputs": tensors(rows)})
dump("v1.json", {"instances": [{k: typed(v) for k, v in r.items()} for r in rows]})
dump("mlflow.json", {"dataframe_records": [{k: typed(v) for k, v in r.items()} for r in rows]})
PY

# mint NAME ARGS...: keel token create ARGS; the token in $tok (and in the file NAME.tok)
mint() {
    local name=$1; shift
    run "$KEEL" token create --name "$name" --json "$@"
    tok=$($py -c "import json,sys; print(json.load(open(sys.argv[1]))['token'])" "$T/out" 2>/dev/null)
    case "$tok" in
        keel_????????????????????????????????????????????????????????????????) ok "token create: $name" ;;
        *) fail "token create: $name" "exit $status" "$(cat "$T/out" "$T/err")" ;;
    esac
    echo "$tok" > "$name.tok"
}
mint churn-invoke --model churn --role invoke
mint churn-explain --model churn --role explain
mint churn-read --model churn --role read
mint other-explain --model other --role explain
mint all-read --model '*' --role read
mint doomed --model churn --role invoke
tok_of() { cat "$1.tok"; }

# req NAME WANT_STATUS TOKEN METHOD PATH [CURL ARGS...]: body in $T/body, headers in $T/head;
# TOKEN "-" sends no Authorization header
req() {
    local name=$1 want=$2 token=$3 method=$4 path=$5; shift 5
    local auth=()
    [ "$token" != - ] && auth=(-H "Authorization: Bearer $token")
    code=$(curl -s -D "$T/head" -o "$T/body" -w '%{http_code}' -X "$method" "${auth[@]}" \
        "${CURL_EXTRA[@]}" "$URL$path" "$@")
    if [ "$code" = "$want" ]; then ok "$name"
    else fail "$name" "HTTP $code, wanted $want: $method $path" "body: $(head -c 400 "$T/body")"; fi
}
CURL_EXTRA=()
jbody() { $py -c "import json,sys; j=json.load(open('$T/body')); print(($1))"; }
post_v2() { req "$1" "$2" "$3" POST /v2/models/churn/infer -H 'Content-Type: application/json' --data-binary @v2.json; }

start_server --no-log --model churn --model "$T/other.keel" --require-token --poll 0.2
[ -n "$URL" ] && ok "serve: starts with --require-token" || fail "serve: starts" "$(cat "$T/serve.err")"

# ---- 401: no token, a wrong one, a malformed header ----
post_v2 "401: no Authorization header" 401 -
contains "401: WWW-Authenticate: Bearer" "$T/head" 'WWW-Authenticate: Bearer realm="keel"'
equal "401: the error JSON names what is missing" "$(jbody "sorted(j) == ['error'] and 'needs a bearer token' in j['error']")" True
contains "401: application/json" "$T/head" "Content-Type: application/json"
post_v2 "401: a token nobody created" 401 "keel_$(printf '%064d' 7)"
equal "401: says the token is not valid" "$(jbody "'not valid' in j['error']")" True
code=$(curl -s -o body -w '%{http_code}' -H "Authorization: Basic dXNlcjpwdw==" "$URL/v2/models/churn")
equal "401: Basic instead of Bearer" "$code" 401
equal "401: says the header is malformed" "$($py -c "import json; print('malformed' in json.load(open('body'))['error'])")" True
code=$(curl -s -o body -w '%{http_code}' -H "Authorization: Bearer" "$URL/v2/models/churn")
equal "401: Bearer without a token" "$code" 401
code=$(curl -s -o body -w '%{http_code}' -H "Authorization: Bearer $(tok_of churn-invoke)x" "$URL/v2/models/churn")
equal "401: a token with a character too many" "$code" 401
code=$(curl -s -o body -w '%{http_code}' -H "Authorization: bearer  $(tok_of churn-read)" "$URL/v2/models/churn")
equal "200: the scheme in any case, spaces before the token" "$code" 200
req "401: an unknown endpoint says nothing without a token" 401 - GET /v2/models/nosuch
req "401: /metrics without a token" 401 - GET /metrics

# ---- health checks stay open ----
for p in /v2/health/live /v2/health/ready /v2/models/churn/ready /v2/models/churn/versions/1/ready /v1/models/churn /ping /health; do
    req "open: GET $p without a token" 200 - GET "$p"
done

# ---- 200 with the right token, every protected endpoint ----
post_v2 "200: v2 infer (invoke)" 200 "$(tok_of churn-invoke)"
equal "200: v2 infer answers two rows" "$(jbody "j['outputs'][0]['shape'][0]")" 2
req "200: v1 predict (invoke)" 200 "$(tok_of churn-invoke)" POST /v1/models/churn:predict -H 'Content-Type: application/json' --data-binary @v1.json
req "200: MLflow invocations (invoke; the first model)" 200 "$(tok_of churn-invoke)" POST /invocations -H 'Content-Type: application/json' --data-binary @mlflow.json
req "200: v2 explain (explain)" 200 "$(tok_of churn-explain)" POST /v2/models/churn/explain -H 'Content-Type: application/json' --data-binary @v2.json
req "200: v1 explain (explain)" 200 "$(tok_of churn-explain)" POST /v1/models/churn:explain -H 'Content-Type: application/json' --data-binary @v1.json
post_v2 "200: explain implies invoke" 200 "$(tok_of churn-explain)"
req "200: v2 model metadata (read)" 200 "$(tok_of churn-read)" GET /v2/models/churn
req "200: v2 version metadata (invoke implies read)" 200 "$(tok_of churn-invoke)" GET /v2/models/churn/versions/1
req "200: /metrics (read on *)" 200 "$(tok_of all-read)" GET /metrics
req "200: /v2 server metadata (any token)" 200 "$(tok_of churn-read)" GET /v2
req "200: the other model's infer (explain on other)" 200 "$(tok_of other-explain)" POST /v2/models/other/infer -H 'Content-Type: application/json' --data-binary @v2.json
req "200: a read token on * reads any model's metadata" 200 "$(tok_of all-read)" GET /v2/models/other

# ---- 403: another model, a role too small ----
post_v2 "403: a token for another model" 403 "$(tok_of other-explain)"
equal "403: the error JSON names both models" "$(jbody "sorted(j) == ['error'] and 'for model other, not churn' in j['error']")" True
if grep -qi "WWW-Authenticate" "$T/head"; then fail "403: no WWW-Authenticate" "$(cat "$T/head")"; else ok "403: no WWW-Authenticate"; fi
req "403: MLflow with a token for another model" 403 "$(tok_of other-explain)" POST /invocations -H 'Content-Type: application/json' --data-binary @mlflow.json
post_v2 "403: read may not invoke" 403 "$(tok_of churn-read)"
equal "403: says which role is needed" "$(jbody "'needs the role invoke' in j['error']")" True
req "403: v1 predict with read" 403 "$(tok_of churn-read)" POST /v1/models/churn:predict -H 'Content-Type: application/json' --data-binary @v1.json
req "403: invoke may not explain (v2)" 403 "$(tok_of churn-invoke)" POST /v2/models/churn/explain -H 'Content-Type: application/json' --data-binary @v2.json
req "403: invoke may not explain (v1)" 403 "$(tok_of churn-invoke)" POST /v1/models/churn:explain -H 'Content-Type: application/json' --data-binary @v1.json
req "403: read on * may not invoke" 403 "$(tok_of all-read)" POST /v2/models/churn/infer -H 'Content-Type: application/json' --data-binary @v2.json
req "403: /metrics needs a token for every model" 403 "$(tok_of churn-explain)" GET /metrics
req "403: other's metadata with churn's token" 403 "$(tok_of churn-read)" GET /v2/models/other

# ---- the refusals are counted ----
req "metrics: readable" 200 "$(tok_of all-read)" GET /metrics
contains "metrics: 401s counted" "$T/body" 'code="401"'
contains "metrics: 403s counted by protocol and model" "$T/body" 'keel_requests_total{protocol="v2",model="churn",version="",code="403"}'

# ---- revocation reaches the server within the poll interval ----
post_v2 "revoke: the token works before" 200 "$(tok_of doomed)"
expect "token revoke: by name" 0 "$KEEL" token revoke doomed
sleep 1
post_v2 "revoke: 401 after the poll interval" 401 "$(tok_of doomed)"
expect "token revoke: a second time is refused" 1 "$KEEL" token revoke doomed
mint doomed --model churn --role invoke
sleep 1
post_v2 "create: a new token works after the poll interval" 200 "$(tok_of doomed)"
id=$($py -c "import json,sys; print(json.load(open(sys.argv[1]))['id'])" "$T/out")
expect "token revoke: by id" 0 "$KEEL" token revoke "$id"
sleep 1
post_v2 "revoke by id: 401 after the poll interval" 401 "$(tok_of doomed)"

# ---- expiry: refused from its time on, without waiting for a poll ----
mint brief --model churn --role invoke --expires 3s
sleep 1
post_v2 "expires: works before its time" 200 "$(tok_of brief)"
sleep 3
post_v2 "expires: 401 after its time" 401 "$(tok_of brief)"
kill -TERM $pid; wait $pid; st=$?
equal "serve: SIGTERM stops it cleanly" "$st" 0

# ---- the list, the audit trail and the files never hold a token ----
expect "token list: for people" 0 "$KEEL" token list
contains "token list: a revoked token says so" "$T/out" "revoked"
contains "token list: the columns" "$T/out" "MODEL"
expect "token list --json" 0 "$KEEL" token list --json
equal "token list: every token, never a secret or a hash" \
    "$(json "$T/out" "len(j) == 8 and all('token' not in t and 'sha256' not in t for t in j)")" True
expect "audit export" 0 "$KEEL" audit export -o audit.jsonl
contains "audit: token.create recorded" audit.jsonl '"action":"token.create"'
contains "audit: token.revoke recorded" audit.jsonl '"action":"token.revoke"'
leaks=0
for f in *.tok; do
    t=$(cat "$f")
    grep -rqF "${t#keel_}" audit.jsonl "$KEEL_HOME" && leaks=$((leaks + 1))
done
equal "no token in the audit export nor anywhere under KEEL_HOME (the db, WAL, head file)" "$leaks" 0
expect "audit verify: the chain holds" 0 "$KEEL" audit verify

# ---- who may create tokens, and bad arguments ----
expect "user add: a viewer" 0 "$KEEL" user add vic --role viewer
KEEL_USER=vic expect "token create: a viewer is refused" 1 "$KEEL" token create --model churn --role invoke
KEEL_USER=vic expect "token list: a viewer may list" 0 "$KEEL" token list
expect "token create: an unknown role (usage)" 2 "$KEEL" token create --model churn --role admin
expect "token create: --role is required" 2 "$KEEL" token create --model churn
expect "token create: a bad --expires" 2 "$KEEL" token create --model churn --role read --expires soon
expect "token revoke: nothing to revoke" 1 "$KEEL" token revoke nosuch

# ---- start-up: no registry, no tokens ----
run env KEEL_HOME="$T/empty-home" timeout 20 "$KEEL" serve -p 0 --no-log --model "$T/churn.keel" --require-token
if [ "$status" -eq 1 ] && grep -qF "needs a registry that holds the tokens" "$T/err" && [ ! -e "$T/empty-home/registry.db" ]; then
    ok "serve: --require-token without a registry is refused at start, none created"
else
    fail "serve: --require-token without a registry is refused" "exit $status: $(cat "$T/err")"
fi

# ---- over HTTPS ----
mk_key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; chmod 600 "$1"; }
mk_key ca.key && mk_key server.key
openssl req -x509 -new -key ca.key -out ca.pem -days 2 -subj /CN=keel-test-ca 2>/dev/null
openssl req -new -key server.key -out server.csr -subj /CN=127.0.0.1 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n' > ext.cnf
openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem \
    -days 2 -extfile ext.cnf 2>/dev/null
start_server --no-log --model churn --require-token --tls-cert server.pem --tls-key server.key
case "$URL" in
    https://127.0.0.1:*) ok "https: starts with --require-token" ;;
    *) fail "https: starts with --require-token" "got '$URL'" "$(cat "$T/serve.err")" ;;
esac
CURL_EXTRA=(--cacert ca.pem)
post_v2 "https: v2 infer with a token" 200 "$(tok_of churn-invoke)"
post_v2 "https: no token, 401" 401 -
post_v2 "https: a revoked token, 401" 401 "$(tok_of doomed)"
req "https: health open" 200 - GET /v2/health/ready
kill -TERM $pid; wait $pid

finish
