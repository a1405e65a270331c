#!/usr/bin/env bash
# End-to-end: a swapped artifact is never served as the approved champion (issue 20 item 3).
# Two valid models are trained as versions 1 and 2 of churn; version 1 is approved and made
# champion and served; then version 2's file is copied over version 1's stored artifact, as
# someone with write access to KEEL_HOME could. Every load by name, alias or version must
# refuse it, naming the mismatch: predict, explain, card, evaluate, a starting server; a
# running server keeps answering with the model it had; each refusal is in the audit trail
# (artifact.mismatch), the running server's only once however often it polls; the
# prediction log records only what was served. Putting the right bytes back makes it load.
. "$(dirname "$0")/lib.sh"
cd "$T"
export KEEL_USER=alice
py=/usr/bin/python3
head -n 1201 "$ROOT/data/mlc_churn.csv" > churn.csv
{ head -n 1 "$ROOT/data/mlc_churn.csv"; sed -n 2000,2200p "$ROOT/data/mlc_churn.csv"; } > holdout.csv
{ head -n 1 churn.csv; sed -n 2,4p churn.csv; } | cut -d, -f1-19 > rows.csv

expect "train: v1" 0 "$KEEL" train churn.csv --target churn -o churn.keel --epochs 3 -q
expect "train: v2, another valid model" 0 "$KEEL" train churn.csv --target churn -o churn2.keel \
    --name churn --epochs 2 -q --seed 11
expect "user add: an approver" 0 "$KEEL" user add bob --role approver
KEEL_USER=bob expect "approve v1" 0 "$KEEL" model approve churn:1
expect "champion: v1" 0 "$KEEL" model alias churn champion 1
sha1=$(sha256sum churn.keel | cut -d' ' -f1)
sha2=$(sha256sum churn2.keel | cut -d' ' -f1)
stored="$KEEL_HOME/artifacts/sha256/${sha1:0:2}/${sha1:2}"
[ -f "$stored" ] && ok "v1 is in the artifact store" || fail "v1 is in the artifact store" "$stored"
expect "before: predict churn@champion" 0 "$KEEL" predict churn@champion rows.csv -o before.csv

infer() { # -> $T/body; prints the HTTP status
    curl -s -o "$T/body" -w '%{http_code}' -X POST "$URL/v1/models/churn:predict" \
        --data-binary @v1.json
}
$py - rows.csv > /dev/null <<'PY'
import csv, json, sys
row = next(csv.DictReader(open(sys.argv[1])))
def typed(v):
    try: return float(v) if any(c in v for c in ".eE") else int(v)
    except ValueError: return v
open("v1.json", "w").write(json.dumps({"instances": [{k: typed(v) for k, v in row.items()}]}))
PY
start_server --model churn@champion --poll 0.2
[ -n "$URL" ] && ok "serve: starts with the intact champion" || fail "serve: starts" "$(cat serve.err)"
equal "serve: answers" "$(infer)" "200"
answer_before=$(cat "$T/body")

# ---- the swap ----
chmod u+w "$stored"
cp churn2.keel "$stored"
equal "the store now holds v2's bytes under v1's name" "$(sha256sum "$stored" | cut -d' ' -f1)" "$sha2"

refused() { # NAME CMD...: exit 1 and a message naming the mismatch, both hashes and the version
    expect "$1: refused" 1 "${@:2}"
    contains "$1: says the store was changed" "$T/err" "the artifact store was changed"
    contains "$1: names the version" "$T/err" "churn:1"
    contains "$1: names the expected sha256" "$T/err" "$sha1"
    contains "$1: names the sha256 found" "$T/err" "$sha2"
}
refused "predict churn@champion" "$KEEL" predict churn@champion rows.csv -o after.csv
[ ! -e after.csv ] && ok "predict: wrote nothing" || fail "predict: wrote nothing" "$(head -3 after.csv)"
refused "predict churn:1" "$KEEL" predict churn:1 rows.csv -o after.csv
refused "explain" "$KEEL" explain churn@champion rows.csv -o explained.csv
refused "card" "$KEEL" card churn@champion --data holdout.csv
refused "evaluate" "$KEEL" evaluate churn@champion holdout.csv
expect "an intact version still loads (churn:2)" 0 "$KEEL" predict churn:2 rows.csv -o v2.csv
expect "the file itself still loads as a file" 0 "$KEEL" predict "$stored" rows.csv -o file.csv

# ---- the running server: a reload refuses it, the old model keeps serving ----
kill -HUP $pid
sleep 1.2 # SIGHUP, then about five polls
kill -0 $pid 2>/dev/null && ok "serve: still running" || fail "serve: still running" "$(tail -3 serve.err)"
equal "serve: still answers" "$(infer)" "200"
equal "serve: with the old model, bit for bit" "$(cat "$T/body")" "$answer_before"
contains "serve: the refusal is logged" serve.err "the artifact store was changed"
equal "serve: logged once, not every poll" "$(grep -c 'the artifact store was changed' serve.err)" "1"

# ---- a server starting now refuses it ----
# (timeout: a keel that does not check would start and serve until killed, exit 124)
expect "serve: refuses to start on the swapped champion" 1 \
    timeout 20 "$KEEL" serve -p 0 --model churn@champion --no-log
contains "serve: says why" "$T/err" "the artifact store was changed"
contains "serve: names the sha256 found" "$T/err" "$sha2"

# ---- the audit trail ----
expect "audit export" 0 "$KEEL" audit export -o audit.jsonl
mismatches=$($py - audit.jsonl "$sha1" "$sha2" <<'PY'
import json, sys
n = 0
for l in open(sys.argv[1]):
    e = json.loads(l)
    if e["action"] != "artifact.mismatch": continue
    d = e["details"] if isinstance(e["details"], dict) else json.loads(e["details"])
    assert e["object"] == "model:churn:1", e
    assert d["expected"] == sys.argv[2] and d["found"] == sys.argv[3], d
    n += 1
print(n)
PY
)
# predict x2, explain, card, evaluate, the running server once, the starting server.
equal "audit: one artifact.mismatch per refusal" "$mismatches" "7"
expect "audit verify: the chain holds" 0 "$KEEL" audit verify

# ---- the right bytes back: it loads again ----
cp churn.keel "$stored"
expect "restored: predict churn@champion" 0 "$KEEL" predict churn@champion rows.csv -o restored.csv
equal "restored: the same predictions as before" "$(cmp -s before.csv restored.csv && echo same)" "same"

# ---- the prediction log: only what was served ----
kill -TERM $pid
wait $pid
zstd -dc "$KEEL_HOME"/logs/*.jsonl.zst > log.jsonl 2>/dev/null
equal "log: every line is version 1 with v1's sha256" "$($py -c "
import json
seen = {(json.loads(l)['version'], json.loads(l)['sha256']) for l in open('log.jsonl')}
print(seen == {('1', '$sha1')})")" "True"
finish
