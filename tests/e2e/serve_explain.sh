# keel serve's explain extension on 127.0.0.1: POST /v2/models/{m}[/versions/{v}]/explain and
# POST /v1/models/{m}:explain on several rows, attributions that add up to the prediction's
# distance from the baseline, reasons, the parameters (method, scale, top_k, class), GET /v2
# listing the extension, hostile requests (each a 4xx naming the problem), the row limits,
# metrics that promtool accepts, and explanations kept out of the prediction log.
. "$(dirname "$0")/lib.sh"
cd "$T"
D=$ROOT/data
head -n 1201 "$D/mlc_churn.csv" > churn.csv
py=/usr/bin/python3

expect "train: a churn model" 0 "$KEEL" train churn.csv --target churn -o churn.keel --epochs 3 -q --no-registry

# req NAME WANT_STATUS METHOD PATH [CURL ARGS...]: body in $T/body, status checked
req() {
    local name=$1 want=$2 method=$3 path=$4; shift 4
    code=$(curl -s -o "$T/body" -w '%{http_code}' -X "$method" "$URL$path" "$@")
    if [ "$code" = "$want" ]; then ok "$name"
    else fail "$name" "HTTP $code, wanted $want: $method $path" "body: $(head -c 400 "$T/body")"; fi
}
jbody() { $py -c "import json,sys; j=json.load(open('$T/body')); print(($1))"; }
# says NAME TEXT: the last answer's "error" contains TEXT
says() { contains "$1" "$T/body" "$2"; }

start_server --model "$T/churn.keel"
[ -n "$URL" ] && ok "serve: starts and prints its address" || fail "serve: starts" "$(cat "$T/serve.err")"

# ---- the extension is declared ----
req "v2: server metadata" 200 GET /v2
equal "v2: extensions list explain" "$(jbody "'explain' in j['extensions']")" "True"

# ---- requests: rows 1-3 of the data in each protocol's shape; 1,001 and 17 rows ----
$py - churn.csv <<'PY'
import csv, json, sys
rows = [{k: v for k, v in r.items() if k != "churn"} for r in csv.DictReader(open(sys.argv[1]))]
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
three = rows[:3]
dump("v2.json", {"id": "why-7", "inputs": tensors(three)})
dump("v2_one.json", {"inputs": tensors(three[:1])})
dump("v1.json", {"instances": [{k: typed(v) for k, v in r.items()} for r in three]})
# A row with a missing value (state absent, a null) explains too.
r = {k: typed(v) for k, v in three[0].items() if k != "state"}
r["total_day_minutes"] = None
dump("v1_missing.json", {"instances": [r]})
for name, params in [("shapley", {"method": "shapley"}), ("prob", {"scale": "probability"}),
                     ("top2", {"top_k": 2}), ("class_no", {"class": "no"}),
                     ("ig", {"method": "ig", "scale": "log_odds", "top_k": 0, "class": "yes"})]:
    dump("v2_%s.json" % name, {"inputs": tensors(three[:1]), "parameters": params})
for name, params in [("bad_method", {"method": "lime"}), ("bad_scale", {"scale": "value"}),
                     ("bad_scale_name", {"scale": "odds"}), ("bad_topk", {"top_k": 99}),
                     ("bad_topk_type", {"top_k": "3"}), ("bad_class", {"class": "maybe"}),
                     ("bad_key", {"steps": 64}), ("bad_params", 3)]:
    dump("v2_%s.json" % name, {"inputs": tensors(three[:1]), "parameters": params})
dump("v1_bad_method.json", {"instances": [{k: typed(v) for k, v in three[0].items()}],
                            "parameters": {"method": 7}})
many = (rows * 2)[:1001]
dump("v2_1001.json", {"inputs": tensors(many)})
dump("v1_17_shapley.json", {"instances": [{k: typed(v) for k, v in r.items()} for r in rows[:17]],
                            "parameters": {"method": "shapley"}})
