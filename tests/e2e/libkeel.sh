# libkeel, the embeddable runtime: `make install` into a temporary prefix; the installed tree
# (shared library with its ABI links, static library, keel.h, keel.pc); the shared library's
# exports (exactly the functions keel.h declares, which src/libkeel.map must list) and
# dependencies (no SQLite, HTTP, YAML or zstd); and examples/embed built against the
# installed copy with pkg-config, dynamically and statically, predicting exactly what
# `keel predict` predicts.
. "$(dirname "$0")/lib.sh"
cd "$T"
P=$T/prefix

# The library is installed from the normal build (build/), also when the tests run a
# sanitizer build: a sanitized libkeel.so would need the sanitizer runtime in every program
# that links it. make's variables from an outer `make test SANITIZE=1` must not leak in.
if env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -C "$ROOT" -s -j2 SANITIZE= BUILD=build \
    install PREFIX="$P" >make.log 2>&1; then
    ok "install: make install PREFIX=..."
else
    fail "install: make install PREFIX=..." "$(tail -n 15 make.log)"
    finish; exit
fi

# ---- the installed tree ----
lib=$P/lib
so=$(cd "$lib" && ls libkeel.so.*.*.* 2>/dev/null | head -n 1)
equal "tree: libkeel.so.X.Y.Z is a file" "$([ -n "$so" ] && [ -f "$lib/$so" ] && [ ! -L "$lib/$so" ] && echo yes)" "yes"
equal "tree: libkeel.so.0 links to it" "$(readlink "$lib/libkeel.so.0")" "$so"
equal "tree: libkeel.so links to it" "$(readlink "$lib/libkeel.so")" "$so"
equal "tree: the soname is libkeel.so.0" \
    "$(readelf -d "$lib/libkeel.so" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')" "libkeel.so.0"
equal "tree: libkeel.a" "$([ -f "$lib/libkeel.a" ] && echo yes)" "yes"
equal "tree: include/keel.h is the header" "$(cmp -s "$P/include/keel.h" "$ROOT/include/keel.h" && echo same)" "same"
equal "tree: lib/pkgconfig/keel.pc" "$([ -f "$lib/pkgconfig/keel.pc" ] && echo yes)" "yes"
export PKG_CONFIG_PATH=$lib/pkgconfig
version=$(sed -n 's/^#define KEEL_VERSION_STRING "\(.*\)"/\1/p' "$ROOT/include/keel.h")
equal "pkg-config: version is keel.h's" "$(pkg-config --modversion keel)" "$version"
equal "pkg-config: the file name carries the version" "$so" "libkeel.so.$version"
realdir() { (cd "$1" 2>/dev/null && pwd -P); }
inc=$(pkg-config --cflags-only-I keel | sed 's/^ *-I//; s/ *$//')
equal "pkg-config: cflags name the installed include/" "$(realdir "$inc")" "$(realdir "$P/include")"
equal "pkg-config: libdir is the installed lib/" "$(realdir "$(pkg-config --variable=libdir keel)")" \
    "$(realdir "$lib")"
equal "pkg-config: libs" "$(pkg-config --libs-only-l keel | tr -d ' ')" "-lkeel"

# ---- the ABI: exactly the functions keel.h declares ----
# Declarations: keel_NAME( outside comments.
declared=$(grep -vE '^\s*(/\*|\*)' "$ROOT/include/keel.h" | grep -oE '\bkeel_[a-z0-9_]+\(' \
    | tr -d '(' | sort -u)
exported=$(nm -D --defined-only "$lib/libkeel.so" | awk '{print $NF}' | sed 's/@.*//' \
    | grep -vx 'KEEL_[0-9]*' | sort -u)
listed=$(sed -n 's/^[[:space:]]*\(keel_[a-z0-9_]*\);.*/\1/p' "$ROOT/src/libkeel.map" | sort -u)
equal "abi: keel.h declares functions" "$([ "$(wc -l <<<"$declared")" -gt 15 ] && echo yes)" "yes"
if [ "$exported" == "$declared" ]; then ok "abi: libkeel.so exports exactly keel.h's functions"
else fail "abi: libkeel.so exports exactly keel.h's functions" \
    "$(diff <(echo "$declared") <(echo "$exported") | grep '^[<>]' | head -n 10)"; fi
