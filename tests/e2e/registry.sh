# The registry through the CLI: validate and train record datasets, runs and versions by
# themselves; approvals with separation of duties; aliases with their history; lineage both
# ways; and an audit trail that names the first bad event after every kind of tampering.
. "$(dirname "$0")/lib.sh"
cd "$T"
export KEEL_USER=alice # the first user: the registry's admin
D=$ROOT/data
H=$KEEL_HOME
awk 'NR <= 400' "$D/pima2.csv" > pima.csv

# ---- automatic recording ----
expect "validate: works with a fresh KEEL_HOME" 0 "$KEEL" data infer pima.csv -o pima.yaml
expect "validate: registers the dataset" 0 "$KEEL" data validate pima.csv --schema pima.yaml --json
equal "validate: reports the dataset id" "$(json "$T/out" "j['dataset_id']")" "1"
equal "validate: registry.db created in KEEL_HOME" "$(ls "$H")" "$(printf 'artifacts\naudit-head.json\nkeys\nregistry.db')"
equal "validate: the signing key is private" "$(stat -c %a "$H/keys/audit.key")" "600"
expect "dataset list" 0 "$KEEL" dataset list --json
equal "dataset: content hash and counts" "$(json "$T/out" "(j[0]['sha256'], j[0]['n_rows'], j[0]['n_rejected'])")" "('$(sha256sum pima.csv | cut -d' ' -f1)', 399, 0)"
expect "validate: the same content again" 0 "$KEEL" data validate pima.csv --schema pima.yaml --json
equal "validate: same content, same dataset" "$(json "$T/out" "j['dataset_id']")" "1"
expect "validate: --no-registry" 0 "$KEEL" data validate "$D/pima2.csv" --schema pima.yaml --no-registry --json
expect "dataset list after --no-registry" 0 "$KEEL" dataset list --json
equal "validate: --no-registry records nothing" "$(json "$T/out" "len(j)")" "1"

awk 'NR == 1 || NR > 400' "$D/pima2.csv" > pima_rest.csv
expect "profile: registers the dataset with its profile" 0 "$KEEL" data profile pima_rest.csv --schema pima.yaml --json
expect "dataset show: by name" 0 "$KEEL" dataset show pima_rest.csv --json
equal "dataset show: the profile is kept" "$(json "$T/out" "(j['id'], j['n_rows'], len(j['profile']['columns']))")" "(2, 369, 9)"

expect "train: records run and version" 0 "$KEEL" train pima.csv --target diabetes -o pima.keel --epochs 3 -q --json
equal "train: registry answer" "$(json "$T/out" "(j['registry']['model'], j['registry']['version'], j['registry']['dataset'])")" "('pima', 1, 1)"
run_id=$(json "$T/out" "j['registry']['run']")
sha=$(sha256sum pima.keel | cut -d' ' -f1)
stored="$H/artifacts/sha256/${sha:0:2}/${sha:2}"
equal "train: artifact kept under its SHA-256" "$(sha256sum "$stored" | cut -d' ' -f1)" "$sha"
equal "train: stored artifact is read-only" "$(stat -c %a "$stored")" "444"
expect "run show" 0 "$KEEL" run show "$run_id" --json
equal "run: status, user, seed, dataset" "$(json "$T/out" "(j['status'], j['user'], j['seed'], j['inputs'][0]['dataset'], j['outputs'][0]['model'])")" "('finished', 'alice', 42, 1, 'pima')"
equal "run: parameters and metrics kept" "$(json "$T/out" "('lr' in j['params'], 'roc_auc' in j['metrics'])")" "(True, True)"
equal "run: the training log is kept" "$(json "$T/out" "j['log'].count('\"event\":\"epoch\"')")" "3"
expect "run list (text)" 0 "$KEEL" run list
contains "run list: a table" "$T/out" "finished"
expect "train: a second version" 0 "$KEEL" train pima.csv --target diabetes -o pima.keel --epochs 3 -q --seed 7
expect "train: --name" 0 "$KEEL" train pima.csv --target diabetes -o x.keel --name pima-small --epochs 2 -q
expect "model list" 0 "$KEEL" model list --json
equal "model list: two models, newest versions" "$(json "$T/out" "[(m['name'], m['latest']) for m in j]")" "[('pima', 2), ('pima-small', 1)]"
expect "model show NAME:VERSION" 0 "$KEEL" model show pima:1 --json
equal "model show: author and artifact" "$(json "$T/out" "(j['author'], j['artifact_sha256'])")" "('alice', '$sha')"
expect "train: --no-registry" 0 "$KEEL" train pima.csv --target diabetes -o y.keel --epochs 2 -q --no-registry
expect "model list after --no-registry" 0 "$KEEL" model list --json
equal "train: --no-registry records nothing" "$(json "$T/out" "len(j)")" "2"
expect "train: a bad --name is a usage error" 2 "$KEEL" train pima.csv --target diabetes --name "bad name" -q
expect "model register: an artifact trained elsewhere" 0 "$KEEL" model register y.keel --name imported --json
equal "model register: version 1" "$(json "$T/out" "j['version']")" "1"
printf 'not a model' > junk.keel
expect "model register: refuses a file that is not a model" 1 "$KEEL" model register junk.keel --name junk

