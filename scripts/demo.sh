#!/usr/bin/env bash
# keel's main job, end to end, on the shipped real data (data/): for each data set, infer a
# schema, validate every record against it and profile it, writing the schema, the
# quarantine, the profile JSON and the HTML report under out/. Then the same on a dirty
# copy of the churn data, to show quarantine at work. Then trains a model on the churn data
# with the defaults, evaluates it on held-out rows and predicts them. All of it is recorded in a
# fresh registry (out/keel-home): datasets, the training run and the model version; a second
# identity, bound to its own key, approves the model (signed), the champion alias is set, the
# lineage is printed and the audit trail verified: events, checkpoints, every table against
# the events, and the signatures. Then the champion explains itself: reason codes for a few held-out
# customers, the model as a whole (importance, partial dependence), and a model card (HTML and
# Markdown) for the model-risk committee. Finally keel serve serves the champion over HTTPS,
# with bearer tokens: one prediction through each protocol (OIP v2, KServe v1, MLflow JSON and
# CSV), an explanation, the metrics, a clean stop, and the audit trail verified again.
# Usage: scripts/demo.sh [path/to/keel]   (builds build/keel when not given)
set -euo pipefail
cd "$(dirname "$0")/.."
if [ $# -ge 1 ]; then
    keel=$1
else
    scripts/deps.sh build
    make --no-print-directory -j2 build/keel >/dev/null
    keel=build/keel
fi
out=out
mkdir -p "$out"
# A fresh registry for this run; the demo acts as two people: "analyst" (the first user, so
# the registry's admin) trains, "reviewer" approves (four-eyes: an author cannot approve).
export KEEL_HOME=$out/keel-home KEEL_USER=analyst
# Every signed checkpoint is also appended to a witness file, which verify checks; in
# production it lives on a volume the registry's writers cannot rewrite.
export KEEL_AUDIT_WITNESS=$out/audit-witness.jsonl
rm -rf "$KEEL_HOME" "$KEEL_AUDIT_WITNESS"
declare -A target=(
    [breast_cancer_wdbc]=diagnosis [pima2]=diabetes [spam]=type [income]=INCOME
    [mlc_churn]=churn [shuttle]=Class [digits]=digit
)
for name in breast_cancer_wdbc pima2 spam income mlc_churn shuttle digits; do
    echo "== $name"
    "$keel" data infer "data/$name.csv" --target "${target[$name]}" -o "$out/$name.schema.yaml"
    "$keel" data validate "data/$name.csv" --schema "$out/$name.schema.yaml" \
        --quarantine "$out/$name.quarantine.jsonl" --max-quarantine-rate 0
    "$keel" data profile "data/$name.csv" --schema "$out/$name.schema.yaml" --no-quarantine --sha256 \
        -o "$out/$name.profile.json" --html "$out/$name.profile.html" | tail -n 3
done
echo "== dirty data: examples/churn_dirty.csv against the schema of the clean churn data"
set +e
"$keel" data validate examples/churn_dirty.csv --schema "$out/mlc_churn.schema.yaml" \
    --quarantine "$out/churn_dirty.quarantine.jsonl" --max-quarantine-rate 0.01
status=$?
set -e
echo "(exit status $status: the quarantine rate is above the 1% threshold, as expected)"
echo "first quarantined record:"
head -n 1 "$out/churn_dirty.quarantine.jsonl"
echo
echo "== model: train on the churn data with the defaults, evaluate on held-out rows, predict"
# Rows 1-4000 train, rows 4001-5000 are held out (the header goes on both files).
head -n 4001 data/mlc_churn.csv > "$out/churn_train.csv"
(head -n 1 data/mlc_churn.csv; tail -n 1000 data/mlc_churn.csv) > "$out/churn_holdout.csv"
# The reviewed schema of the churn data, with area_code marked sensitive (a location, which
# can stand in for protected traits): the model card reports quality per area for it.
sed '/- name: area_code/,/^$/ s/^    role: feature$/    role: feature\n    sensitive: true/' \
    "$out/mlc_churn.schema.yaml" > "$out/churn_model.schema.yaml"
"$keel" train "$out/churn_train.csv" --target churn -o "$out/churn.keel" \
    --schema "$out/churn_model.schema.yaml" --quarantine "$out/churn_train.quarantine.jsonl" \
    --adverse-class yes --population customers
echo "-- held-out rows:"
"$keel" evaluate "$out/churn.keel" "$out/churn_holdout.csv" --quarantine "$out/churn_holdout.quarantine.jsonl"
"$keel" predict "$out/churn.keel" "$out/churn_holdout.csv" -o "$out/churn_predictions.csv" \
    --quarantine "$out/churn_predict.quarantine.jsonl"
echo "first predictions:"
head -n 4 "$out/churn_predictions.csv"
echo
echo "== registry: approval by a second identity, the champion alias, lineage, audit"
"$keel" model list
# The reviewer proves who they are with their own Ed25519 key (kept in their config, 0600);
# the admin binds the public half to the identity, and every decision the reviewer makes is
# signed with it and checked by `keel audit verify`.
rm -f "$out/reviewer.key" "$out/reviewer.key.pub"
reviewer_pk=$(KEEL_IDENTITY_KEY=$out/reviewer.key "$keel" user key create 2>/dev/null)
"$keel" user add reviewer --role approver --public-key "$reviewer_pk"
"$keel" user list
set +e
"$keel" model approve churn:1 2>&1
echo "(refused, as it must be: the analyst wrote churn:1 and may not approve it)"
KEEL_USER=reviewer "$keel" model approve churn:1 2>&1
echo "(refused too: claiming to be the reviewer is not enough without the reviewer's key)"
set -e
KEEL_USER=reviewer KEEL_IDENTITY_KEY=$out/reviewer.key "$keel" model approve churn:1 -m "held-out AUC checked"
"$keel" model alias churn champion 1 -m "first production model"
"$keel" model history churn
"$keel" lineage churn@champion
"$keel" lineage churn@champion --dot > "$out/churn_lineage.dot"
"$keel" audit verify
"$keel" audit export -o "$out/audit.jsonl"
echo
echo "== explanations: why the champion says what it says"
# Per customer: the churn probability and the principal reasons (toward "yes", the adverse
# class), from Integrated Gradients against a typical customer of the training data.
"$keel" explain churn@champion "$out/churn_holdout.csv" --limit 200 --scale probability \
    -o "$out/churn_explanations.jsonl" -q
/usr/bin/python3 - "$out/churn_explanations.jsonl" <<'PY'
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1])]
rows.sort(key=lambda r: -r["prediction"])
for r in rows[:3]:
    print(f"row {r['row']}: P(churn) {r['prediction']:.2f} (typical customer {r['baseline_prediction']:.2f}),"
          f" completeness error {r['completeness_error']:.1e}")
    for why in r["reasons"]:
        print(f"    - {why['text']} ({why['attribution']:+.3f})")
