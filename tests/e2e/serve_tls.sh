# keel serve over HTTPS (--tls-cert, --tls-key): a test CA and a server certificate made
# here with openssl; predictions over HTTPS answered as keel predict answers; plain HTTP to
# the HTTPS port and a client that does not trust the CA get nothing; and every bad key or
# certificate (mode 644, missing, swapped, not the certificate's, only one option) is refused
# at start with a message that names the file and the fix.
. "$(dirname "$0")/lib.sh"
cd "$T"
D=$ROOT/data
py=/usr/bin/python3
head -n 401 "$D/mlc_churn.csv" > churn.csv
expect "train: the model to serve" 0 "$KEEL" train churn.csv --target churn -o churn.keel --epochs 1 -q

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

# A CA, a server certificate it signs for 127.0.0.1, and a second key that is not the
# certificate's. EC keys: quick to make.
mk_key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; chmod 600 "$1"; }
mk_key ca.key && mk_key server.key && mk_key other.key
openssl req -x509 -new -key ca.key -out ca.pem -days 2 -subj /CN=keel-test-ca 2>/dev/null
openssl req -new -key server.key -out server.csr -subj /CN=127.0.0.1 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n' > ext.cnf
openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem \
    -days 2 -extfile ext.cnf 2>/dev/null
[ -s server.pem ] && [ -s ca.pem ] && ok "openssl: a test CA and server certificate" \
    || fail "openssl: a test CA and server certificate" "openssl did not make them"

# start ARGS...: the server of churn.keel (lib.sh's start_server); sets $pid and $URL
start() { start_server --no-log --model "$T/churn.keel" "$@"; }

start --tls-cert server.pem --tls-key server.key
case "$URL" in
    https://127.0.0.1:*) ok "https: starts and prints an https:// address" ;;
    *) fail "https: starts and prints an https:// address" "got '$URL'" "$(cat serve.out serve.err)" ;;