if [ "$listed" == "$declared" ]; then ok "abi: src/libkeel.map lists exactly keel.h's functions"
else fail "abi: src/libkeel.map lists exactly keel.h's functions" \
    "$(diff <(echo "$declared") <(echo "$listed") | grep '^[<>]' | head -n 10)"; fi
equal "abi: every export has the version KEEL_0" \
    "$(nm -D --defined-only "$lib/libkeel.so" | awk '$NF ~ /^keel_/ && $NF !~ /@@KEEL_0$/' | wc -l)" "0"

# ---- dependencies ----
needed=$(readelf -d "$lib/libkeel.so" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | tr '\n' ' ')
equal "deps: no SQLite, HTTP, YAML or zstd needed ($needed)" \
    "$(grep -ciE 'sqlite|microhttpd|yaml|zstd' <<<"$needed")" "0"
equal "deps: none of them loaded either (ldd)" \
    "$(ldd "$lib/libkeel.so" | grep -ciE 'sqlite|microhttpd|yaml|zstd')" "0"
equal "deps: no undefined symbols left" \
    "$(LD_LIBRARY_PATH=$lib ldd -r "$lib/libkeel.so" 2>&1 | grep -c 'undefined symbol')" "0"

# ---- examples/embed against the installed copy ----
src=$ROOT/examples/embed/predict.c
expect "embed: builds with pkg-config (shared)" 0 \
    cc -std=c17 -Wall -Wextra -Werror -O2 -o embed "$src" $(pkg-config --cflags --libs keel)
equal "embed: linked to the installed libkeel.so.0" \
    "$(LD_LIBRARY_PATH=$lib ldd ./embed | awk '/libkeel/ {print $3}')" "$lib/libkeel.so.0"
expect "embed: builds with pkg-config (static)" 0 \
    cc -std=c17 -Wall -Wextra -Werror -O2 -o embed-static "$src" $(pkg-config --cflags keel) \
    "$lib/libkeel.a" $(pkg-config --static --libs-only-l keel | sed 's/-lkeel\b//')
equal "embed: the static one needs no libkeel.so" \
    "$(readelf -d embed-static | grep -c 'libkeel')" "0"

# A model trained by the CLI (default network, a few epochs), and rows to score with a few
# values blanked (missing) and the target column left in (not an input: ignored).
head -n 1501 "$ROOT/data/mlc_churn.csv" > train.csv
expect "embed: keel train" 0 "$KEEL" train train.csv --target churn -o churn.keel \
    --no-registry -q --epochs 3
sed -n '1p;2000,2060p' "$ROOT/data/mlc_churn.csv" \
    | awk -F, -v OFS=, 'NR == 3 { $1 = "" } NR == 5 { $7 = "" } NR == 8 { $4 = "" } { print }' > rows.csv
expect "embed: keel predict" 0 "$KEEL" predict churn.keel rows.csv -o want-lines.csv -q --no-quarantine
cut -d, -f2- want-lines.csv > want.csv # the example writes no line column
for kind in shared static; do
    bin=./embed; [ $kind = static ] && bin=./embed-static
    LD_LIBRARY_PATH=$lib "$bin" churn.keel rows.csv > got-$kind.csv 2> err-$kind.txt
    equal "embed ($kind): exits 0" "$?" "0"
    if cmp -s got-$kind.csv want.csv; then ok "embed ($kind): output equals keel predict's"
    else fail "embed ($kind): output equals keel predict's" \
        "$(diff want.csv got-$kind.csv | head -n 6)"; fi
    contains "embed ($kind): lists the inputs" err-$kind.txt "19 inputs: state (categorical) account_length (numeric)"
    contains "embed ($kind): explains the last row" err-$kind.txt "why: probability of 'yes'"
    contains "embed ($kind): with reasons in words" err-$kind.txt "reason 1: "
    contains "embed ($kind): rows agree one by one" err-$kind.txt "row by row: 61 of 61 rows agree"
    contains "embed ($kind): an unknown input" err-$kind.txt "unknown input: EINVAL: 'no_such_input' is not an input of the model"
    contains "embed ($kind): a refused value names row and column" err-$kind.txt \
        "bad value: EMISMATCH: row 0, column 'account_length': 'not a value' rejected (bad_number)"
done
equal "embed: 61 predictions" "$(($(wc -l < got-shared.csv) - 1))" "61"
finish
