#!/usr/bin/env python3
"""Prints one 'SHA256  NAME' line per output of tests/golden/recipe.sh, after masking what
differs between two runs of the same binary: the output folder's and the checkout's paths,
wall-clock times, durations, and hashes that cover them (the audit chain's, a run's log).
A hash that is the SHA-256 of a data file or of a trained model is kept: it is what the user
relies on. Usage: normalise.py OUT_DIR ROOT [--dump DIR]  (--dump writes the masked copies)"""
import hashlib, os, re, sys

out, root = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
dump = sys.argv[sys.argv.index("--dump") + 1] if "--dump" in sys.argv else None

def sha(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()

stable = set()
for d in (out, os.path.join(root, "data"), os.path.join(root, "examples")):
    for name in os.listdir(d):
        p = os.path.join(d, name)
        if os.path.isfile(p) and (d != out or name.endswith((".keel", ".csv"))):
            stable.add(sha(p).encode())

TIME = re.compile(rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z")
SECONDS = re.compile(rb'("(seconds|elapsed_seconds|duration_seconds)":)[0-9.e+-]+')
HEX = re.compile(rb"(?<!\"rng\":\")\b[0-9a-f]{64}\b")

def mask(data):
    data = data.replace(out.encode(), b"OUT").replace(root.encode(), b"ROOT")
    data = TIME.sub(b"TIME", data)
    data = SECONDS.sub(rb"\1S", data)
    data = re.sub(rb"in [0-9.]+ s\b", b"in S s", data)
    data = re.sub(rb"[0-9.]+ (MB|records|rows)/s\b", rb"R \1/s", data)
    return HEX.sub(lambda m: m.group(0) if m.group(0) in stable else b"HASH", data)

for name in sorted(os.listdir(out)):
    p = os.path.join(out, name)
    if not os.path.isfile(p):
        continue
    data = open(p, "rb").read()
    if not name.endswith(".keel"):
        data = mask(data)
    if dump:
        os.makedirs(dump, exist_ok=True)
        open(os.path.join(dump, name), "wb").write(data)
    print(hashlib.sha256(data).hexdigest() + "  " + name)
