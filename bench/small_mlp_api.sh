#!/usr/bin/env bash
# Issue 3's batch-1 goal through the public C API: one prediction of the small MLP
# (64 -> 256 -> 256 -> output, ReLU) from a raw tensor, keel_model_predict_tensor, median.
#
# The network is trained by keel itself on 64 Gaussian columns (5,000 rows, a noisy linear
# label; seeded, made here), with a reviewed schema that says the columns are never missing,
# so no missing-value indicators double the first layer: the inputs are exactly 64 wide.
# --feature-dim 0 --bins 0 give the plain MLP (no per-column embedding, no bins). Binary
# classification has one output (a logit), where the PyTorch comparison's has two.
# Timed twice: with the default bfloat16 weights, and with --weight-precision fp32.
#
# Usage: bench/small_mlp_api.sh [RUNS] [CALLS]     (defaults 5 and 200000)
# Writes bench/out/small_mlp/{mlp64.csv,mlp64.yaml,mlp64_bf16.keel,mlp64_fp32.keel,api.jsonl}.
set -euo pipefail
cd "$(dirname "$0")/.."
keel=${KEEL:-build/keel}
runs=${1:-5}
calls=${2:-200000}
out=bench/out/small_mlp
mkdir -p "$out"
make -s build/keel build/api_latency

python3 - "$out/mlp64.csv" <<'EOF'
import random, sys
rng = random.Random(20261124)
w = [rng.gauss(0, 1) for _ in range(64)]
with open(sys.argv[1], "w") as f:
    f.write(",".join("x%d" % i for i in range(64)) + ",y\n")
    for _ in range(5000):
        x = [rng.gauss(0, 1) for _ in range(64)]
        s = sum(a * b for a, b in zip(x, w)) + rng.gauss(0, 4)
        f.write(",".join("%.5f" % v for v in x) + ",%d\n" % (s > 0))
EOF

# The reviewed schema: inferred, then every feature declared never missing and unbounded.
"$keel" data infer "$out/mlp64.csv" --target y -o "$out/inferred.yaml" >/dev/null
sed -e 's/^    role: feature$/    role: feature\n    nullable: false/' -e '/^    min:/d' \
    -e '/^    max:/d' "$out/inferred.yaml" >"$out/mlp64.yaml"

: >"$out/api.jsonl"
for precision in bf16 fp32; do
    model="$out/mlp64_$precision.keel"
    "$keel" train "$out/mlp64.csv" --schema "$out/mlp64.yaml" --target y --hidden 256,256 \
        --activation relu --feature-dim 0 --bins 0 --weight-precision "$precision" \
        --quarantine "$out/mlp64.quarantine.jsonl" -o "$model" --no-registry >/dev/null 2>&1
    echo "== $precision weights"
    build/api_latency "$model" "$out/mlp64.csv" "$runs" "$calls" | grep api_predict_tensor_b1 |
        sed "s/^{/{\"weights\":\"$precision\",/" | tee -a "$out/api.jsonl"
done
