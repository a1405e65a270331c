# The audit chain against an attacker with a shell on the registry's machine (issue 20, item
# 2): each attack is done the way such an attacker would, with sqlite3, rm, cp and chmod on
# KEEL_HOME, and hashes computed with Python's hashlib from the documented format.
#   (a) delete the newest events and their checkpoints, and remove audit-head.json
#   (b) edit an event, rewrite every later hash correctly, delete every checkpoint (and the
#       head file)
#   (c) append a correctly hashed event after the last checkpoint: verify fails, and the next
#       write refuses instead of signing over it
#   (d) with a witness configured, roll registry.db and audit-head.json back to a copy
#   (e) a signing key that group or others may read is refused, in KEEL_HOME or outside it
# and what must keep working: a head file that lags (a crash between commit and its write),
# a key kept outside KEEL_HOME, `keel audit adopt`, and a registry written by an older keel
# (KEEL_OLD, default /work/main/build/keel, when it is there).
# Run with the keel from before anchoring (KEEL=/work/main/build/keel), (a) to (e) fail.
. "$(dirname "$0")/lib.sh"
cd "$T"
if ! command -v sqlite3 >/dev/null; then
    fail "sqlite3 is there" "the attacks are made with the sqlite3 tool"
    finish; exit
fi
MODEL=$ROOT/tests/corpus/model/kinds_small.keel
db() { sqlite3 "$KEEL_HOME/registry.db" "$@"; }
count() { db "SELECT count(*) FROM $1"; }
head_seq() { db "SELECT coalesce(max(seq), 0) FROM audit_events"; }

# A registry with some history: identities, a model, tags (one transaction each).
fresh() {
    export KEEL_HOME=$T/$1
    "$KEEL" user add bob --role developer,auditor >/dev/null &&
        "$KEEL" model register "$MODEL" --name churn >/dev/null &&
        for k in 1 2 3 4; do "$KEEL" model tag churn:1 "k$k=v$k" >/dev/null || return 1; done
}

# rehash FROM: prints the SQL that rewrites prev_hash and hash of every event from seq FROM on,
# so that the chain links again: what an attacker who knows the format computes.
rehash() {
    sqlite3 -json "$KEEL_HOME/registry.db" \
        "SELECT seq, time, actor, action, object, details, prev_hash, hash FROM audit_events ORDER BY seq" |
        python3 -c '
import hashlib, json, sys
start = int(sys.argv[1]); prev = None
lp = lambda s: len(s.encode()).to_bytes(4, "big") + s.encode()
for e in json.load(sys.stdin):
    if e["seq"] >= start:
        p = prev if prev is not None else e["prev_hash"]
        h = hashlib.sha256(bytes.fromhex(p) + e["seq"].to_bytes(8, "big") + e["time"].to_bytes(8, "big", signed=True)
                           + lp(e["actor"]) + lp(e["action"]) + lp(e["object"]) + lp(e["details"])).hexdigest()
        print("UPDATE audit_events SET prev_hash = \x27%s\x27, hash = \x27%s\x27 WHERE seq = %d;" % (p, h, e["seq"]))
        prev = h
    else:
        prev = e["hash"]' "$1"
}
# next_event ACTION: the SQL inserting a correctly hashed event after the head.
next_event() {
    sqlite3 -json "$KEEL_HOME/registry.db" "SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1" |
        python3 -c '
import hashlib, json, sys, time
e = json.load(sys.stdin)[0]; seq = e["seq"] + 1; t = int(time.time() * 1e6)
f = ["tester", sys.argv[1], "model:churn:1", "{\"key\":\"risk\",\"value\":\"low\"}"]
lp = lambda s: len(s.encode()).to_bytes(4, "big") + s.encode()
h = hashlib.sha256(bytes.fromhex(e["hash"]) + seq.to_bytes(8, "big") + t.to_bytes(8, "big")
                   + b"".join(lp(x) for x in f)).hexdigest()
print("INSERT INTO audit_events VALUES (%d, %d, \x27%s\x27, \x27%s\x27, \x27%s\x27, \x27%s\x27, \x27%s\x27, \x27%s\x27);"
      % (seq, t, f[0], f[1], f[2], f[3], e["hash"], h))' "$1"
}
NO_TRIGGERS="DROP TRIGGER IF EXISTS audit_events_no_update; DROP TRIGGER IF EXISTS audit_events_no_delete;"

# ---- the untouched registry verifies ---------------------------------------------------------
fresh clean || fail "setup: a registry with history" "$(cat "$T/err" 2>/dev/null)"
expect "clean: verify" 0 "$KEEL" audit verify
contains "clean: verified" "$T/out" "verified"
equal "clean: every write signed its head in its transaction (newest checkpoint at the head)" \
    "$(db 'SELECT max(seq) FROM audit_checkpoints')" "$(head_seq)"
# Transactions: the registry's creation, user add, model register, four tags.
equal "clean: one checkpoint per write transaction (7 transactions)" "$(count audit_checkpoints)" 7

