#!/usr/bin/env bash
# keel's training and prediction speed against PyTorch 1.13 (issue 3): build/train_speed
# (bench/train_speed.c) and bench/torch_speed.py run in the same environment, interleaved,
# ROUNDS times; prints keel/torch ratios of the medians over the rounds.
#
# Both sides print one JSON object per line {"bench", "impl", "threads", "value", "unit", ...};
# lines pair up by bench name and thread count (latency lines also by "mode"). PyTorch does its
# float32 GEMM through OpenBLAS, whose speed depends on OPENBLAS_CORETYPE (the machines here
# may export Haswell; OpenBLAS's own detection takes this CPU for Prescott). So torch runs
# twice per round: as the environment leaves it, and with OPENBLAS_CORETYPE=SkylakeX when the
# CPU has AVX-512 (its fastest kernels here, bench/RESULTS.md). The ratios are given against
# both; the honest headline is the one against torch at its best.
#
# Usage: bench/train_speed.sh [ROUNDS]     (default 3; TORCH_SPEED_ARGS=--quick for a short run)
# Writes bench/out/train_speed_{keel,torch}.jsonl (every line, tagged with its round) and
# bench/out/train_speed.json (the summary).
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
py=/usr/bin/python3
out=bench/out
mkdir -p "$out"

bin=${KEEL_TRAIN_SPEED:-build/train_speed}
if [ -z "${KEEL_TRAIN_SPEED-}" ] && [ ! -f bench/train_speed.c ]; then
    echo "train_speed.sh: bench/train_speed.c does not exist yet, so there is no keel side to" >&2
    echo "time. Run the torch side alone with: bench/torch_speed.py" >&2
    exit 1
fi

# Build the C side; KEEL_TRAIN_SPEED=path uses a binary built elsewhere instead. The default
# line links the library the Makefile builds. If the header comment of bench/train_speed.c
# gives its own build command on one line ("[Build:] gcc ... -o build/train_speed ..."), it is
# used, so the two cannot drift apart.
if [ -z "${KEEL_TRAIN_SPEED-}" ]; then
    make -s build/keel_all.a
    re='^[ /*#]*([A-Za-z][A-Za-z ]*: *)?((gcc|cc|clang) .*-o build/train_speed\b.*)$'
    build_cmd=$(sed -nE "1,60{s@$re@\\2@p}" bench/train_speed.c | head -1)
    if [ -z "$build_cmd" ]; then
        build_cmd="gcc -std=c17 -O2 -D_GNU_SOURCE -Iinclude -Isrc -I. bench/train_speed.c \
build/keel_all.a -lsqlite3 -lsodium -lyaml -ldnnl -lgomp -lm -lpthread -o build/train_speed"
    fi
    echo "== build: $build_cmd"
    if ! eval "$build_cmd"; then
        echo "train_speed.sh: building build/train_speed failed; check the build command at" >&2
        echo "the top of bench/train_speed.c" >&2
        exit 1
    fi
fi

echo "== machine"
nproc
grep -m1 'model name' /proc/cpuinfo
uptime
echo "OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE-<unset>} OPENBLAS_L2_SIZE=${OPENBLAS_L2_SIZE-<unset>}"

coretypes=("")
if grep -q -m1 avx512f /proc/cpuinfo && [ "${OPENBLAS_CORETYPE-}" != SkylakeX ]; then
    coretypes+=(SkylakeX)
fi

: >"$out/train_speed_keel.jsonl"
: >"$out/train_speed_torch.jsonl"
tag() { # tag ROUND VARIANT: add the round and the torch variant to every JSON line
    $py -c 'import json,sys
for l in sys.stdin:
    if l.strip():
        o = json.loads(l); o["round"] = int(sys.argv[1]); o["variant"] = sys.argv[2]
        print(json.dumps(o))' "$1" "$2"
}
show() { # one short line per JSON line, for the log
    $py -c 'import json,sys
for l in sys.stdin:
    o = json.loads(l)
    if o.get("value") is None: continue
    print("  %-22s %-15s thr %s %12.6g %s %s" % (o["bench"], o.get("mode") or o.get("config") or "",
          o.get("threads"), o["value"], o.get("unit", ""),
          "(torch threads %s, BLAS threads %s)" % (o["torch_threads"], o["blas_threads"])
          if "torch_threads" in o else ""))'
}
for r in $(seq 1 "$rounds"); do
    echo "== round $r/$rounds: keel"
    "$bin" | tag "$r" keel | tee -a "$out/train_speed_keel.jsonl" | show
    for ct in "${coretypes[@]}"; do
        if [ -z "$ct" ]; then
            echo "== round $r/$rounds: torch, environment as inherited"
            # shellcheck disable=SC2086
            $py bench/torch_speed.py ${TORCH_SPEED_ARGS-} | tag "$r" env \
                | tee -a "$out/train_speed_torch.jsonl" | show
        else
            echo "== round $r/$rounds: torch, OPENBLAS_CORETYPE=$ct"
            # shellcheck disable=SC2086
            $py bench/torch_speed.py ${TORCH_SPEED_ARGS-} --coretype "$ct" | tag "$r" "$ct" \
                | tee -a "$out/train_speed_torch.jsonl" | show
        fi
    done