dump("v1_16_shapley.json", {"instances": [{k: typed(v) for k, v in r.items()} for r in rows[:16]],
                            "parameters": {"method": "shapley"}})
PY

# Reference probabilities from the predict endpoint for the same rows.
req "v2: infer the three rows" 200 POST /v2/models/churn/infer --data-binary @v2.json
cp "$T/body" infer.json
# check FILE: every explanation is whole and adds up; prints a summary to compare
check_all() {
    $py - "$1" infer.json <<'PY'
import json, math, sys
j = json.load(open(sys.argv[1]))
inf = json.load(open(sys.argv[2]))
p_yes = inf["outputs"][1]["data"][1::2]
bad = []
for i, x in enumerate(j["explanations"]):
    a = x["attributions"]
    if len(a) != 19: bad.append("row %d: %d attributions" % (i, len(a)))
    gap = x["prediction"] - x["baseline_prediction"]
    if abs(sum(a.values()) - gap) > max(1e-3 * abs(gap), 1e-6) + x["completeness_error"]:
        bad.append("row %d: sum %g vs %g" % (i, sum(a.values()), gap))
    if x["completeness_error"] > max(1e-2 * abs(gap), 1e-5):
        bad.append("row %d: completeness_error %g" % (i, x["completeness_error"]))
    for r in x["reasons"]:
        if not (r["column"] in a and r["attribution"] > 0 and r["text"]): bad.append("reason %r" % r)
    if x["scale"] == "log_odds" and x["class"] == "yes" and i < len(p_yes):
        p = 1 / (1 + math.exp(-x["prediction"]))
        if abs(p - p_yes[i]) > 1e-4: bad.append("row %d: p %g vs infer %g" % (i, p, p_yes[i]))
print(" ".join(bad) or "good")
PY
}

# ---- OIP v2 ----
req "v2: explain three rows" 200 POST /v2/models/churn/explain -H 'Content-Type: application/json' --data-binary @v2.json
cp "$T/body" v2_out.json
equal "v2: id echoed, model and version named" "$(jbody "(j['id'], j['model_name'], j['model_version'] == json.load(open('infer.json'))['model_version'])")" "('why-7', 'churn', True)"
equal "v2: one explanation per row" "$(jbody "len(j['explanations'])")" "3"
equal "v2: defaults: integrated gradients on the log-odds of yes" "$(jbody "sorted(set((x['method'], x['scale'], x['class']) for x in j['explanations']))")" "[('integrated_gradients', 'log_odds', 'yes')]"
equal "v2: attributions add up to prediction - baseline; the prediction is infer's" "$(check_all v2_out.json)" "good"
equal "v2: reasons given" "$(jbody "any(x['reasons'] for x in j['explanations']) and all(len(x['reasons']) <= 4 for x in j['explanations'])")" "True"
equal "v2: every column attributed, in the model's inputs" "$(jbody "sorted(j['explanations'][0]['attributions']) == sorted(t['name'] for t in json.load(open('v2.json'))['inputs'])")" "True"
version=$(jbody "j['model_version']")
req "v2: a named version" 200 POST "/v2/models/churn/versions/$version/explain" --data-binary @v2_one.json
equal "v2: no id when none is sent" "$(jbody "'id' in j")" "False"
req "v2: a version not served" 404 POST /v2/models/churn/versions/nope/explain --data-binary @v2_one.json
says "v2: the 404 names the version served" "$version"

# ---- KServe v1 ----
req "v1: explain three instances" 200 POST /v1/models/churn:explain --data-binary @v1.json
cp "$T/body" v1_out.json
equal "v1: one explanation per instance, nothing else" "$(jbody "(list(j), len(j['explanations']))")" "(['explanations'], 3)"
equal "v1: the same explanations as v2" "$($py -c "
import json
a = json.load(open('v1_out.json'))['explanations']; b = json.load(open('v2_out.json'))['explanations']
print(all(abs(x['prediction'] - y['prediction']) < 1e-9 and
          max(abs(x['attributions'][k] - y['attributions'][k]) for k in x['attributions']) < 1e-9
          for x, y in zip(a, b)))")" "True"
