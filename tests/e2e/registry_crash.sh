# The registry under kill -9 and under concurrent writers (tests/tools/registry_stress.c
# drives it; it prints "ack KEY" only after a write returned, and exits 1 with the registry's
# message on any error):
#   crash         200+ runs killed at a random moment, the first ones while they create a new
#                 registry; afterwards the database is intact, the audit chain verifies and
#                 every acknowledged write is there
#   concurrency   two processes writing 1,000 datasets each at once: both succeed, nobody sees
#                 "database is locked", all 2,000 writes and exactly 2,000 audit events land
#   simultaneous  two processes opening a brand-new KEEL_HOME at the same instant both
#                 succeed, and exactly one identity (the admin) results
. "$(dirname "$0")/lib.sh"
cd "$T"
STRESS=${KEEL_STRESS:-$ROOT/build/registry_stress}
if [ ! -x "$STRESS" ] || ! command -v sqlite3 >/dev/null; then
    fail "registry_stress and sqlite3 are there" "KEEL_STRESS=$STRESS (make build/registry_stress)"
    finish; exit
fi
export KEEL_USER=tester
"$KEEL" user add dev2 --role developer >/dev/null 2>&1 # warm the page cache for the timings
now_ms() { echo $(($(date +%s%N) / 1000000)); }
sleep_ms() { sleep "$(printf '%d.%03d' $(($1 / 1000)) $(($1 % 1000)))"; }
sql() { sqlite3 "$1/registry.db" "$2" 2>&1; }
# keep_acks OUT: the complete "ack" lines of a killed writer's stdout (a kill can cut the
# last line short; a line without its newline was never acknowledged).
keep_acks() {
    if [ -n "$(tail -c 1 "$1")" ]; then head -n -1 "$1"; else cat "$1"; fi | grep '^ack '
}

