# keel explain on the shipped churn data: per-row attributions add up to the prediction's
# distance from the baseline, reason codes name columns that pushed toward the adverse class
# in words with the model's population, JSON Lines and CSV agree, Shapley values come with
# standard errors, bad records are quarantined while the good ones are explained, bad options
# are usage errors, and --global reports importance with confidence intervals.
. "$(dirname "$0")/lib.sh"
cd "$T"
export SOURCE_DATE_EPOCH=1767225600
D=$ROOT/data
PY=/usr/bin/python3

# Hold out every fifth row (the header stays on both).
awk 'NR == 1 || NR % 5 != 1' "$D/mlc_churn.csv" > train.csv
awk 'NR == 1 || NR % 5 == 1' "$D/mlc_churn.csv" > test.csv

# ---- per-model settings at training time ----
expect "train: explanation settings" 0 "$KEEL" train train.csv --target churn -o churn.keel \
    --adverse-class yes --population customers -q --name churn
expect "train: an adverse class that is not a class is a usage error" 2 "$KEEL" train train.csv \
    --target churn -o bad.keel --adverse-class maybe -q --no-registry --epochs 1
contains "train: the error names the classes" "$T/err" "'no', 'yes'"
expect "train: --reasons out of range" 2 "$KEEL" train train.csv --target churn --reasons 0
expect "train: --help names the settings" 0 "$KEEL" train --help
contains "train: --help mentions --adverse-class" "$T/out" "--adverse-class LABEL"

# ---- JSON Lines ----
expect "explain: 20 rows as JSON Lines" 0 "$KEEL" explain churn.keel test.csv --limit 20 -o e.jsonl
equal "explain: one line per row" "$(wc -l < e.jsonl)" "20"
# Every record: the fields, every input, completeness within 1%, reasons that make sense.
cat > check.py <<'EOF'
import csv, json, sys
inputs = [c for c in next(csv.reader(open("test.csv"))) if c != "churn"]
bad = []
rows = [json.loads(l) for l in open(sys.argv[1])]
for i, r in enumerate(rows):
    where = "row %s" % r.get("row")
    if r.get("row") != i + 1: bad.append(where + ": row numbers run 1, 2, ...")
    if r.get("line") != i + 2: bad.append(where + ": lines run 2, 3, ... after the header")
    for k in ("prediction", "baseline_prediction", "attributions", "completeness_error", "scale",
              "class", "method", "reasons"):
        if k not in r: bad.append(where + ": no " + k)
    a = r["attributions"]
    if sorted(a) != sorted(inputs): bad.append(where + ": attributions are not over every input")
    gap = r["prediction"] - r["baseline_prediction"]
    tol = 0.01 * abs(gap) + 1e-9
    if r["completeness_error"] > tol: bad.append(where + ": completeness error %g" % r["completeness_error"])
    if abs(sum(a.values()) - gap) > tol: bad.append(where + ": sum %g != %g" % (sum(a.values()), gap))
    if r["scale"] != "log_odds" or r["class"] != "yes": bad.append(where + ": not log-odds of yes")
    for reason in r["reasons"]:
        c = reason["column"]
        if a.get(c, 0) <= 0: bad.append(where + ": reason %s has no positive attribution" % c)
        if abs(reason["attribution"] - a.get(c, 0)) > 1e-12: bad.append(where + ": reason attribution")
        if c not in reason["text"]: bad.append(where + ": reason text %r lacks %s" % (reason["text"], c))
    if len(r["reasons"]) > 4: bad.append(where + ": more than 4 reasons")
texts = [x["text"] for r in rows for x in r["reasons"]]
if not any("customers" in t for t in texts): bad.append("no reason speaks of customers")
if not texts: bad.append("no reasons at all")
print("\n".join(bad[:10]) if bad else "good")
EOF
equal "explain: every record adds up and its reasons make sense" "$($PY check.py e.jsonl)" "good"
expect "explain: JSON Lines on stdout by default" 0 "$KEEL" explain churn.keel test.csv --limit 20
equal "explain: stdout = the -o file" "$(cmp -s "$T/out" e.jsonl && echo same)" "same"
contains "explain: the summary on stderr" "$T/err" "20 explained"

# ---- CSV ----
expect "explain: CSV" 0 "$KEEL" explain churn.keel test.csv --limit 20 -o e.csv --top 2
equal "explain: CSV header" "$(head -n 1 e.csv | cut -d, -f1-8)" \
    "row,line,prediction,baseline_prediction,scale,class,completeness_error,attr_state"
equal "explain: CSV ends with the reasons" "$(head -n 1 e.csv | awk -F, '{print $(NF-1) "," $NF}')" \
    "reason_1,reason_2"
equal "explain: CSV and JSON Lines agree" "$($PY - <<'EOF'
import csv, json
j = [json.loads(l) for l in open("e.jsonl")]
c = list(csv.DictReader(open("e.csv")))
ok = len(c) == len(j) == 20
for r, x in zip(c, j):
    ok &= float(r["prediction"]) == x["prediction"] and int(r["row"]) == x["row"]
    ok &= int(r["line"]) == x["line"]
    ok &= all(float(r["attr_" + k]) == v for k, v in x["attributions"].items())
