#!/usr/bin/python3
"""PyTorch's side of the training and prediction speed comparison (issue 3).

Mirrors bench/train_speed.c: the same models, batch sizes and measurements, printed the same
way, one JSON object per line: {"bench", "impl": "torch", "threads", "value", "unit", ...}.

  train_mlp_small   MLP 64-256-256-2 (Linear+ReLU), CrossEntropyLoss, Adam(lr=1e-3), batch
                    256, inputs N(0,1) and random labels; one thread; samples/s.
  train_mlp_large   MLP 512-1024-1024-1024-10, batch 256, on two cores. Torch's intra-op
                    threads (1, 2) and the BLAS/OpenMP threads (1, 2) are tried in every
                    combination, each in its own process because OpenBLAS fixes its thread
                    count when it loads; every combination is printed, then the best as
                    "config": "best" with threads 2.
  predict_mlp_small_b1, predict_mlp_small_b64
                    latency of one eager forward pass of the small MLP (eval mode) under
                    torch.no_grad() and under torch.inference_mode() ("mode"), batch 1 and
                    64; one thread; median microseconds over many calls. For reference
                    also "mode": "torchscript" (scripted and frozen, under no_grad).

Method: training steps are zero_grad(set_to_none=True), forward, loss, backward, step, over
a pool of 8 pre-made batches. Each repetition is timed after a warm-up, runs for at least
--min-time seconds, and "value" is the median of --reps repetitions ("runs" has them all).
Latency is timed call by call with perf_counter_ns after a warm-up; "value" is the median,
"p10"/"p90" the spread.

PyTorch here (Debian's 1.13) does float32 GEMM through the system BLAS, which is OpenBLAS
(libblas.so.3 -> openblas-pthread); OpenBLAS's kernel choice depends on OPENBLAS_CORETYPE.
The first line ("bench": "env") records torch.__config__.show(), the parallel info, the BLAS
library actually loaded, OpenBLAS's config and core name, and the OPENBLAS_* / OMP_* values.
--coretype sets OPENBLAS_CORETYPE for the measuring processes ("unset" removes it), so a
comparison can show torch under the environment's setting and under its best one.

Usage: bench/torch_speed.py [--reps 7] [--min-time 0.5] [--quick] [--only a,b]
                            [--coretype NAME|unset]
"""
import argparse
import json
import os
import subprocess
import sys

BENCHES = ["train_mlp_small", "train_mlp_large", "predict_mlp_small_b1", "predict_mlp_small_b64"]
SMALL = [64, 256, 256, 2]
LARGE = [512, 1024, 1024, 1024, 10]
BATCH = 256
ENV_KEYS = ["OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS",
            "MKL_NUM_THREADS", "OPENBLAS_VERBOSE", "GOTO_NUM_THREADS"]


# --- measuring side: runs in a child process whose environment fixes the BLAS threads ----

def blas_info():
    """Which BLAS the process loaded, and what OpenBLAS says about itself."""
    import ctypes
    libs = set()
    with open("/proc/self/maps") as f:
        for line in f:
            p = line.split()[-1]
            base = os.path.basename(p)
            if any(k in base for k in ("blas", "lapack", "dnnl", "mkl", "gomp", "omp")):
                libs.add(p)
    info = {"loaded": sorted(libs)}
    for p in sorted(libs):
        if "openblas" not in os.path.basename(p):
            continue
        try:
            lib = ctypes.CDLL(p)
            lib.openblas_get_config.restype = ctypes.c_char_p
            lib.openblas_get_corename.restype = ctypes.c_char_p
            info["openblas_config"] = lib.openblas_get_config().decode()
            info["openblas_corename"] = lib.openblas_get_corename().decode()
            info["openblas_threads"] = lib.openblas_get_num_threads()
            info["openblas_library"] = p
            break
        except (OSError, AttributeError):
            continue
    return info


def mlp(torch, dims):
    layers = []
    for i in range(len(dims) - 1):
        layers.append(torch.nn.Linear(dims[i], dims[i + 1]))
        if i < len(dims) - 2:
            layers.append(torch.nn.ReLU())
    return torch.nn.Sequential(*layers)


def time_train(torch, dims, reps, min_time):
    import statistics
    import time
    torch.manual_seed(0)
    model = mlp(torch, dims)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = torch.nn.CrossEntropyLoss()
    pool = [(torch.randn(BATCH, dims[0]), torch.randint(0, dims[-1], (BATCH,)))
            for _ in range(8)]

    def steps(n):
        for i in range(n):
            x, y = pool[i % len(pool)]
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(x), y)
            loss.backward()
            opt.step()

    # Warm up (allocator, thread pools, Adam's state) and size a repetition to min_time.
    t = time.perf_counter()
    n = 0
    while n < 5 or time.perf_counter() - t < min(0.3, min_time):
        steps(1)
        n += 1
    per_step = (time.perf_counter() - t) / n
    n_steps = max(5, int(min_time / per_step + 0.5))
    runs = []
    for _ in range(reps):
        t = time.perf_counter()
        steps(n_steps)
        runs.append(BATCH * n_steps / (time.perf_counter() - t))
    return statistics.median(runs), runs, n_steps


