#!/usr/bin/env bash
# End-to-end: keel card on the shipped churn data. Trains a small model with a schema that
# marks two columns sensitive, registers it, tags its intended use (with hostile markup),
# has a second identity approve it, writes the card, checks the JSON's numbers (intervals
# contain their estimates, groups add up to the held-out rows, calibration bins too), then
# opens the HTML in headless Chromium as a reader would and checks the rendered DOM.
# Screenshots go to $KEEL_TEST_ROOT/out/test-artifacts/. Chromium missing is a failure.
. "$(dirname "$0")/lib.sh"
export KEEL_USER=analyst
art="$ROOT/out/test-artifacts"
mkdir -p "$art"
cd "$T"

head -n 3001 "$ROOT/data/mlc_churn.csv" > train.csv
{ head -n 1 "$ROOT/data/mlc_churn.csv"; tail -n 1000 "$ROOT/data/mlc_churn.csv"; } > holdout.csv
# Two broken held-out records: they must be quarantined and counted, never scored.
echo 'XX,1,area_code_415,maybe,no,0,1,1,1,1,1,1,1,1,1,1,1,1,1,no' >> holdout.csv
echo 'KS,oops,area_code_415,no,no,0,1,1,1,1,1,1,1,1,1,1,1,1,1,no' >> holdout.csv

"$KEEL" data infer train.csv --target churn -o schema.yaml >/dev/null 2>&1
python3 - <<'EOF'
s = open("schema.yaml").read()
s = s.replace("  - name: international_plan\n    type: boolean\n",
              "  - name: international_plan\n    display_name: International plan\n"
              "    type: boolean\n    sensitive: true\n")
s = s.replace("  - name: account_length\n", "  - name: account_length\n    sensitive: true\n", 1)
open("schema.yaml", "w").write(s)
EOF
contains "schema marks columns sensitive" schema.yaml "sensitive: true"
expect "train a small model" 0 "$KEEL" train train.csv --target churn --schema schema.yaml \
    -o churn.keel --epochs 15 --hidden 32,32 -q
"$KEEL" user add reviewer --role approver >/dev/null 2>&1
expect "tag intended use" 0 "$KEEL" model tag churn:1 \
    'intended_use=Rank retail customers <script>alert(1)</script> by churn risk | "retention"'
expect "author may not approve" 1 "$KEEL" model approve churn:1
KEEL_USER=reviewer expect "second identity approves" 0 "$KEEL" model approve churn:1 -m "AUC & calibration checked"
expect "champion alias" 0 "$KEEL" model alias churn champion 1

# Usage and failures.
expect "no arguments is a usage error" 2 "$KEEL" card
expect "--data is required" 2 "$KEEL" card churn@champion
expect "unknown option" 2 "$KEEL" card churn@champion --data holdout.csv --bogus
expect "--help" 0 "$KEEL" card --help
contains "--help lists --data" "$T/out" "--data FILE"
expect "unknown model" 1 "$KEEL" card nosuchmodel --data holdout.csv
expect "missing held-out file" 1 "$KEEL" card churn@champion --data nope.csv

start=$(date +%s)
expect "keel card writes the card" 0 "$KEEL" card churn@champion --data holdout.csv --json card.json
contains "card says where it wrote" "$T/out" "card: churn.card.html"
contains "quarantine reported" "$T/err" "of 1002 records quarantined"
for f in churn.card.html churn.card.md card.json holdout.quarantine.jsonl; do
    if [ -s "$f" ]; then ok "wrote $f"; else fail "wrote $f" "missing or empty"; fi
done
cp churn.card.html "$art/card.html"; cp churn.card.md "$art/card.md"; cp card.json "$art/card.json"

# The JSON's numbers.
check() { # NAME PYTHON-EXPR (True when fine)
    local got
    got=$(json card.json "$2" 2>&1)
    if [ "$got" = "True" ]; then ok "$1"; else fail "$1" "$2 -> $got"; fi
}
check "held-out counts add up" \
    "j['holdout']['records'] == 1002 and j['holdout']['quarantined'] >= 2 and j['holdout']['accepted'] + j['holdout']['quarantined'] == 1002 and j['holdout']['scored'] + j['holdout']['unlabeled'] == j['holdout']['accepted']"
check "quarantine named in the card" "j['holdout']['quarantine'] == 'holdout.quarantine.jsonl' and any('broke the model' in w for w in j['warnings'])"
check "every interval contains its estimate" \
    "all(it['low'] <= it['value'] <= it['high'] for it in j['metrics']['items'] if it['name'] != 'ece')"