equal "v1: attributions add up" "$(check_all v1_out.json)" "good"
req "v1: missing values explain too" 200 POST /v1/models/churn:explain --data-binary @v1_missing.json
equal "v1: missing values: one explanation" "$(jbody "len(j['explanations'])")" "1"
req "v1: no instances" 200 POST /v1/models/churn:explain --data-binary '{"instances": []}'
equal "v1: no instances, no explanations" "$(jbody "j")" "{'explanations': []}"

# ---- parameters ----
req "params: shapley" 200 POST /v2/models/churn/explain --data-binary @v2_shapley.json
equal "params: shapley values, with standard errors" "$(jbody "(j['explanations'][0]['method'], 'std_errors' in j['explanations'][0])")" "('shapley', True)"
cp "$T/body" shap.json
equal "params: shapley values add up" "$(check_all shap.json)" "good"
req "params: probability scale" 200 POST /v2/models/churn/explain --data-binary @v2_prob.json
equal "params: the probability is infer's" "$(jbody "(j['explanations'][0]['scale'], abs(j['explanations'][0]['prediction'] - json.load(open('infer.json'))['outputs'][1]['data'][1]) < 1e-4)")" "('probability', True)"
req "params: top_k 2" 200 POST /v2/models/churn/explain --data-binary @v2_top2.json
equal "params: at most 2 reasons" "$(jbody "len(j['explanations'][0]['reasons']) <= 2")" "True"
req "params: class no" 200 POST /v2/models/churn/explain --data-binary @v2_class_no.json
equal "params: the class explained is no" "$(jbody "j['explanations'][0]['class']")" "no"
req "params: every parameter at once" 200 POST /v2/models/churn/explain --data-binary @v2_ig.json

