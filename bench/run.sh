#!/usr/bin/env bash
# Runs every benchmark and prints the figures that go into bench/RESULTS.md.
# Usage: bench/run.sh [path/to/keel]      (make bench)
set -euo pipefail
cd "$(dirname "$0")/.."
keel=${1:-build/keel}
mkdir -p bench/out
[ -f bench/out/churn_1m.csv ] || python3 bench/gen_data.py bench/out/churn_1m.csv 1000000
[ -f bench/out/churn_1m_dirty.csv ] || python3 bench/gen_data.py bench/out/churn_1m_dirty.csv 1000000 --dirty 0.01
"$keel" data infer bench/out/churn_1m.csv --target churn -o bench/out/churn_1m.yaml >/dev/null
echo "== machine"; nproc; grep -m1 'model name' /proc/cpuinfo; uptime
echo "== data: clean 1M rows"
/usr/bin/python3 bench/data_bench.py "$keel" bench/out/churn_1m.csv bench/out/churn_1m.yaml 5 | tee bench/out/data_clean.json
echo "== data: 1M rows, 1% dirty"
/usr/bin/python3 bench/data_bench.py "$keel" bench/out/churn_1m_dirty.csv bench/out/churn_1m.yaml 5 | tee bench/out/data_dirty.json
# The same on other shapes of data: all categorical (income survey) and all numeric
# (shuttle sensors), each 1M rows drawn from the shipped real file.
for shape in income shuttle; do
    f=bench/out/${shape}_1m.csv
    [ -f "$f" ] || python3 bench/gen_data.py "$f" 1000000 --source "data/$shape.csv"
    "$keel" data infer "$f" -o "bench/out/${shape}_1m.yaml" >/dev/null
    echo "== data: $shape, 1M rows"
    /usr/bin/python3 bench/data_bench.py "$keel" "$f" "bench/out/${shape}_1m.yaml" 5 | tee "bench/out/data_$shape.json"
done
echo "== peak memory validating 2 GB"
bench/peak_memory.sh "$keel" bench/out/churn_1m.csv bench/out/churn_1m.yaml | tee bench/out/peak.json
echo "== GEMM backends (groundwork for issue 3)"
bench/gemm.sh | tee bench/out/gemm.txt
echo "== training and prediction speed against PyTorch 1.13 (issue 3)"
bench/train_speed.sh 3
echo "== the small MLP through the C API, one row (issue 3)"
bench/small_mlp_api.sh 3 100000
echo "== accuracy against LogisticRegression, XGBoost and MLPClassifier, 5-fold CV (issue 3)"
bench/accuracy.sh "$keel"
echo "== audit trail: durable appends per second and verifying 1M events (issue 4)"
bench/audit.sh build/audit_bench
echo "== serving: keel serve vs a trivial libmicrohttpd server and FastAPI + uvicorn + PyTorch (issue 5)"
KEEL="$keel" bench/serve_bench.sh 3
echo "== the server's own work per request, in-process: parse, predict, answer (issue 5)"
make -s build/serve_path && build/serve_path bench/out/churn.keel bench/out/serve_v2.json
echo "== C API single-row latency on the churn model: predictions (issue 5), explanations (issue 6)"
make -s build/api_latency && build/api_latency bench/out/churn.keel data/mlc_churn.csv
echo "== explanations per second through keel serve (issue 6; the C API's IG cost is above)"
KEEL="$keel" bench/explain_bench.sh 3