check "ROC AUC is sane" \
    "[0.7 < it['value'] <= 1 for it in j['metrics']['items'] if it['name'] == 'roc_auc'] == [True]"
check "500 resamples" "j['metrics']['resamples'] == 500 and j['metrics']['n'] == j['holdout']['scored']"
check "two sensitive columns sliced" \
    "sorted(s['column'] for s in j['slices']) == ['account_length', 'international_plan']"
check "groups add up to the held-out rows" \
    "all(sum(g['n'] for g in s['groups']) == j['holdout']['scored'] for s in j['slices'])"
check "boolean groups are true and false" \
    "[g['label'] for s in j['slices'] if s['column'] == 'international_plan' for g in s['groups']][:2] == ['true', 'false']"
check "numeric groups are quartiles" \
    "len([s for s in j['slices'] if s['column'] == 'account_length'][0]['groups']) == 4"
check "calibration bins add up" \
    "len(j['calibration']['bins']) == 10 and sum(b['n'] for b in j['calibration']['bins']) == j['holdout']['scored'] and j['calibration']['class'] == 'yes'"
check "importance for every input" \
    "len(j['importance']['items']) == j['model']['inputs'] and all(it['low'] <= it['drop'] <= it['high'] for it in j['importance']['items'])"
check "partial dependence of the top columns" \
    "2 <= len(j['partial_dependence']['curves']) <= 4 and all(len(c['points']) >= 2 for c in j['partial_dependence']['curves'])"
check "registry version and approval" \
    "j['registry']['version'] == 1 and j['registry']['approvals'][0]['reviewer'] == 'reviewer' and j['registry']['approvals'][0]['status'] == 'approved' and 'champion' in j['registry']['aliases']"
check "audit references" \
    "{'model.version.register', 'model.approval.approve', 'model.alias.set', 'tag.set'} <= {a['action'] for a in j['registry']['audit']} and all(len(a['hash']) == 64 for a in j['registry']['audit'])"
check "intended use from the tag" "j['use']['intended_use'].startswith('Rank retail customers')"
check "limitations missing, with the command" \
    "j['use']['limitations'] is None and j['use']['commands']['limitations'].startswith('keel model tag churn:1 limitations=')"
check "training lineage" \
    "j['training']['records'] == 3000 and j['registry']['lineage']['datasets'][0]['role'] == 'train'"
check "same seed, same numbers" "True"
"$KEEL" card churn@champion --data holdout.csv --json again.json -o again.html --markdown again.md -q
if python3 -c "
import json, sys
a, b = json.load(open('card.json')), json.load(open('again.json'))
for k in ('metrics', 'slices', 'calibration', 'importance', 'partial_dependence'):
    assert a[k] == b[k], k
"; then ok "card is deterministic"; else fail "card is deterministic" "numbers differ between runs"; fi

# Hostile text is escaped in both forms.
if grep -q "<script" churn.card.html churn.card.md; then fail "no script in the card" "$(grep -o '.\{30\}<script.\{20\}' churn.card.html | head -2)"
else ok "no script in the card"; fi
contains "hostile tag escaped in HTML" churn.card.html "&lt;script&gt;alert(1)&lt;/script&gt;"
contains "pipe escaped in Markdown" churn.card.md '\| "retention"'
contains "CSP forbids everything external" churn.card.html "default-src 'none'"
contains "Markdown has the groups table" churn.card.md "| Group | Rows | Share | Accuracy | ROC AUC |"
contains "the card says the reviewer's name is a claim (no keys bound)" churn.card.md "Unauthenticated names: 2 of the registry's 2 identities act under a claimed name"
contains "... in HTML too" churn.card.html "Unauthenticated names"

# A card from the artifact file finds its registry record by SHA-256.
expect "card from the .keel file" 0 "$KEEL" card churn.keel --data holdout.csv --json file.json -q
check2=$(json file.json "j['registry']['model'] == 'churn' and j['registry']['version'] == 1")
equal "file card finds the registered version" "$check2" "True"

# A viewer may read the version but not the audit trail: the card is still written, its
# audit section says which role is missing and how to get it, and writing it put no refusal
# on the record (the card reads only what the roles allow).
"$KEEL" user add watcher --role viewer >/dev/null 2>&1
KEEL_USER=watcher expect "a viewer gets a card" 0 "$KEEL" card churn@champion --data holdout.csv \
    --json viewer.json -o viewer.html --markdown viewer.md -q
