# keel serve while its model file is cut short and rewritten in place, 100 times, under a
# steady stream of predictions: the server must never die (it did, of SIGBUS, while it read
# a mapping of the file being truncated), must refuse each damaged file with a message while
# the version it has keeps serving, and must answer as keel predict does at the end.
. "$(dirname "$0")/lib.sh"
cd "$T"
D=$ROOT/data
py=/usr/bin/python3
head -n 801 "$D/mlc_churn.csv" > churn.csv
expect "train: the model to serve" 0 "$KEEL" train churn.csv --target churn -o churn.keel --epochs 2 -q
cp churn.keel served.keel

# Row 1 as a KServe v1 body, and keel predict's probability of "yes" for it.
$py - churn.csv <<'PY'
import csv, json, sys
row = next(csv.DictReader(open(sys.argv[1])))
del row["churn"]
open("v1.json", "w").write(json.dumps({"instances": [row]}))
with open("one.csv", "w") as f:
    f.write(",".join(row) + "\n" + ",".join(row.values()) + "\n")
PY
expect "predict: the reference answer" 0 "$KEEL" predict churn.keel one.csv -o ref.csv
p_yes=$(tail -n 1 ref.csv | awk -F, '{print $NF}')

start_server --model "$T/served.keel" --poll 0.05 --no-log
[ -n "$URL" ] && ok "serve: starts" || fail "serve: starts" "$(cat serve.err)"

# The client: two threads predicting row 1 until told to stop (the file stop.flag).
$py - "$URL" > client.txt <<'PY' &
import http.client, json, os, sys, threading
host, port = sys.argv[1][len("http://"):].split(":")
body = open("v1.json", "rb").read()
stats = {"ok": 0, "fail": 0, "last": None}
lock = threading.Lock()
def worker():
    c = http.client.HTTPConnection(host, int(port), timeout=5)
    while not os.path.exists("stop.flag"):
        try:
            c.request("POST", "/v1/models/served:predict", body, {"Content-Type": "application/json"})
            r = c.getresponse(); data = r.read()
            with lock:
                if r.status == 200:
                    stats["ok"] += 1
                    stats["last"] = json.loads(data)["predictions"][0]["probabilities"]["yes"]
                else:
                    stats["fail"] += 1
        except Exception:
            with lock: stats["fail"] += 1
            c = http.client.HTTPConnection(host, int(port), timeout=5)
ts = [threading.Thread(target=worker) for _ in range(2)]
[t.start() for t in ts]; [t.join() for t in ts]
print(stats["ok"], stats["fail"], stats["last"])
PY
client=$!

# The vandal: 100 rounds of writing the good bytes back in place, asking for a reload
# (SIGHUP; the poll sees the change too), and cutting the file to 100 bytes a random moment
# later, so that now and then the cut lands while the server is reading the file. Same inode
# throughout, as `truncate -s 100` and `cat good > served.keel` would do.
$py - "$pid" <<'PY'
import os, random, signal, sys, time
pid = int(sys.argv[1])
good = open("churn.keel", "rb").read()
random.seed(7)
with open("served.keel", "r+b") as f:
    for r in range(100):
        f.seek(0); f.write(good); f.flush()
        os.kill(pid, signal.SIGHUP)
        time.sleep(random.uniform(0, 0.06))
        f.truncate(100); f.flush()
        time.sleep(0.005)
    f.seek(0); f.write(good); f.flush()
PY
sleep 0.5 # let the last reload settle on the restored file
touch stop.flag
wait $client
read -r n_ok n_fail last < client.txt

kill -0 $pid 2>/dev/null && ok "serve: alive after 100 truncations" ||
    fail "serve: died while its file was truncated" "$(tail -n 5 serve.err)"
equal "serve: no prediction failed" "$n_fail" "0"
[ "${n_ok:-0}" -gt 50 ] && ok "serve: the load was real ($n_ok predictions)" || fail "serve: too few predictions" "$n_ok"
contains "serve: a damaged file is refused, the old version keeps serving" serve.err "keeps serving"
code=$(curl -s -o body.json -w '%{http_code}' -X POST "$URL/v1/models/served:predict" --data-binary @v1.json)
equal "serve: answers at the end" "$code" "200"
equal "serve: the answer is keel predict's" \
    "$($py -c "import json; print(abs(json.load(open('body.json'))['predictions'][0]['probabilities']['yes'] - $p_yes) < 1e-5)")" "True"
kill -TERM $pid
wait $pid
equal "serve: exits 0 on SIGTERM" "$?" "0"
finish
