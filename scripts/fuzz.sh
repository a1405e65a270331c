#!/usr/bin/env bash
# Runs every fuzz target (fuzz/*.c) with clang's libFuzzer + ASan + UBSan for SECONDS each,
# starting from its seed corpus in tests/corpus/NAME. Grown corpora and crash inputs stay in
# fuzz/corpus-work (not in the tree); a crash fails the run and names the input to add to
# tests/corpus/NAME so that `make test` replays it forever after.
# Usage: scripts/fuzz.sh [SECONDS] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-30}; shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    for f in fuzz/*.c; do [ "$f" = fuzz/replay.c ] || targets+=("$(basename "$f" .c)"); done
fi
build=build-fuzz
flags="-O1 -g -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined"
objs=$(for t in "${targets[@]}"; do printf '%s/fuzz/%s.o ' "$build" "$t"; done)
make --no-print-directory -j2 BUILD=$build CC=clang WERROR= OPT="$flags" \
    KERNEL_FLAGS=-fno-sanitize=undefined $build/keel_all.a $objs >/dev/null
status=0
for t in "${targets[@]}"; do
    clang -fsanitize=fuzzer,address,undefined -o "$build/fuzz-$t" "$build/fuzz/$t.o" \
        "$build/keel_all.a" -lmicrohttpd -lgnutls -lzstd -lsqlite3 -lsodium -lyaml -ldnnl -lgomp -lm -lpthread
    work=fuzz/corpus-work/$t; mkdir -p "$work" fuzz/corpus-work/crashes
    cp -n tests/corpus/"$t"/* "$work"/ 2>/dev/null || true
    echo "fuzz $t: ${secs}s"
    maxlen=65536
    [ "$t" = model ] && maxlen=262144 # a whole small artifact
    if "$build/fuzz-$t" -max_total_time="$secs" -max_len=$maxlen -timeout=10 -rss_limit_mb=2048 \
        -artifact_prefix=fuzz/corpus-work/crashes/"$t"- -print_final_stats=1 "$work" \
        >"$build/fuzz-$t.log" 2>&1; then
        grep -E 'stat::number_of_executed_units|stat::peak_rss' "$build/fuzz-$t.log" | sed 's/^/  /'
    else
        status=1
        echo "fuzz $t: FAILED — see $build/fuzz-$t.log; crash inputs in fuzz/corpus-work/crashes/"
        tail -n 40 "$build/fuzz-$t.log"
    fi
done
exit $status
