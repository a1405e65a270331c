# keel serve on 127.0.0.1: every endpoint of every protocol, hostile requests, metrics that
# promtool accepts, the prediction log, a hot swap under load with no failed request, a
# corrupt version refused while the old one keeps serving, SIGHUP, and a clean SIGTERM.
. "$(dirname "$0")/lib.sh"
cd "$T"
export KEEL_USER=alice
D=$ROOT/data
head -n 1201 "$D/mlc_churn.csv" > churn.csv
py=/usr/bin/python3

expect "train: v1 for serving" 0 "$KEEL" train churn.csv --target churn -o churn.keel --epochs 3 -q
expect "user add: an approver" 0 "$KEEL" user add bob --role approver
KEEL_USER=bob expect "approve v1" 0 "$KEEL" model approve churn:1
expect "champion: v1" 0 "$KEEL" model alias churn champion 1

# req NAME WANT_STATUS METHOD PATH [CURL ARGS...]: body in $T/body, status checked
req() {
    local name=$1 want=$2 method=$3 path=$4; shift 4
    code=$(curl -s -o "$T/body" -w '%{http_code}' -X "$method" "$URL$path" "$@")
    if [ "$code" = "$want" ]; then ok "$name"
    else fail "$name" "HTTP $code, wanted $want: $method $path" "body: $(head -c 400 "$T/body")"; fi
}
jbody() { $py -c "import json,sys; j=json.load(open('$T/body')); print(($1))"; }

start_server --model churn@champion --poll 0.2
[ -n "$URL" ] && ok "serve: starts and prints its address" || fail "serve: starts" "$(cat "$T/serve.err")"

# ---- health and metadata (OIP v2) ----
req "v2: live" 200 GET /v2/health/live
req "v2: ready" 200 GET /v2/health/ready
req "v2: server metadata" 200 GET /v2
equal "v2: server name" "$(jbody "j['name']")" "keel"
req "v2: model metadata" 200 GET /v2/models/churn
equal "v2: metadata names the version and inputs" "$(jbody "(j['name'], j['versions'], j['platform'], len(j['inputs']) > 10)")" "('churn', ['1'], 'keel', True)"
req "v2: model version metadata" 200 GET /v2/models/churn/versions/1
req "v2: model ready" 200 GET /v2/models/churn/ready
req "v2: unknown model" 404 GET /v2/models/nosuch
contains "v2: 404 names the model" "$T/body" "nosuch"
req "v2: unknown version" 404 GET /v2/models/churn/versions/7
req "v1: model status" 200 GET /v1/models/churn
req "mlflow: ping" 200 GET /ping

# ---- one row through each protocol, compared with keel predict ----
# Row 1 of the data as JSON in each protocol's shape, and keel predict's answer for it.
$py - churn.csv > proto.env <<'PY'
import csv, json, sys
rows = list(csv.DictReader(open(sys.argv[1])))
row = {k: v for k, v in rows[0].items() if k != "churn"}
def typed(v):
    try: return float(v) if any(c in v for c in ".eE") else int(v)
    except ValueError: return v
tensors = []
for k, v in row.items():
    t = typed(v)
    dt = "BYTES" if isinstance(t, str) else ("FP64" if isinstance(t, float) else "INT64")
    tensors.append({"name": k, "shape": [1], "datatype": dt, "data": [t]})
open("v2.json", "w").write(json.dumps({"id": "req-42", "inputs": tensors}))
open("v1.json", "w").write(json.dumps({"instances": [{k: typed(v) for k, v in row.items()}]}))
open("split.json", "w").write(json.dumps({"dataframe_split": {"columns": list(row), "data": [[typed(v) for v in row.values()]]}}))
open("records.json", "w").write(json.dumps({"dataframe_records": [{k: typed(v) for k, v in row.items()}]}))
with open("one.csv", "w") as f:
    f.write(",".join(row) + "\n" + ",".join(row.values()) + "\n")
PY
(head -n 1 one.csv; tail -n 1 one.csv) > one_features.csv
expect "predict: reference answer for row 1" 0 "$KEEL" predict churn@champion one_features.csv -o ref.csv
p_yes=$(tail -n 1 ref.csv | awk -F, '{print $NF}')
label=$(tail -n 1 ref.csv | awk -F, '{print $(NF-2)}')