# ---- people, roles, four-eyes ----
expect "user add: approver" 0 "$KEEL" user add bob --role approver
expect "user add: operator" 0 "$KEEL" user add otto --role operator,viewer
expect "user add: viewer" 0 "$KEEL" user add vera --role viewer
expect "user add: auditor" 0 "$KEEL" user add aude --role auditor
KEEL_USER=bob expect "user add: only an admin" 1 "$KEEL" user add eve --role admin
contains "user add: refusal says why" "$T/err" "permission denied"
expect "user remove: the last admin cannot go" 1 "$KEEL" user remove alice
expect "user add: unknown role is a usage error" 2 "$KEEL" user add x --role king

expect "champion: refused without an approval" 1 "$KEEL" model alias pima champion 1
contains "champion: the refusal says what to do" "$T/err" "keel model approve pima:1"
expect "approve: the author may not approve" 1 "$KEEL" model approve pima:1
contains "approve: four-eyes named" "$T/err" "four-eyes"
KEEL_USER=vera expect "alias: a viewer may not change an alias" 1 "$KEEL" model alias pima staging 1
contains "alias: viewer refusal names the role" "$T/err" "developer"
KEEL_USER=vera expect "approve: a viewer may not approve" 1 "$KEEL" model approve pima:1
KEEL_USER=mallory expect "an unknown identity may not even read" 1 "$KEEL" model list
contains "unknown identity: told how to get access" "$T/err" "keel user add mallory"
expect "request: a review" 0 "$KEEL" model request pima:1 -m "ready for prod" --json
equal "request: pending" "$(json "$T/out" "j['status']")" "pending"
KEEL_USER=bob expect "approve: a second identity approves" 0 "$KEEL" model approve pima:1 -m "checked the metrics"
expect "alias: a developer-only author? (alice is admin) sets staging" 0 "$KEEL" model alias pima staging 2
KEEL_USER=otto expect "champion: set by an operator after approval" 0 "$KEEL" model alias pima champion 1 -m "go live"
expect "resolve: NAME@ALIAS" 0 "$KEEL" model show pima@champion --json
equal "resolve: champion is version 1" "$(json "$T/out" "(j['version'], j['aliases'])")" "(1, ['champion'])"
KEEL_USER=bob expect "reject: version 2" 0 "$KEEL" model reject pima:2 -m "worse AUC"
KEEL_USER=otto expect "champion: a rejected version is refused" 1 "$KEEL" model alias pima champion 2
contains "champion: says it was rejected" "$T/err" "rejected"
KEEL_USER=bob expect "approve: version 2 after all" 0 "$KEEL" model approve pima:2
KEEL_USER=otto expect "champion: moves to version 2" 0 "$KEEL" model alias pima champion 2
# The policy holds at every step: the champion's version cannot be rejected under it, and
# another spelling of champion is not a way around it (docs/registry.md).
KEEL_USER=bob expect "reject: the champion's version is refused" 1 "$KEEL" model reject pima:2 -m "changed my mind"
contains "reject: the refusal names the alias" "$T/err" "pima@champion points at pima:2"
contains "reject: the refusal says what to do" "$T/err" "keel model alias pima champion --remove"
KEEL_USER=otto expect "alias: CHAMPION on an approved version is refused" 1 "$KEEL" model alias pima CHAMPION 1
contains "alias: CHAMPION refusal names the protected alias" "$T/err" "another spelling of the protected alias 'champion'"
KEEL_USER=otto expect "alias: Champion is refused too" 1 "$KEEL" model alias pima Champion 2
expect "resolve: pima@CHAMPION is not the champion" 2 "$KEEL" model show pima@CHAMPION
contains "resolve: says which spelling to use" "$T/err" "pima@champion"
KEEL_USER=bob expect "reject: a later rejection revokes" 0 "$KEEL" model reject pima:1
KEEL_USER=otto expect "champion: back to a revoked version is refused" 1 "$KEEL" model alias pima champion 1
KEEL_USER=otto expect "deploy: recorded" 0 "$KEEL" model deploy pima@champion --target serve:127.0.0.1:8080
expect "tag: a version" 0 "$KEEL" model tag pima:2 owner=risk-team
expect "alias: remove" 0 "$KEEL" model alias pima staging --remove
expect "alias: removing what is not there" 1 "$KEEL" model alias pima staging --remove
expect "history" 0 "$KEEL" model history pima --json
equal "history: which version was champion when" "$(json "$T/out" "[(e['version'], e['actor']) for e in j if e['event'] == 'alias.set' and e['alias'] == 'champion']")" "[(1, 'otto'), (2, 'otto')]"
equal "history: approvals and rejections in order" "$(json "$T/out" "[(e['event'], e['version']) for e in j if e['event'].startswith('approval')]")" "[('approval.requested', 1), ('approval.approved', 1), ('approval.rejected', 2), ('approval.approved', 2), ('approval.rejected', 1)]"
equal "history: deployment and alias removal" "$(json "$T/out" "[e['event'] for e in j][-2:]")" "['deployment.active', 'alias.removed']"
expect "model show: tags" 0 "$KEEL" model show pima:2 --json
equal "model show: the tag" "$(json "$T/out" "j['tags']")" "{'owner': 'risk-team'}"