PY
echo "-- the model as a whole, on the held-out rows:"
"$keel" explain churn@champion "$out/churn_holdout.csv" --global -q
echo "-- the model card:"
"$keel" model tag churn:1 "intended_use=Rank current mobile customers by their risk of leaving in the next quarter, so that the retention team can call the riskiest first." >/dev/null
"$keel" model tag churn:1 "owner=Customer analytics (retention models)" >/dev/null
"$keel" model tag churn:1 "limitations=Trained on 4,000 customers of one operator; not for pricing, credit or any decision about an individual without a person's review." >/dev/null
"$keel" card churn@champion --data "$out/churn_holdout.csv" -o "$out/churn.card.html" \
    --markdown "$out/churn.card.md"
echo
echo "== serving: keel serve on the champion over HTTPS, with bearer tokens; each protocol; metrics"
# A certificate for 127.0.0.1 signed by a throw-away CA (in production: your own PKI), and two
# tokens: one for the churn model's predictions and explanations, one to read /metrics. The
# registry keeps only their SHA-256; the token is printed once.
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$out/ca.key" 2>/dev/null
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$out/server.key" 2>/dev/null
chmod 600 "$out/ca.key" "$out/server.key"
openssl req -x509 -new -key "$out/ca.key" -out "$out/ca.pem" -days 2 -subj /CN=keel-demo-ca 2>/dev/null
openssl req -new -key "$out/server.key" -out "$out/server.csr" -subj /CN=127.0.0.1 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n' > "$out/server.ext"
openssl x509 -req -in "$out/server.csr" -CA "$out/ca.pem" -CAkey "$out/ca.key" -CAcreateserial \
    -out "$out/server.pem" -days 2 -extfile "$out/server.ext" 2>/dev/null