# ---- hostile requests ----
req "bad params: unknown method" 400 POST /v2/models/churn/explain --data-binary @v2_bad_method.json
says "bad params: unknown method: named" 'parameters.method: unknown method'
req "bad params: value scale on a classifier" 400 POST /v2/models/churn/explain --data-binary @v2_bad_scale.json
says "bad params: value scale: named" 'parameters.scale'
req "bad params: unknown scale" 400 POST /v2/models/churn/explain --data-binary @v2_bad_scale_name.json
says "bad params: unknown scale: named" 'unknown scale'
req "bad params: top_k out of range" 400 POST /v2/models/churn/explain --data-binary @v2_bad_topk.json
says "bad params: top_k: named" 'parameters.top_k'
req "bad params: top_k a string" 400 POST /v2/models/churn/explain --data-binary @v2_bad_topk_type.json
req "bad params: unknown class" 400 POST /v2/models/churn/explain --data-binary @v2_bad_class.json
says "bad params: unknown class: lists the classes" '\"no\", \"yes\"'
req "bad params: unknown parameter" 400 POST /v2/models/churn/explain --data-binary @v2_bad_key.json
says "bad params: unknown parameter: named" 'parameters.steps'
req "bad params: not an object" 400 POST /v2/models/churn/explain --data-binary @v2_bad_params.json
req "v1: bad params: a method that is a number" 400 POST /v1/models/churn:explain --data-binary @v1_bad_method.json
says "v1: bad params: named" 'parameters.method'
req "too many rows: 1,001 for integrated gradients" 413 POST /v2/models/churn/explain --data-binary @v2_1001.json
says "too many rows: says the limit" 'at most 1000'
req "too many rows: 17 for shapley" 413 POST /v1/models/churn:explain --data-binary @v1_17_shapley.json
says "too many rows: shapley's limit" 'at most 16'
req "16 rows for shapley are fine" 200 POST /v1/models/churn:explain --data-binary @v1_16_shapley.json
equal "16 rows: 16 explanations" "$(jbody "len(j['explanations'])")" "16"
req "broken JSON" 400 POST /v2/models/churn/explain --data-binary '{"inputs": [}'
says "broken JSON: said so" 'malformed JSON'
req "v1: broken JSON" 400 POST /v1/models/churn:explain --data-binary '{"instances": [{]}'
req "v2: no inputs" 400 POST /v2/models/churn/explain --data-binary '{"id": "x"}'
req "v2: wrong datatype" 400 POST /v2/models/churn/explain --data-binary '{"inputs":[{"name":"account_length","shape":[1],"datatype":"INT64","data":["abc"]}]}'
says "v2: wrong datatype: where" 'inputs[0].data[0]'
req "v1: instances not a list" 400 POST /v1/models/churn:explain --data-binary '{"instances": 3}'
req "v1: an instance not an object" 400 POST /v1/models/churn:explain --data-binary '{"instances": [[1, 2]]}'
req "unknown column" 400 POST /v2/models/churn/explain --data-binary '{"inputs":[{"name":"no_such_column","shape":[1],"datatype":"FP64","data":[1]}]}'
says "unknown column: named" 'no_such_column'
req "a value the schema rejects" 400 POST /v1/models/churn:explain --data-binary '{"instances":[{"account_length": 1}, {"account_length": "twelve"}]}'
says "a rejected value: row and column named" "instances[1]: column 'account_length'"
req "v2: unknown model" 404 POST /v2/models/nosuch/explain --data-binary @v2_one.json
says "v2: unknown model: named" 'nosuch'
req "v1: unknown model" 404 POST /v1/models/nosuch:explain --data-binary @v1.json
req "v1: unknown verb" 404 POST /v1/models/churn:explode --data-binary @v1.json
says "v1: unknown verb: the verbs" ':explain'
req "GET on v2 explain" 405 GET /v2/models/churn/explain
req "GET on v1 explain" 405 GET /v1/models/churn:explain
head -c 2000000 /dev/zero | tr '\0' ' ' > huge.json
req "a body over 1 MiB" 413 POST /v2/models/churn/explain --data-binary @huge.json
req "a chunked body over 1 MiB" 413 POST /v1/models/churn:explain -H 'Transfer-Encoding: chunked' --data-binary @huge.json
kill -0 $pid 2>/dev/null && ok "the server survived the hostile requests" || fail "server died" "$(tail -5 "$T/serve.err")"

# ---- metrics ----
req "metrics" 200 GET /metrics
cp "$T/body" metrics.txt
if promtool check metrics < metrics.txt > promtool.out 2>&1; then ok "metrics: promtool check metrics passes"
else fail "metrics: promtool" "$(head -20 promtool.out)"; fi
contains "metrics: v2 explanations counted" metrics.txt "keel_requests_total{protocol=\"v2-explain\",model=\"churn\",version=\"$version\",code=\"200\"}"
contains "metrics: v1 explanations counted" metrics.txt "keel_requests_total{protocol=\"v1-explain\",model=\"churn\",version=\"$version\",code=\"200\"}"
contains "metrics: refused explanations counted" metrics.txt "keel_requests_total{protocol=\"v2-explain\",model=\"churn\",version=\"$version\",code=\"400\"}"
contains "metrics: too many rows counted" metrics.txt "keel_requests_total{protocol=\"v2-explain\",model=\"churn\",version=\"$version\",code=\"413\"}"
contains "metrics: explain latency" metrics.txt 'keel_request_duration_seconds_bucket{protocol="v2-explain",model="churn"'
equal "metrics: rows explained" "$(awk '$1 ~ /^keel_rows_total\{protocol="v1-explain"/ {print $2}' metrics.txt)" "20"

# ---- the prediction log holds predictions only ----
kill -TERM $pid
wait $pid; st=$?
equal "SIGTERM: exits 0" "$st" "0"
zstd -dc "$KEEL_HOME"/logs/*.jsonl.zst > log.jsonl 2>/dev/null
equal "log: the three predicted rows and no explanation" "$($py -c "
import json
print([json.loads(l)['protocol'] for l in open('log.jsonl')])")" "['v2', 'v2', 'v2']"
finish