req "v2: infer" 200 POST /v2/models/churn/infer -H 'Content-Type: application/json' --data-binary @v2.json
equal "v2: id echoed, model and version named" "$(jbody "(j['id'], j['model_name'], j['model_version'])")" "('req-42', 'churn', '1')"
equal "v2: label as keel predict" "$(jbody "j['outputs'][0]['data'][0]")" "$label"
equal "v2: probability as keel predict" "$(jbody "abs(j['outputs'][1]['data'][1] - $p_yes) < 1e-5")" "True"
equal "v2: shapes" "$(jbody "[o['shape'] for o in j['outputs']]")" "[[1], [1, 2]]"
req "v2: infer a named version" 200 POST /v2/models/churn/versions/1/infer --data-binary @v2.json
req "v1: predict" 200 POST /v1/models/churn:predict --data-binary @v1.json
equal "v1: same probability" "$(jbody "abs(j['predictions'][0]['probabilities']['yes'] - $p_yes) < 1e-5")" "True"
for f in split records; do
    req "mlflow: $f" 200 POST /invocations -H 'Content-Type: application/json' --data-binary @$f.json
    equal "mlflow: $f gives the same probability" "$(jbody "abs(j['predictions'][0]['probabilities']['yes'] - $p_yes) < 1e-5")" "True"
done
req "mlflow: text/csv" 200 POST /invocations -H 'Content-Type: text/csv' --data-binary @one.csv
equal "mlflow: csv gives the same probability" "$(jbody "abs(j['predictions'][0]['probabilities']['yes'] - $p_yes) < 1e-5")" "True"
req "mlflow: unsupported content type" 415 POST /invocations -H 'Content-Type: text/plain' --data-binary @one.csv

