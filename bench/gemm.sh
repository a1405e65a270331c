#!/usr/bin/env bash
# sgemm throughput of OpenBLAS (under each core-type setting) and oneDNN, 1 and 2 threads,
# on the layer shapes of issue 3's benchmarks. Groundwork for choosing keel's GEMM backend.
# Usage: bench/gemm.sh      (make bench runs it)
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p bench/out
gcc -O2 -I/usr/include/x86_64-linux-gnu bench/gemm.c -o bench/out/gemm -lopenblas -ldnnl -lm


for t in 1 2; do
    echo "== $t thread(s)"
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OPENBLAS_NUM_THREADS=$t bench/out/gemm openblas | sed 's/^/[own detection]  /'
    OPENBLAS_CORETYPE=Haswell OPENBLAS_L2_SIZE=512 OPENBLAS_NUM_THREADS=$t bench/out/gemm openblas | sed 's/^/[Haswell, L2 512] /'
    OPENBLAS_CORETYPE=SkylakeX OPENBLAS_NUM_THREADS=$t bench/out/gemm openblas | sed 's/^/[SkylakeX]        /'
    OMP_NUM_THREADS=$t bench/out/gemm onednn | sed 's/^/[oneDNN]          /'
done
