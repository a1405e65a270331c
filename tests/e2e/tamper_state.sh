# The registry's tables and its identities against an attacker with a shell on the registry's
# machine (issue 20, items 1 and 5), every attack made as such an attacker would, with sqlite3,
# cp and chmod on KEEL_HOME (which holds the registry's own audit signing key), and with
# Python's hashlib and openssl for what keel would have computed:
#   (a) an admin inserted into identities          (e) a version's artifact SHA-256 changed
#   (b) champion re-pointed at an unapproved version (f) a tag deleted, a role raised
#   (c) an approval inserted                       (g) the schema version rewound to hide it all
#   (d) a version's author changed
# each named by `keel audit verify` with its table, key and field; then identities bound to
# keys: a process claiming bob without bob's key is refused; a forged approval by bob (row,
# event with a matching state image, hash and even a checkpoint signed with the registry's own
# key) is found because bob's signature is missing or wrong. A registry from before schema 3
# verifies with its state "not checked" until `keel registry migrate` records a baseline.
# Run with the keel from before state coverage (KEEL=/work/main/build/keel at ce9615b): (a)-(g)
# and the forgeries pass verification, so this script fails.
. "$(dirname "$0")/lib.sh"
cd "$T"
if ! command -v sqlite3 >/dev/null || ! command -v openssl >/dev/null; then
    fail "sqlite3 and openssl are there" "the attacks are made with them"
    finish; exit
fi
MODEL=$ROOT/tests/corpus/model/kinds_small.keel
export KEEL_USER=alice
db() { sqlite3 "$KEEL_HOME/registry.db" "$@"; }

# The scene: alice (admin), bob (approver, bound to a key), carol (developer, who registers
# two versions); bob approves 1, alice makes it champion, carol tags it.
export KEEL_HOME=$T/scene
"$KEEL" user add carol --role developer >/dev/null
expect "bob makes his key" 0 env KEEL_IDENTITY_KEY="$T/bob.key" "$KEEL" user key create
BOB_PK=$(cat "$T/out")
equal "the key is 64 hex digits" "$(echo "$BOB_PK" | grep -cE '^[0-9a-f]{64}$')" "1"
equal "the key file is the person's alone (0600)" "$(stat -c %a "$T/bob.key")" "600"
expect "bob's key cannot be made twice" 1 env KEEL_IDENTITY_KEY="$T/bob.key" "$KEEL" user key create
contains "... keel never replaces a key" "$T/err" "never replaces a key"
expect "alice binds bob to it" 0 "$KEEL" user add bob --role approver --public-key "$BOB_PK"
expect "a key that is not one is refused" 2 "$KEEL" user add bob --role approver --public-key abc
contains "... saying what a key looks like" "$T/err" "64 hex digits"
KEEL_USER=carol "$KEEL" model register "$MODEL" --name churn >/dev/null
KEEL_USER=carol "$KEEL" model register "$MODEL" --name churn >/dev/null
KEEL_USER=bob expect "bob without his key: refused" 1 "$KEEL" model approve churn:1
contains "... naming the key he must hold" "$T/err" "bound to the key ed25519:${BOB_PK:0:16}"
KEEL_USER=bob KEEL_IDENTITY_KEY="$T/carol.key" expect "bob with no key file there: refused" 1 "$KEEL" model list
KEEL_IDENTITY_KEY="$T/carol.key" "$KEEL" user key create >/dev/null 2>&1
KEEL_USER=bob KEEL_IDENTITY_KEY="$T/carol.key" expect "bob with another key: refused" 1 "$KEEL" model approve churn:1
contains "... it is not bob's" "$T/err" "is not bob's key"
chmod 644 "$T/bob.key"
KEEL_USER=bob KEEL_IDENTITY_KEY="$T/bob.key" expect "bob's key readable by others: refused" 1 "$KEEL" model approve churn:1
contains "... saying to chmod it" "$T/err" "chmod 600"
chmod 600 "$T/bob.key"
KEEL_USER=bob KEEL_IDENTITY_KEY="$T/bob.key" expect "bob with his key approves" 0 "$KEEL" model approve churn:1
expect "alice makes it champion" 0 "$KEEL" model alias churn champion 1
KEEL_USER=carol expect "carol tags it" 0 "$KEEL" model tag churn:1 team=risk
expect "user list" 0 "$KEEL" user list
contains "user list: bob is authenticated by his key" "$T/out" "ed25519:${BOB_PK:0:16}"
contains "user list: the others are claimed names" "$T/out" "no: a claimed name"
expect "the untouched registry verifies" 0 "$KEEL" audit verify
contains "verify: names the state it checked" "$T/out" "every table rebuilt from the events"
contains "verify: bob's approval is signed" "$T/out" "1 event signed by identities bound to keys: all valid"
contains "verify: says who acts under a claimed name" "$T/out" "2 act under claimed names (unauthenticated"
expect "verify --json" 0 "$KEEL" audit verify --json
equal "verify --json: what was checked" "$(json "$T/out" "(j['ok'], j['chain_ok'], j['state']['checked'], j['state']['differences'], j['signatures']['checked'], j['identities']['unauthenticated'])")" "(True, True, True, 0, 1, 2)"

