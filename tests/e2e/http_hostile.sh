# keel serve against requests a lenient HTTP parser lets through (issue 20, item 8): request
# smuggling by duplicate or conflicting framing headers, NUL bytes and bad percent-escapes
# that truncate a path, HTTP/1.1 without Host, folded header lines, and requests that used
# to get no answer for 30 s (too many query parameters, Transfer-Encoding: identity). Each
# is sent as raw bytes and must get its status and a JSON body with "error" within a second;
# the server then still predicts.
. "$(dirname "$0")/lib.sh"
cd "$T"
py=/usr/bin/python3
head -n 301 "$ROOT/data/mlc_churn.csv" > churn.csv
expect "train: a model to serve" 0 "$KEEL" train churn.csv --target churn -o churn.keel --epochs 1 -q

start_server --model churn.keel --no-log
[ -n "$URL" ] && ok "serve: starts" || fail "serve: starts" "$(cat serve.err)"

# Each case: NAME, the status wanted, the raw request. Prints "NAME STATUS SECONDS JSON-ERROR".
$py - "${URL##*:}" > answers.txt <<'PY'
import json, socket, sys, time
port = int(sys.argv[1])
H = b"Host: x\r\n"
P = b"POST /v1/models/churn:predict HTTP/1.1\r\n" + H
G = b"GET /v2/health/ready"
cases = [
    ("two different Content-Length", 400, G + b" HTTP/1.1\r\n" + H + b"Content-Length: 0\r\nContent-Length: 5\r\n\r\nhello"),
    ("two equal Content-Length", 400, G + b" HTTP/1.1\r\n" + H + b"Content-Length: 0\r\nContent-Length: 0\r\n\r\n"),
    ("Content-Length and Transfer-Encoding", 400, P + b"Content-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n{}"),
    ("Transfer-Encoding: identity", 501, P + b"Transfer-Encoding: identity\r\n\r\n{}"),
    ("Transfer-Encoding: gzip, chunked", 501, P + b"Transfer-Encoding: gzip, chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n"),
    ("two Transfer-Encoding", 400, P + b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
    ("%00 in the path", 400, G + b"%00x HTTP/1.1\r\n" + H + b"\r\n"),
    ("%zz in the path", 400, b"GET /v2/health/re%zzady HTTP/1.1\r\n" + H + b"\r\n"),
    ("%0 at the end of the path", 400, G + b"%0 HTTP/1.1\r\n" + H + b"\r\n"),
    ("%00 in a query parameter", 400, G + b"?a=%00 HTTP/1.1\r\n" + H + b"\r\n"),
    ("a NUL byte in the request line", 400, G + b"\x00x HTTP/1.1\r\n" + H + b"\r\n"),
    ("a NUL byte in a header value", 400, G + b" HTTP/1.1\r\n" + H + b"X-A: a\x00b\r\n\r\n"),
    ("two NUL bytes in the first header value", 400, G + b" HTTP/1.1\r\nX-A: a\x00\x00b\r\n" + H + b"\r\n"),
    ("a bare CR in a header value", 400, G + b" HTTP/1.1\r\n" + H + b"X-A: a\rb\r\n\r\n"),
    ("a space in a header name", 400, G + b" HTTP/1.1\r\n" + H + b"X A: b\r\n\r\n"),
    ("HTTP/1.1 without Host", 400, G + b" HTTP/1.1\r\n\r\n"),
    ("two Host headers", 400, G + b" HTTP/1.1\r\n" + H + H + b"\r\n"),
    ("two Authorization headers", 400, G + b" HTTP/1.1\r\n" + H + b"Authorization: Bearer a\r\nAuthorization: Bearer b\r\n\r\n"),
    ("a folded header line (obs-fold)", 400, G + b" HTTP/1.1\r\n" + H + b"X-A: a\r\n b\r\n\r\n"),
    ("a folded Content-Length", 400, P + b"Content-Length:\r\n 2\r\n\r\n{}"),
    ("250 query parameters", 400, G + b"?" + b"&".join(b"a%d=1" % i for i in range(250)) + b" HTTP/1.1\r\n" + H + b"\r\n"),
    ("200 headers", 431, G + b" HTTP/1.1\r\n" + H + b"".join(b"X-%d: 1\r\n" % i for i in range(200)) + b"\r\n"),
]
def answer(raw):
    s = socket.create_connection(("127.0.0.1", port), timeout=1.0)
    t = time.time()
    s.sendall(raw)
    data = b""
    try:
        while True:
            d = s.recv(65536)
            if not d: break
            data += d
            head, sep, body = data.partition(b"\r\n\r\n")
            if sep and b"content-length: " in head.lower():
                n = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
                if len(body) >= n: break
    except OSError:
        pass
    s.close()
    head, _, body = data.partition(b"\r\n\r\n")
    status = head.split(b" ")[1].decode() if head.startswith(b"HTTP/1.1 ") else "none"
    try:
        err = "error" in json.loads(body) and b"application/json" in head
    except ValueError:
        err = False
    return status, time.time() - t, err
for name, want, raw in cases:
    status, secs, err = answer(raw)
    print("%s|%s|%s|%.2f|%s" % (name, want, status, secs, err))
PY
while IFS='|' read -r name want got secs err; do
    if [ "$got" = "$want" ] && [ "$err" = True ] && $py -c "import sys; sys.exit(not $secs < 1.0)"; then
        ok "$name: $want with a JSON error"
    else
        fail "$name" "HTTP $got in $secs s, JSON error: $err; wanted $want with a JSON error within 1 s"
    fi
done < answers.txt
[ "$(wc -l < answers.txt)" -eq 22 ] && ok "every case was sent" || fail "cases" "$(cat answers.txt)"

# What a well-behaved client sends still works: escapes that decode to a model's name,
# HTTP/1.0 without Host, a query parameter, a chunked body; and a prediction.
$py - churn.csv <<'PY'
import csv, json, sys
row = next(csv.DictReader(open(sys.argv[1])))
del row["churn"]
open("v1.json", "w").write(json.dumps({"instances": [row]}))
PY
code() { curl -s -o body.json -w '%{http_code}' "$@"; }
equal "an escaped model name is decoded" "$(code "$URL/v2/models/ch%75rn")" "200"
equal "a query parameter is accepted" "$(code "$URL/v2/health/ready?verbose=1")" "200"
equal "HTTP/1.0 without Host is accepted" "$(code -0 -H 'Host:' "$URL/v2/health/ready")" "200"
equal "a chunked body is accepted" "$(code -H 'Transfer-Encoding: chunked' --data-binary @v1.json "$URL/v1/models/churn:predict")" "200"
equal "a prediction after the hostile requests" "$(code --data-binary @v1.json "$URL/v1/models/churn:predict")" "200"
contains "the prediction has its probabilities" body.json '"probabilities"'

kill -TERM $pid; wait $pid
equal "SIGTERM: exits 0" "$?" "0"
finish