# check_home HOME ACKS: appends to $problems whatever is wrong with the registry in HOME: the
# database fails integrity_check, the audit chain does not verify (as the admin, tester), an
# acknowledged write of ACKS is missing, or the datasets and their audit events disagree.
problems=()
check_home() {
    local home=$1 acks=$2 out
    if [ -f "$home/registry.db" ]; then
        out=$(sql "$home" 'PRAGMA integrity_check')
        [ "$out" = ok ] || problems+=("$home: integrity_check: $(head -c 300 <<<"$out")")
    fi
    if ! out=$(KEEL_HOME=$home "$KEEL" audit verify 2>&1); then
        problems+=("$home: keel audit verify: $(head -c 300 <<<"$out")")
    fi
    if ! out=$("$STRESS" "$home" tester --check "$acks" 2>&1); then
        problems+=("$home: acknowledged writes missing: $(head -c 300 <<<"$out")")
    fi
    out=$(sql "$home" "SELECT (SELECT count(*) FROM datasets) || ' ' || (SELECT count(*) FROM
          audit_events WHERE action = 'dataset.register')")
    [ "${out% *}" = "${out#* }" ] || problems+=("$home: datasets / dataset.register events: $out")
}
# report NAME: ok when check_home found nothing since the last report, else fail with it.
report() {
    if [ ${#problems[@]} -eq 0 ]; then ok "$1"; else fail "$1" "${problems[@]:0:5}"; fi
    problems=()
}

# ---- crash safety ------------------------------------------------------------------------
# How long a new registry takes to create here (process start, migrations, key, fsyncs): the
# kills of the first runs are spread over that window so that they land inside it.
t0=$(now_ms)
"$STRESS" "$T/probe" tester --open >/dev/null 2>&1
open_ms=$(($(now_ms) - t0))
fresh_runs=12 runs=200 shared=$T/crash acks=$T/crash.acks
: >"$acks"
KEEL_HOME=$shared "$KEEL" user add dev2 --role developer >/dev/null 2>&1 ||
    fail "crash: set up the shared registry" "$(KEEL_HOME=$shared "$KEEL" user add dev2 --role developer 2>&1)"
mid_open=0 n_killed=0 n_finished=0 bad_exit=()
t_crash=$(now_ms)
for i in $(seq 1 $((fresh_runs + runs))); do
    if [ "$i" -le "$fresh_runs" ]; then
        home=$T/fresh$i delay=$((RANDOM % (open_ms + 1)))
    else
        home=$shared delay=$((RANDOM % 41))
    fi
    # Half the writers are unbounded; the others may finish first and close, so some kills
    # land while a signed checkpoint is being written.
    n=$((RANDOM % 2 ? 1000000 : 1 + RANDOM % 25))
    pids=() outs=()
    writers=1; [ "$i" -gt "$fresh_runs" ] && [ $((i % 4)) -eq 0 ] && writers=2
    for w in $(seq 1 $writers); do
        actor=tester; [ "$w" -eq 2 ] && actor=dev2
        "$STRESS" "$home" "$actor" "$n" --prefix "c$i.$w" >"$T/w$w.out" 2>"$T/w$w.err" &
        pids+=($!) outs+=("$T/w$w")
    done
    sleep_ms "$delay"
    kill -9 "${pids[@]}" 2>/dev/null
    for w in $(seq 1 $writers); do
        wait "${pids[$((w - 1))]}"; st=$?
        if [ "$st" -eq 137 ]; then n_killed=$((n_killed + 1))
        elif [ "$st" -eq 0 ]; then n_finished=$((n_finished + 1))
        else bad_exit+=("run $i writer $w: exit $st: $(head -c 300 "${outs[$((w - 1))]}.err")"); fi
        [ -s "${outs[$((w - 1))]}.err" ] && [ "$st" -eq 137 ] &&
            bad_exit+=("run $i writer $w (killed) wrote to stderr: $(head -c 300 "${outs[$((w - 1))]}.err")")
        keep_acks "${outs[$((w - 1))]}.out" >>"$acks"
    done
    if [ "$i" -le "$fresh_runs" ]; then
        # A brand-new registry killed while being created must open and verify afterwards.
        [ -f "$home/registry.db" ] && ! grep -q '^opened' "$T/w1.out" && mid_open=$((mid_open + 1))
        keep_acks "$T/w1.out" >"$T/fresh.acks"
        check_home "$home" "$T/fresh.acks"
        [ "$i" -eq "$fresh_runs" ] && report "crash: $fresh_runs new registries killed while created or first written reopen intact"
    elif [ $(((i - fresh_runs) % 50)) -eq 0 ]; then
        check_home "$shared" "$acks"
        report "crash: after $((i - fresh_runs)) killed runs: integrity_check ok, audit verifies, $(wc -l <"$acks") acknowledged writes present"
    fi
done
t_crash=$(($(now_ms) - t_crash))
equal "crash: every writer was killed or finished cleanly" "${bad_exit[*]:0:3}" ""
equal "crash: some kills landed inside the creation of a new registry (of $fresh_runs, window ${open_ms} ms)" "$((mid_open > 0))" "1"
equal "crash: most writers were killed mid-way ($n_killed killed, $n_finished finished)" "$((n_killed > runs / 2))" "1"
equal "crash: writes were acknowledged before the kills" "$(($(wc -l <"$acks") >= runs))" "1"
echo "     crash loop: $((fresh_runs + runs)) runs in ${t_crash} ms, $(wc -l <"$acks") acked writes, $mid_open kills inside a registry's creation"

# ---- concurrency ---------------------------------------------------------------------------
H=$T/conc
KEEL_HOME=$H "$KEEL" user add dev2 --role developer >/dev/null 2>&1
before=$(sql "$H" 'SELECT count(*) FROM audit_events')
rm -f go
"$STRESS" "$H" tester 1000 --prefix a --wait go >a.out 2>a.err & pa=$!
"$STRESS" "$H" dev2 1000 --prefix b --wait go >b.out 2>b.err & pb=$!
t_conc=$(now_ms)
touch go
# A reader verifying the chain while both write must neither fail nor raise a false alarm.
verify_during=()
for k in 1 2 3; do
    sleep 0.3
    out=$(KEEL_HOME=$H "$KEEL" audit verify 2>&1) || verify_during+=("verify $k: $out")
done
wait $pa; sa=$?
wait $pb; sb=$?
t_conc=$(($(now_ms) - t_conc))
equal "concurrency: both writers exit 0" "$sa $sb" "0 0"
equal "concurrency: no 'database is locked' or 'busy' reaches a writer" \
    "$(grep -il 'locked\|busy' a.err b.err)" ""
equal "concurrency: writers print nothing on stderr" "$(head -c 300 a.err b.err)" ""
equal "concurrency: 2,000 acknowledgements" "$(grep -c '^ack ' a.out) $(grep -c '^ack ' b.out)" "1000 1000"
cat a.out b.out | grep '^ack ' >ab.acks
expect "concurrency: every acknowledged write is present" 0 "$STRESS" "$H" tester --check ab.acks
contains "concurrency: all 2,000 checked" "$T/out" "checked 2000, missing 0"
after=$(sql "$H" 'SELECT count(*) FROM audit_events')
equal "concurrency: exactly 2,000 new audit events" "$((after - before))" "2000"
switches=$(sql "$H" "SELECT count(*) FROM (SELECT actor, lag(actor) OVER (ORDER BY seq) AS p
           FROM audit_events WHERE action = 'dataset.register') WHERE actor != p")
equal "concurrency: the writers' transactions interleaved ($switches switches)" "$((switches >= 2))" "1"
equal "concurrency: audit verify while writing" "${verify_during[*]}" ""
equal "concurrency: integrity_check" "$(sql "$H" 'PRAGMA integrity_check')" "ok"
expect "concurrency: audit verify afterwards" 0 env KEEL_HOME="$H" "$KEEL" audit verify
echo "     concurrency: 2 x 1000 writes in ${t_conc} ms"

# ---- two processes creating the same registry at once ------------------------------------
# Both wait for the file "go" (polling every 100 µs), so their opens start within a fraction of
# a millisecond. Every third round both are the same actor.
race=() rounds=30
t_race=$(now_ms)
for k in $(seq 1 $rounds); do
    R=$T/race$k
    second=dev2; [ $((k % 3)) -eq 0 ] && second=tester
    rm -f go
    "$STRESS" "$R" tester --open --wait go >r1.out 2>r1.err & p1=$!
    "$STRESS" "$R" "$second" --open --wait go >r2.out 2>r2.err & p2=$!
    sleep 0.02
    touch go
    wait $p1; s1=$?
    wait $p2; s2=$?
    [ "$s1 $s2" = "0 0" ] || race+=("round $k: exit $s1 $s2: $(head -c 300 r1.err) $(head -c 300 r2.err)")
    ids=$(sql "$R" "SELECT group_concat(name || ':' || roles) FROM identities")
    if [ "$second" = tester ]; then
        [ "$ids" = tester:admin ] || race+=("round $k: identities '$ids', wanted tester:admin")
    else
        # The admin is whichever opened first; the other is no identity at all.
        r1=$(grep '^roles' r1.out) r2=$(grep '^roles' r2.out)
        case "$ids/$r1/$r2" in
        "tester:admin/roles admin/roles none" | "dev2:admin/roles none/roles admin") ;;
        *) race+=("round $k: identities '$ids', tester saw '$r1', dev2 saw '$r2'") ;;
        esac
    fi
    ev=$(sql "$R" "SELECT group_concat(action) FROM audit_events")
    [ "$ev" = "registry.create,identity.set" ] || race+=("round $k: audit events '$ev'")
    admin=${ids%%:*}
    out=$(KEEL_HOME=$R KEEL_USER=${admin:-tester} "$KEEL" audit verify 2>&1) ||
        race+=("round $k: audit verify: $out")
done
t_race=$(($(now_ms) - t_race))
equal "simultaneous: two processes create one registry: both succeed, exactly one admin ($rounds rounds)" \
    "${race[*]:0:4}" ""
echo "     simultaneous: $rounds rounds in ${t_race} ms"
finish