done

echo "== summary (medians over $rounds rounds)"
$py - "$out/train_speed_keel.jsonl" "$out/train_speed_torch.jsonl" "$out/train_speed.json" <<'EOF'
import json, statistics, sys
from collections import defaultdict

keel_f, torch_f, out_f = sys.argv[1:4]
load = lambda f: [json.loads(l) for l in open(f) if l.strip()]
keel = [o for o in load(keel_f) if o.get("value") is not None]
torch = [o for o in load(torch_f) if o.get("value") is not None]


def key(o):
    return (o["bench"], o.get("threads"), o.get("mode"), o.get("config"))


def medians(rows, extra=lambda o: ()):
    g = defaultdict(list)
    for o in rows:
        if o.get("value") is not None:
            g[key(o) + extra(o)].append(o["value"])
    return {k: statistics.median(v) for k, v in g.items()}


km = medians(keel)
tm = medians(torch, lambda o: (o["variant"], o.get("torch_threads"), o.get("blas_threads")))
units = {o["bench"]: o["unit"] for o in keel + torch}
variants = sorted({o["variant"] for o in torch}, key=lambda v: v != "env")


def torch_for(k, variant):
    """The torch figure a keel line is compared with: same bench, thread count and torch
    variant; for latency the same mode (eager under no_grad when keel gives none); where
    torch has several thread splits for one core count, its fastest ("best" when given)."""
    bench, threads, mode, _ = k
    latency = units.get(bench) == "us"
    cands = {kk: v for kk, v in tm.items()
             if kk[0] == bench and kk[1] == threads and kk[4] == variant}
    if any(kk[3] == "best" for kk in cands):
        cands = {kk: v for kk, v in cands.items() if kk[3] == "best"}
    if latency:
        cands = {kk: v for kk, v in cands.items() if kk[2] == (mode or "no_grad")}
    if not cands:
        return None, None
    kk = (min if latency else max)(cands, key=cands.get)
    return cands[kk], kk


summary = []
print("%-22s %3s %-8s %-9s %11s %11s %-22s %10s %s" % (
    "bench", "thr", "mode", "torch as", "keel", "torch", "torch config", "keel/torch",
    "keel faster by"))
for k, kv in sorted(km.items(), key=lambda kv: (kv[0][0], kv[0][1] or 0, kv[0][2] or "")):
    bench, threads, mode, _ = k
    unit = units.get(bench, "")
    for variant in variants:
        tv, tk = torch_for(k, variant)
        row = {"bench": bench, "threads": threads, "mode": mode, "unit": unit,
               "torch_variant": variant, "keel": kv, "torch": tv}
        if tv is None:
            print("%-22s %3s %-8s %-9s %11.6g %11s  (no torch counterpart)" % (
                bench, threads, mode or "", variant, kv, "—"))
        else:
            ratio = kv / tv
            speedup = 1 / ratio if unit in ("us", "ms", "s") else ratio
            row.update(ratio=ratio, keel_speedup=speedup, torch_config={
                "mode": tk[2], "torch_threads": tk[5], "blas_threads": tk[6]})
            conf = "%s%s/%s" % (tk[2] + " " if tk[2] else "", tk[5], tk[6])
            print("%-22s %3s %-8s %-9s %11.6g %11.6g %-22s %10.3f %8.2fx  (%s)" % (
                bench, threads, mode or "", variant, kv, tv, conf, ratio, speedup, unit))
        summary.append(row)
with open(out_f, "w") as f:
    json.dump({"rounds": sorted({o.get("round") for o in keel}), "rows": summary,
               "torch_median": [dict(zip(("bench", "threads", "mode", "config", "variant",
                                          "torch_threads", "blas_threads"), k), value=v)
                                for k, v in sorted(tm.items(), key=str)]}, f, indent=1)
    f.write("\n")
print("torch config: mode, torch threads / BLAS threads. keel/torch is the ratio of the "
      "values; keel faster by inverts it for times.")
print("torch variants: env = as inherited (OpenBLAS core %s)%s" % (
    next((o.get("openblas_core") for o in torch if o["variant"] == "env"), "?"),
    "; SkylakeX = OPENBLAS_CORETYPE=SkylakeX" if "SkylakeX" in variants else ""))
EOF