def time_predict(torch, batch, mode, calls):
    import statistics
    import time
    torch.manual_seed(0)
    model = mlp(torch, SMALL).eval()
    x = torch.randn(batch, SMALL[0])
    ctx = torch.no_grad if mode == "no_grad" else torch.inference_mode
    if mode == "torchscript":
        # Scripted and frozen: no Python per layer. optimize_for_inference is left out on
        # purpose: it may move the weights to oneDNN's layout, another backend than eager's.
        with torch.no_grad():
            model = torch.jit.freeze(torch.jit.script(model))
    clock = time.perf_counter_ns
    ts = []
    with ctx():
        for _ in range(max(200, calls // 10)):
            model(x)
        for _ in range(calls):
            t = clock()
            model(x)
            ts.append(clock() - t)
    ts.sort()
    return (statistics.median(ts) / 1e3, ts[len(ts) // 10] / 1e3, ts[len(ts) * 9 // 10] / 1e3)


def worker(cfg):
    import torch
    torch.set_num_threads(cfg["torch_threads"])
    common = {"impl": "torch", "torch_threads": cfg["torch_threads"],
              "blas_threads": cfg["blas_threads"]}
    blas = blas_info()
    common["openblas_core"] = blas.get("openblas_corename")
    common["coretype_env"] = os.environ.get("OPENBLAS_CORETYPE")
    if cfg.get("env"):
        emit({"bench": "env", "impl": "torch", "threads": None, "value": None, "unit": None,
              "torch_version": torch.__version__, "torch_config": torch.__config__.show(),
              "parallel_info": torch.__config__.parallel_info(), "blas": blas,
              "env": {k: os.environ.get(k) for k in ENV_KEYS},
              "cpu": cpu_model(), "nproc": os.cpu_count()})
    threads = max(cfg["torch_threads"], cfg["blas_threads"])
    b = cfg["bench"]
    if b in ("train_mlp_small", "train_mlp_large"):
        dims = SMALL if b == "train_mlp_small" else LARGE
        med, runs, n_steps = time_train(torch, dims, cfg["reps"], cfg["min_time"])
        emit({"bench": b, **common, "threads": threads, "value": med, "unit": "samples/s",
              "batch": BATCH, "layers": dims, "steps_per_run": n_steps, "runs": runs})
    else:
        batch = 1 if b.endswith("_b1") else 64
        for mode in ("no_grad", "inference_mode", "torchscript"):
            med, p10, p90 = time_predict(torch, batch, mode, cfg["calls"])
            emit({"bench": b, **common, "threads": threads, "value": med, "unit": "us",
                  "mode": mode, "batch": batch, "layers": SMALL, "p10": p10, "p90": p90,
                  "calls": cfg["calls"]})


# --- driving side -------------------------------------------------------------------------

def emit(obj):
    print(json.dumps(obj), flush=True)


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def run_child(cfg, coretype):
    env = dict(os.environ)
    for k in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env[k] = str(cfg["blas_threads"])
    if coretype == "unset":
        env.pop("OPENBLAS_CORETYPE", None)
    elif coretype:
        env["OPENBLAS_CORETYPE"] = coretype
    p = subprocess.run([sys.executable, os.path.abspath(__file__), "--worker", json.dumps(cfg)],
                       env=env, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit("torch_speed: worker %s failed (exit %d):\n%s" % (cfg, p.returncode, p.stderr))
    out = [json.loads(l) for l in p.stdout.splitlines() if l.strip()]
    for o in out:
        emit(o)
    return out


def main():
    ap = argparse.ArgumentParser(description="PyTorch side of bench/train_speed.c")
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--min-time", type=float, default=0.5, help="seconds per repetition")
    ap.add_argument("--calls", type=int, default=5000, help="timed calls per latency figure")
    ap.add_argument("--quick", action="store_true", help="3 reps of 0.15 s, 1000 calls")
    ap.add_argument("--only", default=",".join(BENCHES))
    ap.add_argument("--coretype", help="OPENBLAS_CORETYPE for the measuring processes "
                                       "('unset' removes it; default: as inherited)")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.worker:
        worker(json.loads(a.worker))
        return 0
    if a.quick:
        a.reps, a.min_time, a.calls = 3, 0.15, 1000
    only = a.only.split(",")
    for b in only:
        if b not in BENCHES:
            ap.error("unknown bench %r (known: %s)" % (b, ", ".join(BENCHES)))
    base = {"reps": a.reps, "min_time": a.min_time, "calls": a.calls}
    first = True
    for b in only:
        combos = [(1, 1)] if b != "train_mlp_large" else [(1, 1), (1, 2), (2, 1), (2, 2)]
        results = []
        for tt, bt in combos:
            cfg = dict(base, bench=b, torch_threads=tt, blas_threads=bt, env=first)
            first = False
            results += [o for o in run_child(cfg, a.coretype) if o["bench"] == b]
        two_core = [o for o in results if o["threads"] == 2]
        if b == "train_mlp_large" and two_core:
            best = max(two_core, key=lambda o: o["value"])
            emit(dict(best, config="best", threads=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