# ---- hostile requests ----
req "bad JSON" 400 POST /v2/models/churn/infer --data-binary '{"inputs": [}'
contains "bad JSON: says where" "$T/body" "error"
req "v2: no inputs" 400 POST /v2/models/churn/infer --data-binary '{"id": "x"}'
req "v2: shape and data disagree" 400 POST /v2/models/churn/infer --data-binary '{"inputs":[{"name":"state","shape":[2],"datatype":"BYTES","data":["KS"]}]}'
req "v2: wrong datatype" 400 POST /v2/models/churn/infer --data-binary '{"inputs":[{"name":"account_length","shape":[1],"datatype":"INT64","data":["abc"]}]}'
req "v2: unknown column" 400 POST /v2/models/churn/infer --data-binary '{"inputs":[{"name":"no_such_column","shape":[1],"datatype":"FP64","data":[1]}]}'
contains "v2: unknown column named" "$T/body" "no_such_column"
req "v2: a value the schema rejects" 400 POST /v2/models/churn/infer --data-binary '{"inputs":[{"name":"account_length","shape":[1],"datatype":"BYTES","data":["twelve"]}]}'
req "v1: not a list" 400 POST /v1/models/churn:predict --data-binary '{"instances": 3}'
req "v1: unknown verb" 404 POST /v1/models/churn:explode --data-binary @v1.json
req "GET on infer" 405 GET /v2/models/churn/infer
req "unknown endpoint" 404 GET /nothing/here
head -c 2000000 /dev/zero | tr '\0' ' ' > huge.json
req "a body over 1 MiB" 413 POST /v2/models/churn/infer --data-binary @huge.json
req "a chunked body over 1 MiB" 413 POST /v2/models/churn/infer -H 'Transfer-Encoding: chunked' --data-binary @huge.json
port=${URL##*:}
$py - "$port" > hostile.txt <<'PY'
import socket, sys, time
port = int(sys.argv[1])
def send(raw, wait=2.0):
    s = socket.create_connection(("127.0.0.1", port), timeout=wait)
    s.sendall(raw)
    data = b""
    try:
        while True:
            d = s.recv(65536)
            if not d: break
            data += d
            if b"\r\n\r\n" in data and (b"Content-Length" not in data or len(data.split(b"\r\n\r\n",1)[1]) >= int(data.split(b"Content-Length: ")[1].split(b"\r\n")[0])):
                break
    except socket.timeout:
        pass
    s.close()
    return data.split(b"\r\n")[0].decode(errors="replace")
body = b'{"inputs":[]}'
print("both:", send(b"POST /v2/models/churn/infer HTTP/1.1\r\nHost: x\r\nContent-Length: 13\r\nTransfer-Encoding: chunked\r\n\r\n" + body))
print("bigheader:", send(b"GET /v2 HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 100000 + b"\r\n\r\n"))
print("garbage:", send(b"\x00\x01\x02 NOT HTTP\r\n\r\n"))
print("badlength:", send(b"POST /v2/models/churn/infer HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n"))
# A slow client: half a request line, then silence; the server must go on serving others.
slow = socket.create_connection(("127.0.0.1", port))
slow.sendall(b"POST /v2/models/churn/infer HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
t = time.time()
print("while slow:", send(b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"), round(time.time() - t, 2) < 1.0)
slow.close()
PY
contains "conflicting Content-Length and Transfer-Encoding: 400" hostile.txt "both: HTTP/1.1 400"
equal "headers over the limit are refused" "$(grep -c '^bigheader: HTTP/1.1 4' hostile.txt)" "1"
equal "garbage gets a 4xx or a closed connection" "$(grep -cE '^garbage: (HTTP/1.1 4|$)' hostile.txt)" "1"
contains "bad Content-Length: 400" hostile.txt "badlength: HTTP/1.1 400"
contains "a slow client does not hold up others" hostile.txt "while slow: HTTP/1.1 200 OK True"
kill -0 $pid 2>/dev/null && ok "the server survived the hostile requests" || fail "server died" "$(tail -5 "$T/serve.err")"

# ---- metrics ----
req "metrics" 200 GET /metrics
cp "$T/body" metrics.txt
if promtool check metrics < metrics.txt > promtool.out 2>&1; then ok "metrics: promtool check metrics passes"
else fail "metrics: promtool" "$(head -20 promtool.out)"; fi
contains "metrics: requests by model, version and code" metrics.txt 'keel_requests_total{protocol="v2",model="churn",version="1",code="200"}'
contains "metrics: latency histogram" metrics.txt 'keel_request_duration_seconds_bucket'
contains "metrics: in flight" metrics.txt 'keel_requests_in_flight'
contains "metrics: model load time" metrics.txt 'keel_model_load_seconds{model="churn",version="1"}'

# ---- hot swap under load ----
expect "train: v2" 0 "$KEEL" train churn.csv --target churn -o churn2.keel --name churn --epochs 3 -q --seed 9
KEEL_USER=bob expect "approve v2" 0 "$KEEL" model approve churn:2
$py - "$URL" > load.txt <<'PY' &
import http.client, json, sys, threading, time
host, port = sys.argv[1][len("http://"):].split(":")
body = open("v2.json", "rb").read()
stats = {"ok": 0, "fail": 0, "versions": set()}
lock = threading.Lock()
def worker(deadline):
    c = http.client.HTTPConnection(host, int(port), timeout=5)
    while time.time() < deadline:
        try:
            c.request("POST", "/v2/models/churn/infer", body, {"Content-Type": "application/json"})
            r = c.getresponse(); data = r.read()
            with lock:
                if r.status == 200:
                    stats["ok"] += 1; stats["versions"].add(json.loads(data)["model_version"])
                else:
                    stats["fail"] += 1
        except Exception as e:
            with lock: stats["fail"] += 1
            c = http.client.HTTPConnection(host, int(port), timeout=5)
deadline = time.time() + 4
ts = [threading.Thread(target=worker, args=(deadline,)) for _ in range(4)]
[t.start() for t in ts]; [t.join() for t in ts]
print(stats["ok"], stats["fail"], ",".join(sorted(stats["versions"])))
PY
loader=$!
sleep 1
expect "champion: v2 while the server is under load" 0 "$KEEL" model alias churn champion 2
wait $loader
read -r n_ok n_fail versions < load.txt
equal "hot swap: zero failed requests" "$n_fail" "0"
equal "hot swap: both versions answered" "$versions" "1,2"
[ "$n_ok" -gt 100 ] && ok "hot swap: the load was real ($n_ok requests)" || fail "hot swap: too few requests" "$n_ok"
req "after the swap: v2 serves" 200 POST /v2/models/churn/infer --data-binary @v2.json
equal "after the swap: version 2" "$(jbody "j['model_version']")" "2"
expect "history: the server recorded its deployments" 0 "$KEEL" model history churn --json
equal "history: v1 went live, was retired, v2 went live" "$(json "$T/out" "[(e['event'], e['version']) for e in j if e['event'].startswith('deployment')]")" "[('deployment.active', 1), ('deployment.retired', 1), ('deployment.active', 2)]"
expect "lineage: the live deployment" 0 "$KEEL" lineage churn@champion --json
equal "lineage: version 2 deployed on this server" "$(json "$T/out" "[n['label'] for n in j['nodes'] if n['kind'] == 'deployment']")" "['serve:127.0.0.1:${URL##*:}']"

# A version whose stored artifact is damaged is refused; v2 keeps serving.
expect "train: v3" 0 "$KEEL" train churn.csv --target churn -o churn3.keel --name churn --epochs 2 -q --seed 11
sha3=$(sha256sum churn3.keel | cut -d' ' -f1)
stored="$KEEL_HOME/artifacts/sha256/${sha3:0:2}/${sha3:2}"
chmod u+w "$stored"; printf 'X' | dd of="$stored" bs=1 seek=5000 conv=notrunc 2>/dev/null
expect "staging -> v3" 0 "$KEEL" model alias churn staging 3
KEEL_USER=bob expect "approve v3" 0 "$KEEL" model approve churn:3
expect "champion: the damaged v3" 0 "$KEEL" model alias churn champion 3
sleep 1
req "corrupt version: the old one keeps serving" 200 POST /v2/models/churn/infer --data-binary @v2.json
equal "corrupt version: still version 2" "$(jbody "j['model_version']")" "2"
contains "corrupt version: refused, said why" "$T/serve.err" "cannot load"
expect "champion: back to v2" 0 "$KEEL" model alias churn champion 2

# ---- SIGTERM: drain and exit; the log is flushed ----
kill -TERM $pid
wait $pid; st=$?
equal "SIGTERM: exits 0" "$st" "0"
contains "SIGTERM: says it drained" "$T/serve.err" "stopped"
expect "history after stop" 0 "$KEEL" model history churn --json
equal "history: the damaged v3 never went live; v2 retired at stop" "$(json "$T/out" "[(e['event'], e['version']) for e in j if e['event'].startswith('deployment')][-2:]")" "[('deployment.active', 2), ('deployment.retired', 2)]"
ls "$KEEL_HOME"/logs/*.jsonl.zst > logs.txt 2>/dev/null
[ -s logs.txt ] && ok "log: compressed files in KEEL_HOME/logs" || fail "log: no files" "$(ls -la "$KEEL_HOME/logs" 2>&1)"
zstd -dc "$KEEL_HOME"/logs/*.jsonl.zst > log.jsonl 2>/dev/null
equal "log: every line is JSON with id, version, inputs, outputs, latency" "$($py -c "
import json
n = 0
for l in open('log.jsonl'):
    j = json.loads(l); n += 1
    assert j['sha256'] and j['version'] and j['inputs'] and j['outputs'] and j['latency_us'] >= 0 and j['request_id']
print(n > 100)")" "True"
equal "log: the OIP request id is kept" "$(grep -c '"request_id":"req-42"' log.jsonl | awk '{print ($1 > 0)}')" "1"

# ---- a file model, SIGHUP reload ----
cp churn.keel served.keel
start_server --model "$T/served.keel" --no-log
req "file model: served under its base name" 200 GET /v2/models/served
v_before=$(jbody "j['versions'][0]")
cp churn2.keel served.keel
kill -HUP $pid; sleep 0.5
req "SIGHUP: reloaded" 200 GET /v2/models/served
[ "$(jbody "j['versions'][0]")" != "$v_before" ] && ok "SIGHUP: the new file is served" || fail "SIGHUP: still the old version" "$v_before"
kill -TERM $pid; wait $pid
expect "serve: a model that does not exist" 1 "$KEEL" serve -p 0 --model nosuch@champion
contains "serve: says so" "$T/err" "nosuch"
expect "serve: no model" 2 "$KEEL" serve -p 0
expect "serve: --help" 0 "$KEEL" serve --help
# A port another process holds: named, with the way out (libmicrohttpd's own words say "port 0").
/usr/bin/python3 -c '
import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(1)
open(sys.argv[1], "w").write(str(s.getsockname()[1])); time.sleep(30)' "$T/busy.port" &
holder=$!
for _ in $(seq 1 50); do [ -s "$T/busy.port" ] && break; sleep 0.1; done
busy=$(cat "$T/busy.port")
expect "serve: a port in use" 1 "$KEEL" serve -p "$busy" --no-log --model churn.keel
contains "serve: names the port and says what to do" "$T/err" "cannot listen on 127.0.0.1:$busy: another process is using that port"
kill "$holder" 2>/dev/null; wait "$holder" 2>/dev/null
finish