# ---- the registry's models used by name ----
cut -d, -f1-8 pima.csv > features.csv
expect "predict: a registry reference" 0 "$KEEL" predict pima@champion features.csv -o by_alias.csv
expect "predict: the same model by file" 0 "$KEEL" predict "$H/artifacts/sha256/$(sqlite3 "$H/registry.db" "SELECT substr(artifact_sha256,1,2) || '/' || substr(artifact_sha256,3) FROM model_versions WHERE model='pima' AND version=2")" features.csv -o by_file.csv
equal "predict: alias and file give the same scores" "$(cmp -s by_alias.csv by_file.csv && echo same)" "same"
expect "evaluate: NAME:VERSION" 0 "$KEEL" evaluate pima:1 pima.csv --json
expect "predict: an unknown reference" 1 "$KEEL" predict nosuch@champion features.csv
contains "predict: says there is no such model" "$T/err" "no model 'nosuch'"

# ---- lineage ----
expect "lineage: champion (json)" 0 "$KEEL" lineage pima@champion --json
equal "lineage: root is the version" "$(json "$T/out" "j['root']")" "model:pima:2"
equal "lineage: dataset -> run -> version -> alias, deployment" "$(json "$T/out" "sorted((e['from'].split(':')[0], e['relation'], e['to'].split(':')[0]) for e in j['edges'])")" "[('dataset', 'train', 'run'), ('model', 'alias', 'alias'), ('model', 'deployed', 'deployment'), ('run', 'produced', 'model')]"
expect "lineage: text" 0 "$KEEL" lineage pima:1
contains "lineage: text names the dataset" "$T/out" "pima.csv"
expect "lineage: dot" 0 "$KEEL" lineage pima --dot
contains "lineage: dot is a digraph" "$T/out" "digraph lineage {"
contains "lineage: dot has the edge" "$T/out" '"dataset:1" -> "run:'
expect "lineage: which versions were trained on this dataset" 0 "$KEEL" lineage --dataset pima.csv --json
equal "lineage: reverse question" "$(json "$T/out" "sorted(n['id'] for n in j['nodes'] if n['kind'] == 'model_version')")" "['model:pima-small:1', 'model:pima:1', 'model:pima:2']"
expect "lineage: by SHA-256 prefix" 0 "$KEEL" lineage --dataset "$(sha256sum pima.csv | cut -c1-12)" --json
expect "lineage: no such model" 1 "$KEEL" lineage nosuch
contains "lineage: says so" "$T/err" "no model 'nosuch'"
expect "lineage: no such alias" 1 "$KEEL" lineage pima@nosuch
expect "model show: bad version" 2 "$KEEL" model approve pima:x

