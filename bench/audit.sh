#!/usr/bin/env bash
# Audit trail speed: durable appends per second (goal >= 2,000/s, each event in its own
# transaction with WAL + synchronous=FULL) and the time to verify a 1,000,000-event chain
# (goal < 10 s). Builds nothing: the Makefile builds build/audit_bench.
# Usage: bench/audit.sh [path/to/audit_bench] [extra audit_bench options...]
# The databases go to bench/out/audit (on the repository's disk, which is what fsync costs
# depend on); the JSON line is also kept in bench/out/audit.json.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-build/audit_bench}
shift || true
[ -x "$bin" ] || { echo "audit.sh: $bin not built (make build/audit_bench)" >&2; exit 1; }
dir=bench/out/audit
mkdir -p "$dir"
"$bin" "$@" "$dir" | tee bench/out/audit.txt
grep '^audit_bench ' bench/out/audit.txt | sed 's/^audit_bench //' > bench/out/audit.json
rm -f "$dir"/*.db "$dir"/*.db-wal "$dir"/*.db-shm
