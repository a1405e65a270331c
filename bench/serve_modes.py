#!/usr/bin/env python3
"""serve_modes.py — why a serving run lands in the fast or the slow mode (bench/RESULTS.md).

On this 2-core machine the server and wrk share the cores, and a run of keel serve under wrk
settles in one of two modes for its whole length: a fast one (wrk spends about 6 us of CPU
per request) and a slow one (about 9 us). This script starts one server, runs wrk RUNS times
against it with the benchmark's request, and prints per run what tells the modes apart:

  rps            requests per second (wrk's count)
  cpu srv / wrk  microseconds of CPU per request of the server and of wrk (from /proc)
  ctx            context switches per request, voluntary / involuntary, server and wrk
  RES CAL        rescheduling and function-call interrupts per request, all CPUs
                 (/proc/interrupts): a RES interrupt is one CPU telling another to run a
                 task it has just woken, a cross-CPU wake-up
  threads        CPU ticks each server worker and each wrk thread used during the run

Usage (from the repository root, after bench/serve_bench.sh has written bench/out):
  bench/serve_modes.py keel|trivial [CONNS [SECONDS [RUNS]]]     (default 64 6 8)
Environment: KEEL (default build/keel), SERVE_THREADS (2), WRK_THREADS (2).
Nothing is pinned; each run's first half second is left out (connections being made).
"""
import glob
import os
import re
import subprocess
import sys
import tempfile
import time


def ticks(pid, comm=None):
    """CPU ticks (user + system) of each thread of pid, or of those named comm."""
    out = []
    for task in sorted(glob.glob(f"/proc/{pid}/task/*")):
        try:
            if comm and open(task + "/comm").read().strip() != comm:
                continue
            if not comm and task.endswith(f"/{pid}"):
                continue  # wrk's main thread only waits
            f = open(task + "/stat").read().rsplit(")", 1)[1].split()
            out.append(int(f[11]) + int(f[12]))
        except OSError:
            out.append(0)
    return out


def process_ticks(pid):
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return int(f[11]) + int(f[12])


def switches(pid):
    vol = invol = 0
    for status in glob.glob(f"/proc/{pid}/task/*/status"):
        try:
            for line in open(status):
                if line.startswith("voluntary_ctxt_switches"):
                    vol += int(line.split()[1])
                elif line.startswith("nonvoluntary_ctxt_switches"):
                    invol += int(line.split()[1])
        except OSError:
            pass
    return vol, invol


def interrupts():
    counts = {}
    for line in open("/proc/interrupts"):
        p = line.split()
        if p and p[0] in ("RES:", "CAL:"):
            counts[p[0][:-1]] = sum(int(x) for x in p[1:] if x.isdigit())
    return counts


def main():
    if len(sys.argv) < 2 or sys.argv[1] not in ("keel", "trivial"):
        sys.exit(__doc__)
    name = sys.argv[1]
    given = sys.argv[2:5]
    conns, secs, runs = (int(given[i]) if i < len(given) else d for i, d in enumerate((64, 6, 8)))
    if secs < 3:
        sys.exit("serve_modes.py: SECONDS must be at least 3")
    threads = os.environ.get("SERVE_THREADS", "2")
    wrk_threads = os.environ.get("WRK_THREADS", "2")
    for f in ("bench/out/churn.keel", "bench/out/serve_v2.json", "bench/out/serve_keel_answer.json"):
        if not os.path.exists(f):
            sys.exit(f"serve_modes.py: {f} is missing; run bench/serve_bench.sh first")
    home = tempfile.mkdtemp(prefix="serve_modes.")
    if name == "keel":
        cmd = [os.environ.get("KEEL", "build/keel"), "serve", "--model", "bench/out/churn.keel",
               "-p", "0", "--threads", threads, "--no-log"]
    else:
        cmd = ["build/trivial_server", "-p", "0", "--threads", threads,
               "--body", "bench/out/serve_keel_answer.json"]
    log_path = os.path.join(home, "server.log")
    server = subprocess.Popen(cmd, stdout=open(log_path, "w"), stderr=subprocess.STDOUT,
                              env=dict(os.environ, KEEL_HOME=home))
    try:
        url = None
        for _ in range(200):
            m = re.search(r"http://[0-9.]+:[0-9]+", open(log_path).read())
            if m:
                url = m.group(0)
                break
            time.sleep(0.05)
        if not url:
            sys.exit("serve_modes.py: the server did not start: " + open(log_path).read()[:300])
        wrk = ["wrk", f"-t{wrk_threads}", f"-c{conns}", f"-d{secs}s", "-s",
               "bench/serve_request.lua", url + "/v2/models/churn/infer"]
        worker = "MHD-worker"
        print(f"{name}: {' '.join(cmd)}; wrk -t{wrk_threads} -c{conns} -d{secs}s; {runs} runs")
        for _ in range(runs):
            client = subprocess.Popen(wrk, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                      text=True)
            time.sleep(0.5)
            irq0, t0 = interrupts(), time.time()
            st0, ct0 = ticks(server.pid, worker), ticks(client.pid)
            s0, c0 = process_ticks(server.pid), process_ticks(client.pid)
            sw0, cw0 = switches(server.pid), switches(client.pid)
            time.sleep(secs - 1.5)
            irq1, t1 = interrupts(), time.time()
            st1, ct1 = ticks(server.pid, worker), ticks(client.pid)
            s1, c1 = process_ticks(server.pid), process_ticks(client.pid)
            sw1, cw1 = switches(server.pid), switches(client.pid)
            out = client.communicate()[0]
            m = re.search(r'"rps": ([0-9.]+)', out)
            if not m:
                sys.exit("serve_modes.py: wrk failed: " + out[:300])
            rps = float(m.group(1))
            n = rps * (t1 - t0)  # requests in the measured window
            us = 1e6 / os.sysconf("SC_CLK_TCK")
            print(f"rps {rps:7.0f}  cpu srv {(s1 - s0) * us / n:5.2f} wrk {(c1 - c0) * us / n:5.2f}"
                  f"  ctx srv {(sw1[0] - sw0[0]) / n:.2f}/{(sw1[1] - sw0[1]) / n:.2f}"
                  f" wrk {(cw1[0] - cw0[0]) / n:.2f}/{(cw1[1] - cw0[1]) / n:.2f}"
                  f"  RES {(irq1['RES'] - irq0['RES']) / n:.3f} CAL {(irq1['CAL'] - irq0['CAL']) / n:.3f}"
                  f"  threads srv {' '.join(str(b - a) for a, b in zip(st0, st1))}"
                  f" wrk {' '.join(str(b - a) for a, b in zip(ct0, ct1))}", flush=True)
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()
