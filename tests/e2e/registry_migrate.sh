# Schema versions and registry locations through the CLI. A registry left at the previous
# schema (made here by rewinding a current one with the sqlite3 tool: steps 3 and 2 undone and
# their records removed, which is exactly the schema a keel of version 1 wrote) is read but not
# changed until `keel registry migrate`; --dry-run lists the step and changes nothing; the
# migration is audited and the chain still verifies. A new registry needs no migration; a
# newer one is refused. KEEL_REGISTRY chooses the store; an unknown scheme names the ones
# built in.
. "$(dirname "$0")/lib.sh"
cd "$T"
export KEEL_USER=alice # the first user: the registry's admin
H=$KEEL_HOME
D=$ROOT/data
newest=3
version() { sqlite3 "$1" "SELECT coalesce(max(version), 0) FROM keel_schema_version"; }
index() { sqlite3 "$1" "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name = 'model_versions_artifact'"; }

# ---- a new registry is made at the current schema ----
awk 'NR <= 200' "$D/pima2.csv" > pima.csv
expect "new registry: works at once" 0 "$KEEL" train pima.csv --target diabetes -o pima.keel --epochs 2 -q
equal "new registry: at the newest schema" "$(version "$H/registry.db")" "$newest"
equal "new registry: every step recorded" "$(sqlite3 "$H/registry.db" "SELECT group_concat(version) FROM keel_schema_version")" "1,2,3"
equal "new registry: the artifact index exists" "$(index "$H/registry.db")" "1"
expect "new registry: nothing to migrate" 0 "$KEEL" registry migrate --json
equal "new registry: from = to" "$(json "$T/out" "(j['from'], j['to'], j['steps'])")" "($newest, $newest, [])"
expect "user add: a developer" 0 "$KEEL" user add dora --role developer
expect "user add: an auditor" 0 "$KEEL" user add aude --role auditor

# ---- an old registry ----
sqlite3 "$H/registry.db" "DROP TABLE tokens; ALTER TABLE identities DROP COLUMN public_key; DROP INDEX model_versions_artifact; DELETE FROM keel_schema_version WHERE version >= 2"
equal "old registry: rewound to version 1" "$(version "$H/registry.db")" "1"
events=$(sqlite3 "$H/registry.db" "SELECT count(*) FROM audit_events")
expect "old registry: reads work" 0 "$KEEL" model list --json
equal "old registry: the model is there" "$(json "$T/out" "[m['name'] for m in j]")" "['pima']"
expect "old registry: show works" 0 "$KEEL" model show pima
contains "old registry: show lists the version" "$T/out" "alice"
expect "old registry: a change is refused" 1 "$KEEL" model tag pima:1 owner=me
contains "old registry: says to migrate" "$T/err" "keel registry migrate"
contains "old registry: names the versions" "$T/err" "schema version 1 and this keel uses version $newest"
expect "old registry: training refuses to record" 1 "$KEEL" train pima.csv --target diabetes -o again.keel --epochs 2 -q
contains "old registry: train says to migrate" "$T/err" "keel registry migrate"
KEEL_USER=mallory expect "old registry: an unknown identity is refused" 1 "$KEEL" model list
equal "old registry: nothing written, not even refusals" "$(sqlite3 "$H/registry.db" "SELECT count(*) FROM audit_events")" "$events"
equal "old registry: schema untouched by all that" "$(version "$H/registry.db")$(index "$H/registry.db")" "10"

expect "migrate --dry-run" 0 "$KEEL" registry migrate --dry-run
contains "migrate --dry-run: names the pending step" "$T/out" "  2  an index on model_versions(artifact_sha256)"
contains "migrate --dry-run: says nothing changed" "$T/out" "dry run: nothing changed"
KEEL_USER=dora expect "migrate --dry-run --json: any role" 0 "$KEEL" registry migrate --dry-run --json
equal "migrate --dry-run --json: the plan" "$(json "$T/out" "(j['from'], j['to'], j['dry_run'], [s['version'] for s in j['steps']], j['steps'][0]['read_compatible'])")" "(1, 3, True, [2, 3], True)"
equal "migrate --dry-run: schema untouched" "$(version "$H/registry.db")$(index "$H/registry.db")" "10"
KEEL_USER=dora expect "migrate: a developer may not" 1 "$KEEL" registry migrate
contains "migrate: the refusal names the role" "$T/err" "admin"
equal "migrate: still version 1 after the refusal" "$(version "$H/registry.db")" "1"