# ---- (a) cut the tail and remove the head file ---------------------------------------------
fresh a
n=$(head_seq)
db "$NO_TRIGGERS DELETE FROM audit_events WHERE seq > $((n - 2));
    DELETE FROM audit_checkpoints WHERE seq > $((n - 2));"
rm "$KEEL_HOME/audit-head.json"
expect "(a) tail and head file removed: verify fails" 1 "$KEEL" audit verify
contains "(a) ... naming the missing head file" "$T/out" "audit-head.json is missing"
expect "(a) ... and the next write refuses" 1 "$KEEL" model tag churn:1 after=cut
contains "(a) ... saying to run keel audit verify" "$T/err" "keel audit verify"
equal "(a) ... and did not recreate the head file" "$([ -e "$KEEL_HOME/audit-head.json" ] && echo there)" ""

# ---- (b) edit, rewrite every later hash, delete every checkpoint ----------------------------
fresh b
db "$NO_TRIGGERS UPDATE audit_events SET actor = 'mallory' WHERE seq = 3;"
db "$(rehash 3) DELETE FROM audit_checkpoints;"
rm "$KEEL_HOME/audit-head.json"
expect "(b) event edited, chain rehashed, checkpoints deleted: verify fails" 1 "$KEEL" audit verify
# (Not "edited": the rewritten chain links and hashes, only the signatures are missing.)
contains "(b) ... naming events no signed checkpoint covers" "$T/out" \
    "BROKEN at event 1: events 1 to $(head_seq) are not covered by a signed checkpoint"
fresh b2 # the same with the head file left in place
db "$NO_TRIGGERS UPDATE audit_events SET actor = 'mallory' WHERE seq = 3;"
db "$(rehash 3) DELETE FROM audit_checkpoints;"
expect "(b) ... with the head file kept: verify fails" 1 "$KEEL" audit verify
contains "(b) ... naming the head event's signed hash" "$T/out" "does not have the hash"

# ---- (c) a correctly hashed event appended after the last checkpoint ------------------------
fresh c
n=$(head_seq) cps=$(count audit_checkpoints)
db "$(next_event tag.set)"
equal "(c) the appended event links to the chain (attack set up)" "$(head_seq)" "$((n + 1))"
expect "(c) an appended event: verify fails" 1 "$KEEL" audit verify
contains "(c) ... naming it as not covered by a signed checkpoint" "$T/out" \
    "BROKEN at event $((n + 1)): events $((n + 1)) to $((n + 1)) are not covered by a signed checkpoint"
expect "(c) the next keel model write refuses" 1 "$KEEL" model tag churn:1 next=write
contains "(c) ... saying why" "$T/err" "not covered by a signed checkpoint"
contains "(c) ... and to run keel audit verify" "$T/err" "keel audit verify"
equal "(c) ... and signed nothing, wrote no event" "$(count audit_checkpoints) $(head_seq)" "$cps $((n + 1))"
expect "(c) keel audit checkpoint refuses to sign over it too" 1 "$KEEL" audit checkpoint
equal "(c) ... no checkpoint" "$(count audit_checkpoints)" "$cps"
# An admin who has looked at the event and vouches for it adopts it, on the record.
expect "(c) keel audit adopt: an admin vouches for the unsigned events" 0 "$KEEL" audit adopt
contains "(c) ... names them" "$T/out" "adopted events $((n + 1)) to $((n + 1))"
equal "(c) ... recorded as audit.adopt" "$(db "SELECT action FROM audit_events WHERE seq = $((n + 2))")" "audit.adopt"
expect "(c) ... then verify passes" 0 "$KEEL" audit verify
expect "(c) ... and writes go on" 0 "$KEEL" model tag churn:1 after=adopt
expect "(c) keel audit adopt refuses when there is nothing to adopt" 1 "$KEEL" audit adopt
KEEL_USER=bob expect "(c) ... and is for admins only" 1 "$KEEL" audit adopt