check_in() { # NAME FILE PYTHON-EXPR
    local got
    got=$(json "$2" "$3" 2>&1)
    if [ "$got" = "True" ]; then ok "$1"; else fail "$1" "$3 -> $got"; fi
}
check_in "viewer card: approvals, no audit events, the role named" viewer.json \
    "j['registry']['approvals'][0]['status'] == 'approved' and j['registry']['audit'] == [] and 'needs the auditor role' in j['registry']['audit_note'] and 'keel user add watcher --role viewer,auditor' in j['registry']['audit_note']"
contains "viewer card's Markdown explains the missing role" viewer.md "needs the auditor role"
"$KEEL" audit export --format jsonl -o events.jsonl >/dev/null 2>&1
denied=$(grep -c '"actor":"watcher"' events.jsonl)
equal "a viewer's card records nothing" "$denied" "0"
KEEL_USER=stranger expect "a stranger's card from the file" 0 "$KEEL" card churn.keel \
    --data holdout.csv --json stranger.json -o stranger.html --markdown stranger.md -q
check_in "stranger's card says how to be added" stranger.json \
    "'registry' not in j and 'keel user add stranger --role viewer' in j['registry_note']"

# As a reader sees it: headless Chromium.
chrome=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$chrome" ]; then
    fail "chromium is installed" "headless Chromium is needed (scripts/deps.sh build look)"
else
    ok "chromium is installed"
    flags=(--headless --no-sandbox --disable-gpu --hide-scrollbars --no-first-run
           --disable-dev-shm-usage --user-data-dir="$T/chrome")
    timeout 60 "$chrome" "${flags[@]}" --screenshot="$art/card.png" --window-size=1280,6000 \
        "file://$T/churn.card.html" >/dev/null 2>"$T/chrome.err"
    if [ -s "$art/card.png" ]; then ok "screenshot taken"; else fail "screenshot taken" "$(tail -3 "$T/chrome.err")"; fi
    # The print layout, as the committee's paper copy.
    timeout 60 "$chrome" "${flags[@]}" --print-to-pdf="$art/card.pdf" --no-pdf-header-footer \
        "file://$T/churn.card.html" >/dev/null 2>>"$T/chrome.err"
    if [ -s "$art/card.pdf" ]; then ok "prints to PDF"; else fail "prints to PDF" "$(tail -3 "$T/chrome.err")"; fi
    timeout 60 "$chrome" "${flags[@]}" --dump-dom "file://$T/churn.card.html" >dom.html 2>>"$T/chrome.err"
    python3 - dom.html >dom.check <<'EOF'
import re, sys
from html.parser import HTMLParser
class P(HTMLParser):
    def __init__(s):
        super().__init__(); s.tags = {}; s.h2 = []; s.inh2 = False; s.scripts = 0
    def handle_starttag(s, t, a):
        s.tags[t] = s.tags.get(t, 0) + 1
        if t == "h2": s.inh2 = True; s.h2.append("")
        if t == "script": s.scripts += 1
    def handle_endtag(s, t):
        if t == "h2": s.inh2 = False
    def handle_data(s, d):
        if s.inh2: s.h2[-1] += d
p = P(); p.feed(open(sys.argv[1]).read())
want = ["Intended use and limitations", "The model", "Training data and lineage",
        "Quality on held-out data", "Quality per group of sensitive columns", "Calibration",
        "What drives the model", "Partial dependence", "Approvals and audit trail"]
print("headings", all(w in p.h2 for w in want), p.h2)
print("svg", p.tags.get("svg", 0) >= 4, p.tags.get("svg", 0))
print("tables", p.tags.get("table", 0) >= 10, p.tags.get("table", 0))
print("circles", p.tags.get("circle", 0) >= 10, p.tags.get("circle", 0))
print("scripts", p.scripts == 0, p.scripts)
EOF
    for what in headings svg tables circles scripts; do
        line=$(grep "^$what " dom.check)
        case "$line" in "$what True"*) ok "rendered DOM: $what" ;; *) fail "rendered DOM: $what" "$line" ;; esac
    done
    contains "rendered DOM shows the tagged intended use" dom.html "Rank retail customers"
    contains "rendered DOM shows the approval" dom.html "AUC &amp; calibration checked"
fi
elapsed=$(( $(date +%s) - start ))
if [ "$elapsed" -le 60 ]; then ok "card and checks in ${elapsed}s"; else fail "card and checks in ${elapsed}s" "over 60 s"; fi
finish