# ---- the audit trail ----
KEEL_USER=vera expect "audit verify: needs the auditor role" 1 "$KEEL" audit verify
KEEL_USER=aude expect "audit verify: untouched chain" 0 "$KEEL" audit verify --json
equal "audit verify: ok" "$(json "$T/out" "(j['ok'], j['first_bad'], j['events'] > 40)")" "(True, 0, True)"
n_events=$(json "$T/out" "j['events']")
KEEL_USER=aude expect "audit export: JSON Lines" 0 "$KEEL" audit export -o audit.jsonl
equal "audit export: one line per event" "$(wc -l < audit.jsonl)" "$((n_events + 0))"
equal "audit export: refusals are on the record" "$(grep -c '"action":"access.denied"' audit.jsonl)" "$(grep -c '"actor":"mallory"\|"actor":"vera"\|"action":"access.denied"' audit.jsonl | head -1)"
contains "audit export: the four-eyes refusal" audit.jsonl "may not review it"
contains "audit export: the refused rejection of the champion" audit.jsonl "pima@champion points at pima:2"
contains "audit export: the refused spelling" audit.jsonl '"object":"alias:pima@CHAMPION"'
contains "audit export: the champion change" audit.jsonl '"action":"model.alias.set","object":"alias:pima@champion"'
/usr/bin/python3 - audit.jsonl > chain.txt <<'PY'
# Re-checks the chain with nothing but hashlib, as an auditor would (docs/registry.md).
import hashlib, json, struct, sys
prev = "0" * 64
for line in open(sys.argv[1]):
    e = json.loads(line)
    details = json.dumps(e["details"], separators=(",", ":"), ensure_ascii=False)
    def lp(s): b = s.encode(); return struct.pack(">I", len(b)) + b
    m = bytes.fromhex(prev) + struct.pack(">Qq", e["seq"], e["time_us"]) + lp(e["actor"]) + lp(e["action"]) + lp(e["object"]) + lp(details)
    h = hashlib.sha256(m).hexdigest()
    if h != e["hash"] or e["prev_hash"] != prev: print("bad", e["seq"]); break
    prev = h
