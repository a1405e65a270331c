# The registry under kill -9 and under concurrent processes. tests/tools/registry_stress.c
# drives it: it prints "ack KEY" only after a write returned, and exits 1 with the registry's
# message on any error.
#   crash         writers killed at a random moment: at least 12 while they create a brand-new
#                 registry, then 200 runs on one growing KEEL_HOME (some in pairs, some while
#                 closing); the database stays intact, the audit chain verifies and every
#                 acknowledged write is there
#   concurrency   two processes writing 1,000 datasets each at once: both succeed, nobody sees
#                 "database is locked", all 2,000 writes and exactly 2,000 audit events land
#   held lock     while another process holds the write lock, a writer queues and then
#                 succeeds, and a command that only reads does not wait at all
#   simultaneous  two processes opening a brand-new KEEL_HOME at the same instant both succeed,
#                 and exactly one identity (the admin) results
. "$(dirname "$0")/lib.sh"
cd "$T"
STRESS=${KEEL_STRESS:-$ROOT/build/registry_stress}
if [ ! -x "$STRESS" ] || ! command -v sqlite3 >/dev/null; then
    fail "registry_stress and sqlite3 are there" "KEEL_STRESS=$STRESS (make build/registry_stress)"
    finish; exit
fi
export KEEL_USER=tester # the first user of every registry here, so its admin
now_ms() { echo $(($(date +%s%N) / 1000000)); }
sleep_ms() { sleep "$(printf '%d.%03d' $(($1 / 1000)) $(($1 % 1000)))"; }
sql() { sqlite3 "$1/registry.db" "$2" 2>&1; }