print(ok)
EOF
)" "True"
expect "explain: --format csv to stdout" 0 "$KEEL" explain churn.keel test.csv --limit 3 --format csv
equal "explain: --format csv writes CSV" "$(head -c 4 "$T/out")" "row,"

# ---- options ----
expect "explain: threads give the same output" 0 "$KEEL" explain churn.keel test.csv --limit 20 \
    --threads 3 -o e3.jsonl
equal "explain: 3 threads = default threads" "$(cmp -s e.jsonl e3.jsonl && echo same)" "same"
expect "explain: Shapley values" 0 "$KEEL" explain churn.keel test.csv --limit 5 --method shapley \
    -o s.jsonl
equal "explain: Shapley values have standard errors over every input" "$($PY - <<'EOF'
import json
rows = [json.loads(l) for l in open("s.jsonl")]
print(len(rows) == 5 and all(r["method"] == "shapley" and "exact" in r and
      sorted(r["std_errors"]) == sorted(r["attributions"]) for r in rows))
EOF
)" "True"
expect "explain: probability scale" 0 "$KEEL" explain churn.keel test.csv --limit 5 \
    --scale probability -o p.jsonl
equal "explain: probabilities are in [0, 1]" "$($PY -c "
import json
print(all(0 <= r['prediction'] <= 1 and r['scale'] == 'probability' for r in map(json.loads, open('p.jsonl'))))")" "True"
expect "explain: --class no" 0 "$KEEL" explain churn.keel test.csv --limit 1 --class no
contains "explain: the class asked for" "$T/out" '"class":"no"'
expect "explain: a registry reference" 0 "$KEEL" explain churn test.csv --limit 2 --json -o r.jsonl
equal "explain: --json summary" "$(json "$T/out" "(j['explained'], j['quarantined'])")" "(2, 0)"

# ---- quarantine ----
(head -n 4 test.csv
 echo '"KS",abc,"area_code_415","no","yes",25,265.1,110,45.07,197.4,99,16.78,244.7,91,11.01,10,3,2.7,1,"no"'
 sed -n 5,10p test.csv) > broken.csv
expect "explain: a broken file" 0 "$KEEL" explain churn.keel broken.csv -o b.jsonl --quarantine q.jsonl
equal "explain: the good rows are explained" "$(wc -l < b.jsonl)" "9"
contains "explain: the quarantine says why" q.jsonl '"bad_number"'
contains "explain: the summary (on stdout with -o) counts it" "$T/out" "1 quarantined"
# The rows name their lines: 2, 3, 4, then past the rejected record's line 5, 6 .. 11.
equal "explain: rows name their lines, the quarantine the rejected one's" "$($PY - <<'EOF'
import json
lines = [json.loads(l)["line"] for l in open("b.jsonl")]
q = [json.loads(l)["line"] for l in open("q.jsonl")]
print(lines, q)
EOF
)" "[2, 3, 4, 6, 7, 8, 9, 10, 11] [5]"

# ---- usage errors ----
expect "usage: unknown method" 2 "$KEEL" explain churn.keel test.csv --method lime
expect "usage: value scale on a classifier" 2 "$KEEL" explain churn.keel test.csv --scale value
expect "usage: unknown class" 2 "$KEEL" explain churn.keel test.csv --class maybe
expect "usage: --top 0" 2 "$KEEL" explain churn.keel test.csv --top 0
expect "usage: unknown format" 2 "$KEEL" explain churn.keel test.csv --format xml
expect "usage: unknown option" 2 "$KEEL" explain churn.keel test.csv --frobnicate
expect "usage: no file" 2 "$KEEL" explain churn.keel
expect "explain: --help" 0 "$KEEL" explain --help
expect "explain: a missing file fails" 1 "$KEEL" explain churn.keel nowhere.csv

# ---- global ----
expect "global: table" 0 "$KEEL" explain churn.keel test.csv --global --limit 400 --repeats 3
contains "global: importance with confidence intervals" "$T/out" "95% CI"
contains "global: partial dependence" "$T/out" "Partial dependence on"
expect "global: JSON" 0 "$KEEL" explain churn.keel test.csv --global --limit 400 --repeats 3 \
    --pd-points 5 --json -o g.json
equal "global: every input, intervals around the drops, 3 curves" "$($PY - <<'EOF'
import json
g = json.load(open("g.json"))
imp = g["importance"]
ok = g["metric"] == "roc_auc" and len(imp) == 19 and g["rows"] == 400
ok &= all(i["ci_low"] <= i["drop"] <= i["ci_high"] and i["mean_abs_attribution"] >= 0 for i in imp)
ok &= [i["drop"] for i in imp] == sorted((i["drop"] for i in imp), reverse=True)
ok &= imp[0]["drop"] > 0.01 and imp[0]["ci_low"] > 0
pd = g["partial_dependence"]
ok &= len(pd) == 3 and all(1 <= len(c["y"]) <= 5 and len(c["labels"]) == len(c["y"]) for c in pd)
print(ok)
EOF
)" "True"
cut -d, -f1-19 test.csv > features.csv
expect "global: needs the target" 1 "$KEEL" explain churn.keel features.csv --global
contains "global: says so" "$T/err" "target"

finish