# attack NAME SQL: a copy of the scene, edited with sqlite3; verify must fail.
attack() {
    rm -rf "$T/$1"; cp -r "$T/scene" "$T/$1"
    KEEL_HOME=$T/$1 sqlite3 "$T/$1/registry.db" "$2"
    KEEL_HOME=$T/$1 expect "($1) verify fails" 1 "$KEEL" audit verify
}
attack a "INSERT INTO identities VALUES ('mallory', 'admin', 1, 'alice', NULL)"
contains "(a) the inserted admin is named" "$T/out" 'identities ["mallory"]: row not in the audit trail'
attack b "UPDATE aliases SET version = 2 WHERE alias = 'champion'"
contains "(b) champion's version is named" "$T/out" 'aliases ["churn","champion"]: field version is 2 in the table, the audit trail says 1'
attack c "INSERT INTO approvals(model, version, status, requested_by, requested_at, reviewer, decided_at) VALUES ('churn', 2, 'approved', 'bob', 1, 'bob', 1)"
contains "(c) the inserted approval is named" "$T/out" 'approvals [2]: row not in the audit trail'
attack d "UPDATE model_versions SET author = 'mallory' WHERE version = 1"
contains "(d) the author is named" "$T/out" 'model_versions ["churn",1]: field author is "mallory" in the table, the audit trail says "carol"'
attack e "UPDATE model_versions SET artifact_sha256 = '$(printf 'f%.0s' $(seq 64))' WHERE version = 2"
contains "(e) the artifact's SHA-256 is named" "$T/out" 'model_versions ["churn",2]: field artifact_sha256 is "ffff'
attack f "DELETE FROM tags; UPDATE identities SET roles = 'admin' WHERE name = 'carol'"
contains "(f) the deleted tag is named" "$T/out" 'tags ["model","churn:1","team"]: row missing; the audit trail says it was written'
contains "(f) the raised role is named" "$T/out" 'identities ["carol"]: field roles is "admin" in the table, the audit trail says "developer"'
attack g "DELETE FROM keel_schema_version WHERE version = 3; UPDATE aliases SET version = 2"
contains "(g) a rewound schema hides nothing: the chain has the baseline" "$T/out" 'aliases ["churn","champion"]: field version is 2'
attack h "UPDATE identities SET public_key = NULL WHERE name = 'bob'"
contains "(h) bob's key removed behind keel's back is named" "$T/out" 'identities ["bob"]: field public_key is null in the table'