else: print("ok")
PY
equal "audit: an independent re-check with hashlib agrees" "$(cat chain.txt)" "ok"
KEEL_USER=aude expect "audit export: CSV" 0 "$KEEL" audit export --format csv -o audit.csv
equal "audit export: CSV header" "$(head -n 1 audit.csv | tr -d '\r')" "seq,time,time_us,actor,action,object,details,prev_hash,hash"
KEEL_USER=aude expect "audit export: --since the future" 0 "$KEEL" audit export --since 2100-01-01
equal "audit export: nothing after 2100" "$(wc -c < "$T/out")" "0"
KEEL_USER=aude expect "audit export: --since 2000" 0 "$KEEL" audit export --since 2000-01-01T00:00:00Z
equal "audit export: everything after 2000" "$(wc -l < "$T/out")" "$n_events"
KEEL_USER=aude expect "audit export: a bad --since" 2 "$KEEL" audit export --since yesterday
KEEL_USER=aude expect "audit checkpoint: kept apart" 0 "$KEEL" audit checkpoint -o kept.json
KEEL_USER=aude expect "audit verify: against the kept checkpoint" 0 "$KEEL" audit verify --checkpoint kept.json

# Tampering, each on a copy of the registry, through the sqlite3 tool as an attacker would.
tamper() { # NAME SQL -> runs audit verify on a tampered copy; leaves the JSON in $T/out
    rm -rf "$T/copy"; cp -r "$H" "$T/copy"
    sqlite3 "$T/copy/registry.db" "DROP TRIGGER audit_events_no_update; DROP TRIGGER audit_events_no_delete; $2"
    KEEL_HOME="$T/copy" KEEL_USER=aude expect "tamper: $1 is detected" 1 "$KEEL" audit verify --json
}
tamper "edited actor" "UPDATE audit_events SET actor = 'nobody' WHERE seq = 5"
equal "tamper: edit names event 5" "$(json "$T/out" "j['first_bad']")" "5"
tamper "edited details" "UPDATE audit_events SET details = replace(details, 'go live', 'go home') WHERE action = 'model.alias.set' AND details LIKE '%go live%'"
bad=$(sqlite3 "$H/registry.db" "SELECT seq FROM audit_events WHERE details LIKE '%go live%'")
equal "tamper: edited details names that event" "$(json "$T/out" "j['first_bad']")" "$bad"
tamper "deleted event" "DELETE FROM audit_events WHERE seq = 7"
equal "tamper: deletion names event 7" "$(json "$T/out" "j['first_bad']")" "7"
contains "tamper: deletion says missing" "$T/out" "missing"
tamper "reordered events" "UPDATE audit_events SET seq = -1 WHERE seq = 9; UPDATE audit_events SET seq = 9 WHERE seq = 10; UPDATE audit_events SET seq = 10 WHERE seq = -1"
equal "tamper: reordering names event 9" "$(json "$T/out" "j['first_bad']")" "9"
# Insert a forged event with a correct hash of its own at a place no checkpoint signed (a
# signed place would be caught there already): the event after it no longer links.
at=$(sqlite3 "$H/registry.db" "SELECT min(seq) FROM audit_events WHERE seq > 5 AND seq NOT IN (SELECT seq FROM audit_checkpoints)")
forged=$(/usr/bin/python3 - "$H/registry.db" "$at" <<'PY'
import hashlib, sqlite3, struct, sys
db = sqlite3.connect(sys.argv[1])
at = int(sys.argv[2])
prev = db.execute("SELECT hash FROM audit_events WHERE seq = ?", (at - 1,)).fetchone()[0]
def lp(s): b = s.encode(); return struct.pack(">I", len(b)) + b
seq, t, actor, action, obj, det = at, 1, "mallory", "model.alias.set", "alias:pima@champion", "{}"
h = hashlib.sha256(bytes.fromhex(prev) + struct.pack(">Qq", seq, t) + lp(actor) + lp(action) + lp(obj) + lp(det)).hexdigest()
print(f"INSERT INTO audit_events VALUES ({seq}, {t}, '{actor}', '{action}', '{obj}', '{det}', '{prev}', '{h}')")
PY
)
tamper "inserted event" "UPDATE audit_events SET seq = seq + 1000000 WHERE seq >= $at; UPDATE audit_events SET seq = seq - 999999 WHERE seq >= 1000000; $forged"
equal "tamper: insertion names the first event that no longer links" "$(json "$T/out" "j['first_bad']")" "$((at + 1))"
last=$(sqlite3 "$H/registry.db" "SELECT max(seq) FROM audit_events")
tamper "cut-off tail" "DELETE FROM audit_events WHERE seq > $((last - 3)); DELETE FROM audit_checkpoints"
equal "tamper: truncation caught by the signed head" "$(json "$T/out" "j['first_bad']")" "$((last - 2))"
contains "tamper: truncation named" "$T/out" "trunc"
# The same cut with the head file rolled back too: only a checkpoint kept elsewhere shows it.
rm -rf "$T/copy"; cp -r "$H" "$T/copy"
sqlite3 "$T/copy/registry.db" "DROP TRIGGER audit_events_no_delete; DELETE FROM audit_events WHERE seq > $((last - 3)); DELETE FROM audit_checkpoints"
rm -f "$T/copy/audit-head.json"
KEEL_HOME="$T/copy" KEEL_USER=aude expect "tamper: head file gone, kept checkpoint catches the cut" 1 "$KEEL" audit verify --checkpoint kept.json --json
equal "tamper: the kept checkpoint names the first missing event" "$(json "$T/out" "j['first_bad']")" "$((last - 2))"
sqlite3 "$H/registry.db" "UPDATE audit_events SET actor = 'x' WHERE seq = 1" 2>"$T/trig"
contains "tamper: the triggers refuse a casual edit" "$T/trig" "append-only"