# ---- (d) a witness on another volume; the registry rolled back to a copy ---------------------
mkdir -p "$T/witness-volume"
export KEEL_AUDIT_WITNESS=$T/witness-volume/keel-witness.jsonl
fresh d
equal "(d) the witness got one line per write" "$(wc -l <"$KEEL_AUDIT_WITNESS")" "$(count audit_checkpoints)"
expect "(d) with the witness: verify" 0 "$KEEL" audit verify
cp "$KEEL_HOME/registry.db" "$T/registry.db.copy"
cp "$KEEL_HOME/audit-head.json" "$T/audit-head.json.copy"
n=$(head_seq)
"$KEEL" model tag churn:1 later=1 >/dev/null && "$KEEL" model tag churn:1 later=2 >/dev/null
expect "(d) later writes verify" 0 "$KEEL" audit verify
cp "$T/registry.db.copy" "$KEEL_HOME/registry.db"
rm -f "$KEEL_HOME/registry.db-wal" "$KEEL_HOME/registry.db-shm"
cp "$T/audit-head.json.copy" "$KEEL_HOME/audit-head.json"
equal "(d) the registry and head file rolled back (attack set up)" "$(head_seq)" "$n"
expect "(d) rolled back: verify fails" 1 "$KEEL" audit verify
contains "(d) ... naming the witness" "$T/out" "truncated: the witness names event $((n + 2))"
# The same cut made with sqlite3 on the live database, the head file rolled back by hand.
export KEEL_AUDIT_WITNESS=$T/witness-volume/keel-witness-2.jsonl
fresh d2
n=$(head_seq)
cp "$KEEL_HOME/audit-head.json" "$T/head.copy"
"$KEEL" model tag churn:1 later=1 >/dev/null
db "$NO_TRIGGERS DELETE FROM audit_events WHERE seq > $n; DELETE FROM audit_checkpoints WHERE seq > $n;"
cp "$T/head.copy" "$KEEL_HOME/audit-head.json"
expect "(d) events and checkpoints deleted, head file rolled back: verify fails" 1 "$KEEL" audit verify
contains "(d) ... naming the witness" "$T/out" "the witness names event $((n + 1))"
rm "$KEEL_AUDIT_WITNESS"
expect "(d) a configured witness that is gone: verify fails" 1 "$KEEL" audit verify
contains "(d) ... saying so" "$T/out" "keel-witness-2.jsonl is missing"
unset KEEL_AUDIT_WITNESS

# ---- (e) the signing key's file mode, and a key outside KEEL_HOME -----------------------------
fresh e
chmod 644 "$KEEL_HOME/keys/audit.key"
expect "(e) a key file others can read (644): refused" 1 "$KEEL" model tag churn:1 x=1
contains "(e) ... saying chmod 600" "$T/err" "chmod 600 $KEEL_HOME/keys/audit.key"
expect "(e) ... for reading commands too" 1 "$KEEL" audit verify
chmod 600 "$KEEL_HOME/keys/audit.key"
expect "(e) chmod 600: accepted again" 0 "$KEEL" model tag churn:1 x=1
mkdir -m 700 "$T/secure"
mv "$KEEL_HOME/keys/audit.key" "$T/secure/audit.key"
mv "$KEEL_HOME/keys/audit.pub" "$T/secure/audit.key.pub"
export KEEL_AUDIT_KEY=$T/secure/audit.key
expect "(e) the key moved outside KEEL_HOME (KEEL_AUDIT_KEY): writes go on" 0 "$KEEL" model tag churn:1 x=2
expect "(e) ... and verify with it" 0 "$KEEL" audit verify
equal "(e) ... and no new key appeared in KEEL_HOME" "$(ls "$KEEL_HOME/keys")" ""
chmod 640 "$KEEL_AUDIT_KEY"
expect "(e) that key readable by its group (640): refused" 1 "$KEEL" model list
contains "(e) ... saying chmod 600" "$T/err" "chmod 600 $KEEL_AUDIT_KEY"
chmod 600 "$KEEL_AUDIT_KEY"
unset KEEL_AUDIT_KEY
mkdir -p "$T/cfg"
printf 'audit_key: %s\n' "$T/secure/audit.key" >"$T/cfg/config.yaml"
KEEL_CONFIG=$T/cfg/config.yaml expect "(e) audit_key: in the config file works as KEEL_AUDIT_KEY" 0 "$KEEL" audit verify

# ---- a crash between the commit and the head file's write -----------------------------------
fresh lag
cp "$KEEL_HOME/audit-head.json" "$T/lag.copy"
"$KEEL" model tag churn:1 lag=1 >/dev/null
cp "$T/lag.copy" "$KEEL_HOME/audit-head.json" # as if the writer died right after its commit
expect "lag: a head file one write behind verifies (the checkpoint row covers the write)" 0 "$KEEL" audit verify
expect "lag: ... and the next write goes on" 0 "$KEEL" model tag churn:1 lag=2
equal "lag: ... and moves the head file forward" "$(json "$KEEL_HOME/audit-head.json" "j['seq']")" "$(head_seq)"

# ---- a registry written by the keel before anchoring -----------------------------------------
OLD=${KEEL_OLD:-/work/main/build/keel}
if [ -x "$OLD" ] && [ "$OLD" != "$KEEL" ]; then
    export KEEL_HOME=$T/upgrade
    "$OLD" user add bob --role developer >/dev/null && "$OLD" model register "$MODEL" --name churn >/dev/null &&
        "$OLD" model tag churn:1 a=1 >/dev/null
    expect "upgrade: a registry from the older keel verifies" 0 "$KEEL" audit verify
    expect "upgrade: the first write signs its head as usual" 0 "$KEEL" model tag churn:1 b=2
    expect "upgrade: ... and it verifies" 0 "$KEEL" audit verify
else
    echo "     (upgrade: no older keel at $OLD; not checked)"
fi
finish