# ---- a forged approval by bob, with everything but bob's key ----------------------------------
# forge HOME SIG: appends, as keel would, an approval of churn:2 by bob (the row, an event whose
# state image matches it and whose hash links) and a checkpoint over it signed with the
# registry's own audit key (which the attacker holds: it is in KEEL_HOME); SIG is "none" or
# "mallory" (a signature, by the wrong key).
forge() {
    local h=$1
    sqlite3 "$h/registry.db" "INSERT INTO approvals(model, version, status, requested_by, requested_at, reviewer, decided_at) VALUES ('churn', 2, 'approved', 'bob', 5, 'bob', 5)"
    sqlite3 -json "$h/registry.db" "SELECT * FROM approvals ORDER BY id DESC LIMIT 1" > row.json
    sqlite3 -json "$h/registry.db" "SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1" > head.json
    python3 - "$h" "$2" <<'PY' > forged.sql
import hashlib, json, subprocess, sys, time
home, sig = sys.argv[1], sys.argv[2]
row = json.load(open("row.json"))[0]; head = json.load(open("head.json"))[0]
seq, t = head["seq"] + 1, int(time.time() * 1e6)
image = {"table": "approvals", "key": [row["id"]], "row": row}
details = json.dumps({"approval": row["id"], "status": "approved", "comment": None, "state": [image]}, separators=(",", ":"))
if sig == "mallory":  # a signature, but not by bob's key
    details = details[:-1] + ',"signature":"' + "ab" * 64 + '"}'
f = ["bob", "model.approval.approve", "model:churn:2", details]
lp = lambda s: len(s.encode()).to_bytes(4, "big") + s.encode()
h = hashlib.sha256(bytes.fromhex(head["hash"]) + seq.to_bytes(8, "big") + t.to_bytes(8, "big") + b"".join(lp(x) for x in f)).hexdigest()
q = lambda s: "'" + s.replace("'", "''") + "'"
print("INSERT INTO audit_events VALUES (%d, %d, %s, %s, %s, %s, %s, %s);" % (seq, t, *map(q, f), q(head["hash"]), q(h)))
# The checkpoint, signed with the registry's audit key as keel signs it.
sk = bytes.fromhex(open(home + "/keys/audit.key").read().strip())
open("k.der", "wb").write(bytes.fromhex("302e020100300506032b657004220420") + sk[:32])
subprocess.run(["openssl", "pkey", "-inform", "DER", "-in", "k.der", "-out", "k.pem"], check=True)
msg = "keel-audit-checkpoint-v1\n%d\n%s\n%d\n" % (seq, h, t)
open("msg", "w").write(msg)
s = subprocess.run(["openssl", "pkeyutl", "-sign", "-inkey", "k.pem", "-rawin", "-in", "msg"], check=True, capture_output=True).stdout.hex()
pk = sk[32:].hex()
print("INSERT INTO audit_checkpoints VALUES (%d, %s, %d, %s, %s);" % (seq, q(h), t, q(pk), q(s)))
json.dump({"seq": seq, "time": t, "hash": h, "public_key": pk, "signature": s}, open(home + "/audit-head.json", "w"))
PY
    sqlite3 "$h/registry.db" < forged.sql
}
for how in none mallory; do
    rm -rf "$T/forged-$how"; cp -r "$T/scene" "$T/forged-$how"
    forge "$T/forged-$how" "$how"
    KEEL_HOME=$T/forged-$how expect "forged approval ($how signature): verify fails" 1 "$KEEL" audit verify
    contains "forged approval ($how): the chain and checkpoints hold (the forgery is that good)" "$T/out" "checkpoints "
    contains "forged approval ($how): the state matches its image" "$T/out" "every table rebuilt from the events"
    contains "forged approval ($how): bob's signature is what is missing" "$T/out" "model.approval.approve on model:churn:2 by bob, who is bound to a key"
done
contains "forged approval (mallory): the signature does not verify" "$T/out" "does not verify with the identity's key"

# ---- a registry from before schema 3 ------------------------------------------------------------
export KEEL_HOME=$T/old
"$KEEL" user add carol --role developer >/dev/null
KEEL_USER=carol "$KEEL" model register "$MODEL" --name churn >/dev/null
# What a keel of schema 2 left: no state in any event (the events rewritten without it and
# adopted), then no key column, no tokens.
rehash_sql=$(sqlite3 -json "$KEEL_HOME/registry.db" "SELECT * FROM audit_events ORDER BY seq" | python3 -c '
import hashlib, json, re, sys
prev = "0" * 64
lp = lambda s: len(s.encode()).to_bytes(4, "big") + s.encode()
for e in json.load(sys.stdin):
    d = json.loads(e["details"]); d.pop("state", None); d.pop("state_reset", None)
    det = json.dumps(d, separators=(",", ":"))
    h = hashlib.sha256(bytes.fromhex(prev) + e["seq"].to_bytes(8, "big") + e["time"].to_bytes(8, "big", signed=True)
                       + lp(e["actor"]) + lp(e["action"]) + lp(e["object"]) + lp(det)).hexdigest()
    print("UPDATE audit_events SET details = %s, prev_hash = \x27%s\x27, hash = \x27%s\x27 WHERE seq = %d;" % ("\x27" + det.replace("\x27", "\x27\x27") + "\x27", prev, h, e["seq"]))
    prev = h')
db "DROP TRIGGER audit_events_no_update; $rehash_sql DELETE FROM audit_checkpoints;"
rm -f "$KEEL_HOME/audit-head.json"
expect "old registry: adopt its (rewritten) events" 0 "$KEEL" audit adopt
db "DROP TABLE tokens; ALTER TABLE identities DROP COLUMN public_key; DELETE FROM keel_schema_version WHERE version = 3"
expect "old registry: verifies" 0 "$KEEL" audit verify
contains "old registry: the state is not checked, and says why" "$T/out" "state        not checked"
contains "old registry: ... and what to do" "$T/out" "keel registry migrate"
expect "old registry: migrate" 0 "$KEEL" registry migrate
expect "migrated: verifies with the state checked" 0 "$KEEL" audit verify
contains "migrated: from the baseline" "$T/out" "every table rebuilt from the events"
db "UPDATE model_versions SET author = 'mallory'"
expect "migrated: an edit after the baseline fails verify" 1 "$KEEL" audit verify
contains "migrated: ... naming the field" "$T/out" 'field author is "mallory"'
finish
