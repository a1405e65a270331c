#!/usr/bin/env bash
# The layer check: a source file may include headers of its own module and of the modules its
# layer is drawn above (docs/architecture.md), never one drawn above it or beside it. Prints
# "ok MODULE" or "FAIL FILE: includes X/..." per module and ends with "N passed, N failed";
# `make test` runs it (tests/run.sh). Edit ALLOWED with the map, never to silence a finding.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
# Module -> the modules it may include (besides itself). Lowest layer first.
declare -A ALLOWED=(
    [base]=""
    [data]="base"
    [tensor]="base"
    [nn]="base tensor"
    [eval]="base"
    [model]="base data tensor nn eval"
    [explain]="base data tensor nn eval model"
    [train]="base data tensor nn eval model"
    [registry]="base"
    [report]="base data tensor nn eval model explain registry"
    [monitor]="base data eval model registry"
    [serve]="base data tensor nn eval model explain registry monitor"
    [pipeline]="base data tensor nn eval model explain train registry report monitor"
)
# libkeel, the embeddable runtime, is these modules and nothing else (Makefile's RT_SRC).
RUNTIME="base data tensor nn eval model explain"
passed=0; failed=0
for dir in src/*/; do
    m=$(basename "$dir")
    if [ -z "${ALLOWED[$m]+set}" ]; then
        echo "FAIL src/$m: a module missing from the layer map (scripts/check-layers.sh, docs/architecture.md)"
        failed=$((failed + 1)); continue
    fi
    bad=""
    while IFS=: read -r file _ inc; do
        dep=${inc#*\"}; dep=${dep%%/*}
        [ "$dep" = "$m" ] && continue
        case " ${ALLOWED[$m]} " in *" $dep "*) continue ;; esac
        bad+="$file includes $dep/ ($inc)"$'\n'
    done < <(grep -n '^#include "[a-z_]*/' "$dir"*.[ch] 2>/dev/null)
    if [ -n "$bad" ]; then
        echo "FAIL $m: may include only [${ALLOWED[$m]}]"; printf '     %s\n' "$bad" | sed '/^ *$/d'
        failed=$((failed + 1))
    else
        echo "ok   layer $m"; passed=$((passed + 1))
    fi
done
# The runtime must not reach a module outside it, whatever the map allows.
bad=""
for m in $RUNTIME; do
    for dep in $(grep -ho '^#include "[a-z_]*/' src/$m/*.[ch] 2>/dev/null | sed 's/#include "//; s|/||' | sort -u); do
        case " $RUNTIME " in *" $dep "*) ;; *) bad+="$m includes $dep " ;; esac
    done
done
if [ -n "$bad" ]; then echo "FAIL libkeel reaches beyond the runtime: $bad"; failed=$((failed + 1))
else echo "ok   libkeel stays within [$RUNTIME]"; passed=$((passed + 1)); fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
