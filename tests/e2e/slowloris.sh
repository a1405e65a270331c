# keel serve under slowloris (issue 20, item 7): 1,100 connections that trickle a byte of
# their request every half second, from four client addresses. While they are open a fresh
# client's health check and prediction must answer within a second; each trickling
# connection must be closed by the whole-request deadline (--request-timeout), not before
# and not much after; and one address opening more than --max-per-client connections gets
# the rest refused at once. Loopback clients choose their address: all of 127.0.0.0/8 is
# local, so the trickling clients bind 127.0.0.2 to 127.0.0.6 and the fresh one 127.0.0.1.
. "$(dirname "$0")/lib.sh"
cd "$T"
py=/usr/bin/python3
ulimit -n 4096 2>/dev/null || ulimit -n "$(ulimit -Hn)"
head -n 301 "$ROOT/data/mlc_churn.csv" > churn.csv
expect "train: a model to serve" 0 "$KEEL" train churn.csv --target churn -o churn.keel --epochs 1 -q
$py - churn.csv <<'PY'
import csv, json, sys
row = next(csv.DictReader(open(sys.argv[1])))
del row["churn"]
open("v1.json", "w").write(json.dumps({"instances": [row]}))
PY

# 1,400 connections fit under --max-connections 2048 without reaching its shedding
# threshold (3/4, 1,536); a slow connection counts towards both until it is closed.
start_server --model churn.keel --no-log --request-timeout 3 --max-per-client 280 \
    --max-connections 2048
[ -n "$URL" ] && ok "serve: starts" || fail "serve: starts" "$(cat serve.err)"

$py - "${URL##*:}" > slow.txt <<'PY'
import errno, http.client, socket, sys, time
port, deadline = int(sys.argv[1]), 3.0
def connect(src):
    s = socket.socket()
    s.bind((src, 0))
    s.settimeout(2)
    s.connect(("127.0.0.1", port))
    s.setblocking(False)
    return s
head = b"POST /v1/models/churn:predict HTTP/1.1\r\nHost: x\r\nX-Slow: "
body_head = b"POST /v1/models/churn:predict HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{"
t0 = time.time()
# 1,100 trickling heads (275 from each of four addresses, under the cap), 100 of them
# trickling a body instead; then 300 from a fifth address, 20 over the cap.
slow = [connect("127.0.0.%d" % (2 + i % 4)) for i in range(1100)]
capped = [connect("127.0.0.6") for _ in range(300)]
conns = slow + capped
for i, s in enumerate(conns):
    try: s.send(body_head if i % 11 == 0 else head)
    except OSError: pass
closed = {}
def poll(now):
    for i, s in enumerate(conns):
        if i in closed: continue
        try:
            if s.recv(4096) == b"": closed[i] = now
        except BlockingIOError:
            pass
        except OSError:
            closed[i] = now
def trickle():
    for i, s in enumerate(conns):
        if i not in closed:
            try: s.send(b"a")
            except OSError: pass
fresh = {}
next_tick = t0
while time.time() - t0 < deadline + 3 and len(closed) < len(conns):
    now = time.time()
    if now >= next_tick:
        trickle(); next_tick += 0.5
    poll(now - t0)
    if "ready" not in fresh and now - t0 > 1.0:
        print("open after 1 s:", sum(1 for i in range(1100) if i not in closed))
        print("capped after 1 s:", sum(1 for i in range(1100, 1400) if i in closed))
        for name, method, path, body in (("ready", "GET", "/v2/health/ready", None),
                                         ("predict", "POST", "/v1/models/churn:predict",
                                          open("v1.json", "rb").read())):
            t = time.time()
            try:
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=1, source_address=("127.0.0.1", 0))
                c.request(method, path, body)
                r = c.getresponse(); r.read(); status = r.status
            except Exception as e:
                status = type(e).__name__
            fresh[name] = (status, time.time() - t)
            print("fresh %s: %s %s" % (name, status, fresh[name][1] < 1.0))
    time.sleep(0.02)
times = [closed.get(i) for i in range(1100)]
print("slow closed:", sum(t is not None for t in times))
print("slow closed before the deadline:", sum(t is not None and t < deadline - 0.5 for t in times))
print("slow closed in time:", sum(t is not None and t < deadline + 1.5 for t in times))
PY
cat slow.txt | sed 's/^/     /'
contains "all 1,100 trickling connections are held" slow.txt "open after 1 s: 1100"
contains "an address over --max-per-client gets the rest refused at once" slow.txt "capped after 1 s: 20"
contains "a fresh client's health check answers within 1 s" slow.txt "fresh ready: 200 True"
contains "a fresh client's prediction answers within 1 s" slow.txt "fresh predict: 200 True"
contains "every trickling connection is closed" slow.txt "slow closed: 1100"
contains "none before the deadline" slow.txt "slow closed before the deadline: 0"
contains "all by the deadline (3 s) plus 1.5 s" slow.txt "slow closed in time: 1100"
equal "a prediction after the attack" "$(curl -s -o /dev/null -w '%{http_code}' --data-binary @v1.json "$URL/v1/models/churn:predict")" "200"
kill -0 $pid 2>/dev/null && ok "the server survived" || fail "server died" "$(tail -5 serve.err)"
kill -TERM $pid; wait $pid
equal "SIGTERM: exits 0" "$?" "0"
finish