# check_home HOME OUT...: adds to $problems whatever is wrong with the registry in HOME: the
# database fails integrity_check, the audit chain does not verify (as the admin), a write
# acknowledged in the writers' outputs OUT... is missing, or the datasets and their audit
# events disagree (they are written in one transaction).
problems=()
check_home() {
    local home=$1 out; shift
    if [ -f "$home/registry.db" ]; then # as the kill left it, before keel opens it again
        out=$(sql "$home" 'PRAGMA integrity_check')
        [ "$out" = ok ] || problems+=("$home: integrity_check: ${out:0:300}")
    fi
    out=$(KEEL_HOME=$home "$KEEL" audit verify 2>&1) ||
        problems+=("$home: keel audit verify: ${out:0:300}")
    out=$("$STRESS" "$home" tester --check "$@" 2>&1) ||
        problems+=("$home: acknowledged writes missing: ${out:0:300}")
    out=$(sql "$home" "SELECT (SELECT count(*) FROM datasets) || ' ' ||
                       (SELECT count(*) FROM audit_events WHERE action = 'dataset.register')")
    [ "${out% *}" = "${out#* }" ] || problems+=("$home: datasets vs dataset.register events: $out")
}
# report NAME: ok when check_home found nothing since the last report, else fail with it.
report() {
    if [ ${#problems[@]} -eq 0 ]; then ok "$1"; else fail "$1" "${problems[@]:0:5}"; fi
    problems=()
}
acked() { cat "$@" | grep -c '^ack '; }

# ---- crash safety ------------------------------------------------------------------------
# How long creating a new registry takes here (process start, migrations, signing key,
# fsyncs): the kills of the first runs are spread over that window so that they land inside.
t0=$(now_ms)
"$STRESS" "$T/probe" tester --open >/dev/null 2>&1
open_ms=$(($(now_ms) - t0))
runs=200 shared=$T/crash
mkdir -p runs fresh
KEEL_HOME=$shared "$KEEL" user add dev2 --role developer >/dev/null 2>&1 ||
    fail "crash: set up the shared registry" "$(KEEL_HOME=$shared "$KEEL" user add dev2 --role developer 2>&1)"
n_killed=0 n_finished=0 bad_exit=()
# kill_run HOME DIR TAG DELAY_MS WRITERS: starts WRITERS writers (tester, then dev2) on HOME,
# their outputs in DIR/TAG.W.out and .err, and kills them all DELAY_MS later. Half the writers
# are unbounded; the others may finish first and close, so some kills land while the signed
# checkpoint is written.
kill_run() {
    local home=$1 dir=$2 tag=$3 delay=$4 writers=$5 n w st actor pids=()
    n=$((RANDOM % 2 ? 1000000 : 1 + RANDOM % 25))
    for w in $(seq 1 "$writers"); do
        actor=tester; [ "$w" -eq 2 ] && actor=dev2
        # No leak check in writers killed at random: under the sanitizers a kill that lands
        # while LeakSanitizer stops the exiting writer's threads makes it print "Unable to get
        # registers from thread", a runtime artifact, not a registry error.
        ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" \
            "$STRESS" "$home" $actor $n --prefix "c$tag.$w" >"$dir/$tag.$w.out" 2>"$dir/$tag.$w.err" &
        pids+=($!)
    done
    sleep_ms "$delay"
    { # (stderr closed: no "Killed" from bash)
        kill -9 "${pids[@]}"
        for w in $(seq 1 "$writers"); do
            wait "${pids[$((w - 1))]}"; st=$?
            if [ "$st" -eq 137 ]; then n_killed=$((n_killed + 1))
            elif [ "$st" -eq 0 ]; then n_finished=$((n_finished + 1))
            else bad_exit+=("run $tag writer $w: exit $st: $(head -c 300 "$dir/$tag.$w.err")"); fi
            [ "$st" -eq 137 ] && [ -s "$dir/$tag.$w.err" ] &&
                bad_exit+=("run $tag writer $w: $(head -c 300 "$dir/$tag.$w.err")")
        done
    } 2>/dev/null
}
t_crash=$(now_ms)
# New registries killed while being created (or first written) must open and verify
# afterwards. At least 12 runs, and on until 3 kills landed inside the creation (the
# database file is there, "opened" was not printed), up to 40.
i=0 mid_open=0
while [ $i -lt 12 ] || { [ $mid_open -lt 3 ] && [ $i -lt 40 ]; }; do
    i=$((i + 1))
    kill_run "$T/fresh$i" fresh $i $((RANDOM % (open_ms + 1))) 1
    [ -f "$T/fresh$i/registry.db" ] && ! grep -q '^opened' fresh/$i.1.out && mid_open=$((mid_open + 1))
    check_home "$T/fresh$i" fresh/$i.1.out
done
report "crash: $i new registries killed while created or first written: intact, verify, acked writes there"
equal "crash: kills landed inside the creation of a new registry ($mid_open of $i; window $open_ms ms)" \
    "$((mid_open >= 3))" 1
fresh_runs=$i
# The shared registry grows over 200 runs; every fourth has two writers, so some kills land
# while the other writer waits for the lock.
for i in $(seq 1 $runs); do
    kill_run "$shared" runs $i $((RANDOM % 41)) $((i % 4 ? 1 : 2))
    if [ $((i % 50)) -eq 0 ]; then
        check_home "$shared" runs/*.out
        report "crash: after $i killed runs: integrity_check ok, audit verifies, all $(acked runs/*.out) acked writes present"
    fi
done
t_crash=$(($(now_ms) - t_crash))
equal "crash: every writer was killed or finished cleanly, none saw an error" "${bad_exit[*]:0:3}" ""
equal "crash: most writers were killed mid-way ($n_killed killed, $n_finished finished)" \
    "$((n_killed > runs / 2))" 1
equal "crash: writes were acknowledged before the kills ($(acked runs/*.out))" \
    "$(($(acked runs/*.out) >= runs / 4))" 1
echo "     crash: $((fresh_runs + runs)) runs in $t_crash ms"

# ---- concurrency ---------------------------------------------------------------------------
H=$T/conc
KEEL_HOME=$H "$KEEL" user add dev2 --role developer >/dev/null 2>&1
before=$(sql "$H" 'SELECT count(*) FROM audit_events')
at=$(($(now_ms) + 100 + open_ms))
t_conc=$(now_ms)
"$STRESS" "$H" tester 1000 --prefix a --at $at >a.out 2>a.err & pa=$!
"$STRESS" "$H" dev2 1000 --prefix b --at $at >b.out 2>b.err & pb=$!
# A reader verifying the chain while both write must neither fail nor raise a false alarm.
verify_during=()
for k in 1 2 3; do
    sleep 0.2
    out=$(KEEL_HOME=$H "$KEEL" audit verify 2>&1) || verify_during+=("verify $k: $out")
done
wait $pa; sa=$?
wait $pb; sb=$?
t_conc=$(($(now_ms) - t_conc))
equal "concurrency: both writers exit 0" "$sa $sb" "0 0"
equal "concurrency: no 'database is locked' or 'busy' reaches a writer" \
    "$(grep -il 'locked\|busy' a.err b.err)" ""
equal "concurrency: the writers print nothing on stderr" "$(cat a.err b.err | head -c 300)" ""
equal "concurrency: 2 x 1,000 acknowledgements" "$(acked a.out) $(acked b.out)" "1000 1000"
expect "concurrency: every acknowledged write is present" 0 "$STRESS" "$H" tester --check a.out b.out
contains "concurrency: all 2,000 checked" "$T/out" "checked 2000, missing 0"
after=$(sql "$H" 'SELECT count(*) FROM audit_events')
equal "concurrency: exactly 2,000 new audit events" "$((after - before))" 2000
equal "concurrency: audit verify while they write" "${verify_during[*]}" ""
equal "concurrency: integrity_check" "$(sql "$H" 'PRAGMA integrity_check')" ok
expect "concurrency: audit verify afterwards" 0 env KEEL_HOME="$H" "$KEEL" audit verify
# How fairly the writers took turns (not a pass/fail matter: both finished).
switches=$(sql "$H" "SELECT count(*) FROM (SELECT actor, lag(actor) OVER (ORDER BY seq) AS p
           FROM audit_events WHERE action = 'dataset.register') WHERE actor != p")
echo "     concurrency: 2 x 1000 writes in $t_conc ms; the lock changed hands $switches times;" \
    "slowest write: $(grep -h '^done' a.out b.out | sed 's/.*max_ms //' | tr '\n' ' ')ms"

# ---- a write transaction held by another process -------------------------------------------
# The sqlite3 tool holds the write lock for 3 s. A writer queues behind it and then succeeds;
# a command that only reads must not wait at all (WAL: readers never wait for the writer).
rm -f locked
sqlite3 "$H/registry.db" 'BEGIN IMMEDIATE;' '.shell touch locked; sleep 3' 'COMMIT;' & plock=$!
for k in $(seq 1 200); do [ -f locked ] && break; sleep 0.01; done
t_read=$(now_ms)
run env KEEL_HOME="$H" "$KEEL" user list
t_read=$(($(now_ms) - t_read)) read_status=$status
t_write=$(now_ms)
run "$STRESS" "$H" dev2 1 --prefix held
t_write=$(($(now_ms) - t_write)) write_status=$status
wait $plock
equal "held lock: a read-only command succeeds" "$read_status" 0
equal "held lock: ... without waiting for the writer (took $t_read ms, the lock is held 3000 ms)" \
    "$((t_read < 1500))" 1
equal "held lock: a writer waits for the lock and succeeds" "$write_status" 0
equal "held lock: ... after the holder commits (took $t_write ms after the read)" \
    "$((t_read + t_write >= 2500))" 1

# ---- two processes creating the same registry at once ------------------------------------
# Both are told to start at the same wall-clock instant (--at), so their opens begin within
# microseconds. Every third round they are the same actor.
race=() rounds=40
t_race=$(now_ms)
for k in $(seq 1 $rounds); do
    R=$T/race$k
    second=dev2; [ $((k % 3)) -eq 0 ] && second=tester
    at=$(($(now_ms) + 20 + open_ms))
    "$STRESS" "$R" tester --open --at $at >r1.out 2>r1.err & p1=$!
    "$STRESS" "$R" $second --open --at $at >r2.out 2>r2.err & p2=$!
    wait $p1; s1=$?
    wait $p2; s2=$?
    [ "$s1 $s2" = "0 0" ] ||
        race+=("round $k: exit $s1 $s2: $(head -c 300 r1.err) $(head -c 300 r2.err)")
    ids=$(sql "$R" "SELECT group_concat(name || ':' || roles) FROM identities")
    if [ $second = tester ]; then
        [ "$ids" = tester:admin ] || race+=("round $k: identities '$ids', wanted tester:admin")
    elif [ "$s1 $s2" = "0 0" ]; then
        # The admin is whichever opened first; the other is no identity at all.
        case "$ids/$(grep '^roles' r1.out)/$(grep '^roles' r2.out)" in
        "tester:admin/roles admin/roles none" | "dev2:admin/roles none/roles admin") ;;
        *) race+=("round $k: identities '$ids'; tester: $(grep '^roles' r1.out); dev2: $(grep '^roles' r2.out)") ;;
        esac
    fi
    ev=$(sql "$R" "SELECT group_concat(action) FROM audit_events")
    [ "$ev" = registry.create,identity.set ] || race+=("round $k: audit events '$ev'")
    admin=${ids%%:*}
    out=$(KEEL_HOME=$R KEEL_USER=${admin:-tester} "$KEEL" audit verify 2>&1) ||
        race+=("round $k: audit verify: ${out:0:300}")
done
t_race=$(($(now_ms) - t_race))
equal "simultaneous: two processes create one registry: both succeed, exactly one admin ($rounds rounds)" \
    "${race[*]:0:4}" ""
echo "     simultaneous: $rounds rounds in $t_race ms"
finish
