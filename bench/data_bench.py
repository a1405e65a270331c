#!/usr/bin/python3
"""keel data validate / profile against pandas, same file, one core, one run.

  - validate: `keel data validate` vs `pandas.read_csv` (goal: keel >= 3x faster)
  - profile:  `keel data profile` vs `read_csv` + `describe(include="all")` + 7 quantiles
              (goal: keel >= 5x faster)

Both sides run pinned to CPU 0 (this process sets its affinity; keel inherits it). pandas is
timed inside this process, so interpreter start-up and `import pandas` are not counted
against it; pandas gets on_bad_lines="skip" (it raises on a wrong field count otherwise)
keel is timed as a whole process, start-up included. Runs are interleaved and
the median of REPEATS is reported. Usage: data_bench.py KEEL CSV SCHEMA [REPEATS]
"""
import json, os, statistics, subprocess, sys, time

os.sched_setaffinity(0, {0})
os.environ["OMP_NUM_THREADS"] = "1"
import numpy  # noqa: E402
import pandas  # noqa: E402

keel, csv, schema = sys.argv[1], sys.argv[2], sys.argv[3]
repeats = int(sys.argv[4]) if len(sys.argv) > 4 else 5
tmp = os.environ.get("TMPDIR", "/tmp")
quantiles = [0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99]


def run_keel(*args):
    t = time.perf_counter()
    p = subprocess.run([keel, "data", *args], capture_output=True, text=True)
    dt = time.perf_counter() - t
    if p.returncode != 0:
        sys.exit("keel failed: %s\n%s" % (" ".join(args), p.stderr))
    return dt, p.stdout


def pandas_read():
    t = time.perf_counter()
    df = pandas.read_csv(csv, on_bad_lines="skip")
    return time.perf_counter() - t, df


def pandas_profile(include_all=True):
    """read_csv + describe + 7 quantiles. include="all" also summarises the text columns
    (count, unique, top, freq), as keel's profile does; the literal describe() covers only
    the numeric ones and is reported too."""
    t = time.perf_counter()
    df = pandas.read_csv(csv, on_bad_lines="skip")
    df.describe(include="all") if include_all else df.describe()
    df.quantile(quantiles, numeric_only=True)
    return time.perf_counter() - t


times = {"keel_validate": [], "keel_profile": [], "pandas_read_csv": [], "pandas_profile": [],
         "pandas_profile_numeric_only": []}
summary = None
for i in range(repeats):
    dt, out = run_keel("validate", csv, "--schema", schema, "--json",
                       "--quarantine", os.path.join(tmp, "bench.quarantine.jsonl"))
    times["keel_validate"].append(dt)
    summary = json.loads(out)
    dt, _ = run_keel("profile", csv, "--schema", schema, "--no-quarantine", "-o",
                     os.path.join(tmp, "bench.profile.json"), "--html", os.path.join(tmp, "bench.html"))
    times["keel_profile"].append(dt)
    dt, df = pandas_read()
    times["pandas_read_csv"].append(dt)
    rows = len(df)
    del df
    times["pandas_profile"].append(pandas_profile())
    times["pandas_profile_numeric_only"].append(pandas_profile(include_all=False))

med = {k: statistics.median(v) for k, v in times.items()}
result = {
    "file": csv, "bytes": os.path.getsize(csv), "rows": rows, "repeats": repeats,
    "records": summary["records"], "accepted": summary["accepted"],
    "quarantined": summary["quarantined"],
    "median_seconds": med, "all_seconds": times,
    "validate_speedup": med["pandas_read_csv"] / med["keel_validate"],
    "profile_speedup": med["pandas_profile"] / med["keel_profile"],
    "profile_speedup_vs_numeric_describe": med["pandas_profile_numeric_only"] / med["keel_profile"],
    "validate_speedup_vs_best_pandas": min(times["pandas_read_csv"]) / med["keel_validate"],
    "pandas": pandas.__version__, "numpy": numpy.__version__, "cpu_affinity": [0],
}
print(json.dumps(result, indent=1))