expect "migrate: the admin migrates" 0 "$KEEL" registry migrate --json
equal "migrate: 1 -> 2" "$(json "$T/out" "(j['from'], j['to'], j['dry_run'], [s['version'] for s in j['steps']])")" "(1, 3, False, [2, 3])"
equal "migrate: schema at the newest" "$(version "$H/registry.db")" "$newest"
equal "migrate: the index made" "$(index "$H/registry.db")" "1"
KEEL_USER=aude expect "migrate: audit export" 0 "$KEEL" audit export -o audit.jsonl
equal "migrate: an audit event per step" "$(grep -c '"action":"registry.migrate"' audit.jsonl)" "2"
equal "migrate: its details" "$(grep '"action":"registry.migrate"' audit.jsonl | head -1 | python3 -c "import json,sys; e=json.loads(sys.stdin.read()); print(e['actor'], e['object'], e['details']['from'], e['details']['to'])")" "alice registry 1 2"
KEEL_USER=aude expect "migrate: audit verify still passes" 0 "$KEEL" audit verify --json
equal "migrate: verified to the head" "$(json "$T/out" "(j['ok'], j['head_seq'] == j['checkpoint_seq'])")" "(True, True)"
expect "migrate: changes work again" 0 "$KEEL" model tag pima:1 owner=me
expect "migrate: again is a no-op" 0 "$KEEL" registry migrate
contains "migrate: says so" "$T/out" "nothing to migrate"
equal "migrate: no second event" "$(sqlite3 "$H/registry.db" "SELECT count(*) FROM audit_events WHERE action = 'registry.migrate'")" "2"

# ---- a newer registry ----
rm -rf "$T/newer"; cp -r "$H" "$T/newer"
sqlite3 "$T/newer/registry.db" "INSERT INTO keel_schema_version VALUES (99, 0)"
KEEL_HOME="$T/newer" expect "newer registry: migrate refuses" 1 "$KEEL" registry migrate
contains "newer registry: says to use a newer keel" "$T/err" "use a newer keel"
KEEL_HOME="$T/newer" expect "newer registry: reads refuse too" 1 "$KEEL" model list
equal "newer registry: untouched" "$(version "$T/newer/registry.db")" "99"

# ---- locations ----
mkdir -p store
KEEL_REGISTRY="sqlite://$T/store/reg.db" KEEL_HOME="$T/h2" expect "KEEL_REGISTRY: sqlite:///abs" 0 "$KEEL" user whoami
equal "KEEL_REGISTRY: the store is there, not in KEEL_HOME" "$(ls store) $(ls "$T/h2" | tr '\n' ' ')" "reg.db artifacts audit-head.json keys "
KEEL_REGISTRY="sqlite:store/reg.db" KEEL_HOME="$T/h2" expect "KEEL_REGISTRY: sqlite:relative" 0 "$KEEL" registry migrate --json
equal "KEEL_REGISTRY: the location is reported" "$(json "$T/out" "(j['location'], j['to'])")" "('sqlite:store/reg.db', $newest)"
KEEL_REGISTRY="sqlite:$H/registry.db" KEEL_HOME="$T/h2" expect "KEEL_REGISTRY: another home's store" 0 "$KEEL" model list --json
equal "KEEL_REGISTRY: its models" "$(json "$T/out" "[m['name'] for m in j]")" "['pima']"
mkdir -p cfg && printf 'registry: sqlite://%s/store/reg.db\n' "$T" > cfg/config.yaml
KEEL_CONFIG=cfg/config.yaml KEEL_HOME="$T/h3" expect "config file: registry:" 0 "$KEEL" user whoami
equal "config file: the same store (alice is its admin)" "$(ls "$T/h3" | grep -c registry.db)" "0"
KEEL_REGISTRY='postgresql://keel:s3cret@db.example/keel' expect "KEEL_REGISTRY: an unknown scheme" 1 "$KEEL" model list
contains "unknown scheme: names it" "$T/err" "'postgresql'"
contains "unknown scheme: names the schemes built in" "$T/err" "schemes built in: sqlite"
contains "unknown scheme: says where it came from" "$T/err" "KEEL_REGISTRY"
equal "unknown scheme: the password is not repeated" "$(grep -c s3cret "$T/err")" "0"
KEEL_REGISTRY="$T/store/reg.db" expect "KEEL_REGISTRY: a bare path wants a scheme" 1 "$KEEL" model list
contains "bare path: says so" "$T/err" "must start with a scheme"
KEEL_REGISTRY="sqlite://$T/no/such/dir/reg.db" expect "KEEL_REGISTRY: a directory that is not there" 1 "$KEEL" model list
contains "missing directory: names the file" "$T/err" "/no/such/dir/reg.db"

# ---- usage ----
expect "registry --help" 0 "$KEEL" registry --help
contains "registry --help: KEEL_REGISTRY explained" "$T/out" "KEEL_REGISTRY"
expect "registry migrate --help" 0 "$KEEL" registry migrate --help
expect "registry: no verb" 2 "$KEEL" registry
expect "registry: unknown verb" 2 "$KEEL" registry frob
expect "registry migrate: unknown option" 2 "$KEEL" registry migrate --force
expect "--dry-run belongs to registry migrate alone" 2 "$KEEL" model tag pima:1 x=y --dry-run
finish
