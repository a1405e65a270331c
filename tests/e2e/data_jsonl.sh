# JSON Lines: infer, validate and profile an export where every line is one JSON object.
. "$(dirname "$0")/lib.sh"
cd "$T"
# Real rows: the first 300 of the churn data, written as JSON Lines by Python's json module.
python3 - "$ROOT/data/mlc_churn.csv" <<'PY'
import csv, json, sys
rows = list(csv.DictReader(open(sys.argv[1])))[:300]
with open("churn.jsonl", "w") as f:
    for i, r in enumerate(rows):
        o = {k: (float(v) if k.startswith("total") or k in ("account_length", "number_vmail_messages") else v) for k, v in r.items()}
        if i % 50 == 7:
            o["total_day_minutes"] = None   # null is missing
        if i % 70 == 3:
            del o["total_eve_calls"]        # an absent key is missing
        f.write(json.dumps(o) + "\n")
PY
expect "jsonl: infer" 0 "$KEEL" data infer churn.jsonl --target churn -o churn.yaml
contains "jsonl: format detected" churn.yaml "format: jsonl"
expect "jsonl: validate" 0 "$KEEL" data validate churn.jsonl --schema churn.yaml --json --max-quarantine-rate 0
equal "jsonl: all accepted" "$(json "$T/out" "j['records'], j['accepted']")" "(300, 300)"
expect "jsonl: profile" 0 "$KEEL" data profile churn.jsonl --schema churn.yaml -o p.json --html p.html
equal "jsonl: nulls and absent keys are missing" "$(json p.json "[c['missing'] for c in j['columns'] if c['name'] in ('total_day_minutes','total_eve_calls')]")" "[6, 5]"

cp churn.jsonl dirty.jsonl
printf '%s\n' 'not json at all' '[1, 2, 3]' '{"state": "KS", "churn": "perhaps"}' '{"state": {"nested": true}, "churn": "no"}' >> dirty.jsonl
printf '{"state": "OH", "churn": "no", "account_length": "long"' >> dirty.jsonl   # truncated last line
expect "jsonl dirty: validate" 0 "$KEEL" data validate dirty.jsonl --schema churn.yaml --json --quarantine q.jsonl
equal "jsonl dirty: counts reconcile" "$(json "$T/out" "j['records'], j['accepted'], j['quarantined']")" "(305, 300, 5)"
equal "jsonl dirty: reasons" "$(json "$T/out" "sorted(j['reasons'])")" "['bad_json', 'not_object', 'unknown_category', 'wrong_type']"
contains "jsonl dirty: JSON error located" q.jsonl "dirty.jsonl:301:1: not valid JSON"
finish