# ---- broken registries and hostile arguments ----
mkdir -p "$T/broken" && printf 'this is not a database, just text padded to a page......' > "$T/broken/registry.db"
KEEL_HOME="$T/broken" expect "a registry.db that is not a database" 1 "$KEEL" model list
contains "broken registry: clear message" "$T/err" "registry"
rm -rf "$T/newer"; cp -r "$H" "$T/newer"
sqlite3 "$T/newer/registry.db" "INSERT INTO keel_schema_version VALUES (999, 0)"
KEEL_HOME="$T/newer" expect "a registry from a newer keel" 1 "$KEEL" model list
contains "newer registry: says to upgrade" "$T/err" "newer keel"
KEEL_HOME=/proc/nope expect "an unwritable KEEL_HOME" 1 "$KEEL" model list
contains "unwritable home: names it" "$T/err" "/proc/nope"
KEEL_USER= HOME=/nonexistent expect "alias: no identity at all still works through the login name" 1 "$KEEL" model alias pima champion 1
expect "model: unknown verb" 2 "$KEEL" model frobnicate
expect "model alias: bad version" 2 "$KEEL" model alias pima champion two
expect "model alias: bad alias name" 2 "$KEEL" model alias pima "no spaces" 1
expect "model approve: needs a version" 2 "$KEEL" model approve pima
expect "run show: not a number" 2 "$KEEL" run show abc
expect "run show: no such run" 1 "$KEEL" run show 999
expect "dataset show: no such dataset" 1 "$KEEL" dataset show deadbeefdeadbeef
expect "lineage: --json and --dot together" 2 "$KEEL" lineage pima --json --dot
expect "audit: unknown verb" 2 "$KEEL" audit frob
for c in model run dataset lineage user audit; do
    expect "help: keel $c --help" 0 "$KEEL" $c --help
done
# Identity from the config file when KEEL_USER is not set.
mkdir -p cfg && printf '# keel config\nuser: bob   # the approver\n' > cfg/config.yaml
KEEL_USER= KEEL_CONFIG=cfg/config.yaml expect "config file: gives the identity" 0 "$KEEL" user whoami --json
equal "config file: user bob" "$(json "$T/out" "j['user']")" "bob"
KEEL_USER=aude expect "audit verify: still intact after all of the above" 0 "$KEEL" audit verify
finish