esac
port=${URL##*:}

code=$(curl -s --cacert ca.pem -o body -w '%{http_code}' "$URL/v2/health/live")
equal "https: health over TLS, the CA trusted" "$code $(cat body)" '200 {"live":true}'
code=$(curl -s --cacert ca.pem -o body -w '%{http_code}' -X POST "$URL/v1/models/churn:predict" \
    -H 'Content-Type: application/json' --data-binary @v1.json)
equal "https: v1 predict answers 200" "$code" 200
equal "https: the prediction is keel predict's ($p_yes)" \
    "$(json body "abs(j['predictions'][0]['probabilities']['yes'] - $p_yes) < 1e-5" 2>&1)" True

# Plain HTTP to the HTTPS port: no HTTP answer at all (curl's code 000), and the server
# serves on afterwards.
code=$(curl -s -m 5 -o body -w '%{http_code}' "http://127.0.0.1:$port/v2/health/live")
equal "https: plain HTTP to the TLS port gets no answer" "$code" 000
code=$(curl -s -m 5 -o body -w '%{http_code}' "$URL/v2/health/live")
equal "https: a client that does not trust the CA refuses the server" "$code" 000
code=$(curl -s --cacert ca.pem -o body -w '%{http_code}' "$URL/v2/health/ready")
equal "https: still serving after the refused connections" "$code" 200

kill -TERM $pid; wait $pid; st=$?
equal "https: SIGTERM stops it cleanly" "$st" 0

# refused NAME WANT_STATUS WANT_TEXT ARGS...: the server does not start, exits WANT_STATUS
# (1, or 2 for a usage error) and says WANT_TEXT on stderr.
refused() {
    local name=$1 want=$2 text=$3; shift 3
    run timeout 20 "$KEEL" serve -p 0 --no-log --model "$T/churn.keel" "$@"
    if [ "$status" -eq "$want" ] && grep -qF -- "$text" "$T/err" && ! grep -q "listening" "$T/out"; then
        ok "$name"
    else
        fail "$name" "exit $status (wanted $want), stderr: $(head -c 600 "$T/err")" "wanted: $text"
    fi
}
cp server.key open.key; chmod 644 open.key
refused "refused: a key others may read (644)" 1 "run \`chmod 600 $T/open.key\`" \
    --tls-cert server.pem --tls-key "$T/open.key"
chmod 640 open.key
refused "refused: a key its group may read (640)" 1 "(mode 0640)" \
    --tls-cert server.pem --tls-key "$T/open.key"
refused "refused: a missing key file" 1 "the TLS private key $T/nosuch.key: No such file or directory" \
    --tls-cert server.pem --tls-key "$T/nosuch.key"
refused "refused: a missing certificate file" 1 "the TLS certificate nosuch.pem: No such file or directory" \
    --tls-cert nosuch.pem --tls-key server.key
refused "refused: certificate and key swapped" 1 "are --tls-cert and --tls-key swapped?" \
    --tls-cert server.key --tls-key server.pem
echo "not a certificate" > junk.pem
refused "refused: a certificate file holding no PEM certificate" 1 "holds no PEM certificate" \
    --tls-cert junk.pem --tls-key server.key
refused "refused: a key that is not the certificate's (GnuTLS says so)" 1 \
    "cannot serve HTTPS on 127.0.0.1:0: GnuTLS failed to setup x509 certificate/key" \
    --tls-cert server.pem --tls-key other.key
refused "refused: --tls-cert without --tls-key (usage)" 2 "HTTPS needs both --tls-cert FILE and --tls-key FILE" \
    --tls-cert server.pem

# ---- client certificates (--tls-client-ca): one the CA signed is let in; none, or one from
# another CA, gets 403 before the body is read.
mk_key client.key && mk_key stranger.key && mk_key stranger-ca.key
printf 'basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n' > client.cnf
openssl req -new -key client.key -out client.csr -subj /CN=client-app 2>/dev/null
openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out client.pem \
    -days 2 -extfile client.cnf 2>/dev/null
openssl req -x509 -new -key stranger-ca.key -out stranger-ca.pem -days 2 -subj /CN=stranger-ca 2>/dev/null
openssl req -new -key stranger.key -out stranger.csr -subj /CN=stranger 2>/dev/null
openssl x509 -req -in stranger.csr -CA stranger-ca.pem -CAkey stranger-ca.key -CAcreateserial \
    -out stranger.pem -days 2 -extfile client.cnf 2>/dev/null
start --tls-cert server.pem --tls-key server.key --tls-client-ca ca.pem
case "$URL" in
    https://127.0.0.1:*) ok "mtls: starts with --tls-client-ca" ;;
    *) fail "mtls: starts with --tls-client-ca" "got '$URL'" "$(cat serve.out serve.err)" ;;
esac
code=$(curl -s --cacert ca.pem --cert client.pem --key client.key -o body -w '%{http_code}' \
    -X POST "$URL/v1/models/churn:predict" -H 'Content-Type: application/json' --data-binary @v1.json)
equal "mtls: a client certificate the CA signed: predict answers 200" "$code" 200
code=$(curl -s --cacert ca.pem -o body -w '%{http_code}' -X POST "$URL/v1/models/churn:predict" \
    -H 'Content-Type: application/json' --data-binary @v1.json)
equal "mtls: no client certificate: 403" "$code" 403
contains "mtls: the 403 says a client certificate is required" body "a client certificate is required"
code=$(curl -s --cacert ca.pem --cert stranger.pem --key stranger.key -o body -w '%{http_code}' \
    "$URL/v2/health/live")
equal "mtls: a certificate from another CA: 403" "$code" 403
contains "mtls: the 403 says the certificate is refused" body "the client certificate is refused"
kill -TERM $pid; wait $pid
refused "refused: --tls-client-ca without HTTPS (usage)" 2 "--tls-client-ca needs HTTPS" \
    --tls-client-ca ca.pem
refused "refused: a client CA file holding no certificate" 1 "the TLS client CA $T/junk.pem holds no PEM certificate" \
    --tls-cert server.pem --tls-key server.key --tls-client-ca "$T/junk.pem"

# Plain HTTP is as it was when no TLS option is given.
start
case "$URL" in
    http://127.0.0.1:*) ok "http: without TLS options it serves plain HTTP" ;;
    *) fail "http: without TLS options it serves plain HTTP" "got '$URL'" "$(cat serve.err)" ;;
esac
code=$(curl -s -o body -w '%{http_code}' "$URL/v2/health/live")
equal "http: health over plain HTTP" "$code" 200
kill -TERM $pid; wait $pid

finish