token=$("$keel" token create --model churn --role explain --name demo-app 2>/dev/null | sed -n 's/^token: //p')
ops_token=$("$keel" token create --model '*' --role read --name demo-monitoring 2>/dev/null | sed -n 's/^token: //p')
"$keel" token list
"$keel" serve --model churn@champion --port 0 --tls-cert "$out/server.pem" --tls-key "$out/server.key" \
    --require-token > "$out/serve.out" 2> "$out/serve.log" &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do grep -q "listening on" "$out/serve.out" && break; sleep 0.1; done
url=$(grep -o 'https://[0-9.:]*' "$out/serve.out")
echo "server: $url"
curl() { command curl --cacert "$out/ca.pem" -H "Authorization: Bearer $token" "$@"; }
echo "-- without a token: 401"
command curl -s --cacert "$out/ca.pem" -w ' (HTTP %{http_code})' "$url/v1/models/churn:predict" -d '{"instances":[]}'; echo
echo "-- health checks need none: GET /v2/health/ready"
command curl -s --cacert "$out/ca.pem" -o /dev/null -w 'HTTP %{http_code}' "$url/v2/health/ready"; echo
row='"state":"KS","account_length":128,"area_code":"area_code_415","international_plan":"no","voice_mail_plan":"yes","number_vmail_messages":25,"total_day_minutes":265.1,"total_day_calls":110,"total_day_charge":45.07,"total_eve_minutes":197.4,"total_eve_calls":99,"total_eve_charge":16.78,"total_night_minutes":244.7,"total_night_calls":91,"total_night_charge":11.01,"total_intl_minutes":10,"total_intl_calls":3,"total_intl_charge":2.7,"number_customer_service_calls":1'
v2=$(/usr/bin/python3 -c '
import json, sys
row = json.loads("{" + sys.argv[1] + "}")
print(json.dumps({"id": "demo-1", "inputs": [{"name": k, "shape": [1], "datatype": "BYTES" if isinstance(v, str) else "FP64", "data": [v]} for k, v in row.items()]}))' "$row")
echo "-- Open Inference Protocol v2: POST /v2/models/churn/infer"
curl -s "$url/v2/models/churn/infer" -H 'Content-Type: application/json' -d "$v2"; echo
echo "-- KServe v1: POST /v1/models/churn:predict"
curl -s "$url/v1/models/churn:predict" -d "{\"instances\":[{$row}]}"; echo
echo "-- MLflow: POST /invocations (dataframe_records)"
curl -s "$url/invocations" -H 'Content-Type: application/json' -d "{\"dataframe_records\":[{$row}]}"; echo
echo "-- MLflow: POST /invocations (text/csv)"
(head -n 1 "$out/churn_holdout.csv"; sed -n 2p "$out/churn_holdout.csv") | cut -d, -f1-19 |
    curl -s "$url/invocations" -H 'Content-Type: text/csv' --data-binary @-; echo
echo "-- explanation extension: POST /v2/models/churn/explain"
curl -s "$url/v2/models/churn/explain" -H 'Content-Type: application/json' -d "$v2" |
    /usr/bin/python3 -c 'import json,sys; e=json.load(sys.stdin)["explanations"][0]; print(json.dumps({k: e[k] for k in ("prediction","baseline_prediction","scale","completeness_error")})); [print("    -", r["text"]) for r in e["reasons"]]'
echo "-- GET /metrics (keel_ lines), with the monitoring token"
command curl -s --cacert "$out/ca.pem" -H "Authorization: Bearer $ops_token" "$url/metrics" |
    grep -E '^keel_(requests_total|rows_total|model_load_seconds)'
kill -TERM $server
wait $server
trap - EXIT
unset -f curl
echo "-- the audit trail after serving: what verify checked"
"$keel" audit verify
tail -n 2 "$out/serve.log"
echo "prediction log: $(ls "$KEEL_HOME"/logs/*.jsonl.zst)"
echo
echo "done: schemas, quarantines, profiles, reports, the model and its predictions are in $out/;"
echo "the registry is $KEEL_HOME (lineage graph: $out/churn_lineage.dot, audit trail: $out/audit.jsonl)"
ls "$out"/*.profile.html "$out"/churn.keel "$out"/churn_predictions.csv \
    "$out"/churn_explanations.jsonl "$out"/churn.card.html "$out"/churn.card.md
