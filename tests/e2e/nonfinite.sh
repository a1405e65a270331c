# A model whose weights overflow computes NaN. keel predict and keel serve once answered it
# as a prediction (a label picked from NaN probabilities, exit 0, HTTP 200); now a row whose
# outputs are not finite numbers is an error: keel predict leaves it out and exits 1 naming
# how many and where, keel serve answers 500 with the documented {"error": ...} body.
. "$(dirname "$0")/lib.sh"
cd "$T"
py=/usr/bin/python3
cp "$ROOT/data/pima2.csv" pima.csv
expect "train: a small model" 0 "$KEEL" train pima.csv --target diabetes -o good.keel --epochs 2 -q

# overflow.keel: good.keel with every weight 2^126 (finite, so the loader accepts it) but the
# first layer's (which keeps the explanations' background sample valid), and the output
# layer's weights of alternating sign: +inf and -inf meet there, which is NaN. The artifact's
# SHA-256 digest is computed again (docs/artifact.md).
$py - good.keel overflow.keel <<'PY'
import hashlib, json, struct, sys
b = bytearray(open(sys.argv[1], "rb").read())
hl, moff, mlen, n = struct.unpack_from("<QQQQ", b, 16)
man = json.loads(b[moff:moff + mlen])
pos, tensors = 48, {}
for _ in range(n):
    (nl,) = struct.unpack_from("<I", b, pos); name = b[pos + 4:pos + 4 + nl].decode(); pos += 4 + nl
    dtype, rank = struct.unpack_from("<II", b, pos); pos += 8 + 8 * rank
    off, nbytes = struct.unpack_from("<QQ", b, pos); pos += 16
    tensors[name] = (off, nbytes)
nodes, io = man["graph"]["nodes"], man["io"]
offset, po = {}, 0
for i, nd in enumerate(nodes):
    if nd["op"] == "param":
        offset[i] = po; po += (nd["rows"] * nd["cols"] + 15) // 16 * 16
keep = set()
for nd in nodes:
    if nd["op"] == "linear" and nd["inputs"][0] == io["dense"]: keep.update(nd["inputs"][1:])
big = 2.0 ** 126
base = tensors["params"][0]
def put(i, v): struct.pack_into("<f", b, base + 4 * i, v)
for i, nd in enumerate(nodes):
    if nd["op"] == "param" and i not in keep:
        for q in range(nd["rows"] * nd["cols"]): put(offset[i] + q, big)
w = nodes[io["logits"]]["inputs"][1]
for q in range(nodes[w]["rows"] * nodes[w]["cols"]): put(offset[w] + q, big if q % 2 == 0 else -big)
b[-32:] = hashlib.sha256(b[:-32]).digest()
open(sys.argv[2], "wb").write(b)
PY
head -n 4 pima.csv | cut -d, -f1-8 > rows.csv

# ---- keel predict ----
expect "predict: the good model scores the rows" 0 "$KEEL" predict good.keel rows.csv -o good.csv
equal "predict: three predictions" "$(($(wc -l < good.csv) - 1))" "3"
expect "predict: NaN predictions fail the command" 1 "$KEEL" predict overflow.keel rows.csv -o nan.csv
contains "predict: says how many and where" "$T/err" "3 records got no prediction, the first on line 2"
contains "predict: says why" "$T/err" "not a finite number (NaN or infinity)"
[ ! -e nan.csv ] && ok "predict: no output file" || fail "predict: an output file was written" "$(cat nan.csv)"
expect "predict: to standard output, also 1" 1 "$KEEL" predict overflow.keel rows.csv
equal "predict: only the header is written" "$(cat "$T/out")" "line,prediction,p_neg,p_pos"
if grep -qi nan "$T/out"; then fail "predict: wrote NaN" "$(cat "$T/out")"; else ok "predict: no NaN written"; fi

# ---- keel explain: an explanation of NaN is an error too, never attributions of null ----
expect "explain: NaN explanations fail the command" 1 "$KEEL" explain overflow.keel rows.csv -o nan.jsonl
contains "explain: says why" "$T/err" "not a finite number (NaN or infinity)"
[ ! -e nan.jsonl ] && ok "explain: no output file" || fail "explain: an output file was written" "$(cat nan.jsonl)"
expect "explain: the good model still explains" 0 "$KEEL" explain good.keel rows.csv -o ok.jsonl

# ---- keel evaluate: no measures of NaN predictions ----
expect "evaluate: NaN predictions fail the command" 1 "$KEEL" evaluate overflow.keel pima.csv
contains "evaluate: says why" "$T/err" "not a finite number (NaN or infinity)"

# ---- keel serve ----
start_server --model "$T/overflow.keel" --no-log
[ -n "$URL" ] && ok "serve: starts" || fail "serve: starts" "$(cat serve.err)"
req() { # NAME PATH BODY [CURL ARGS]: wants 500 and the error body
    local name=$1 path=$2 body=$3; shift 3
    code=$(curl -s -o body.json -w '%{http_code}' -X POST "$URL$path" --data-binary "$body" "$@")
    equal "serve: $name is 500" "$code" "500"
    equal "serve: $name says why" "$($py -c "import json; j = json.load(open('body.json')); print(list(j), 'not a finite number' in j['error'])")" "['error'] True"
}
req "v2" /v2/models/overflow/infer '{"inputs":[{"name":"glucose","shape":[2],"datatype":"FP64","data":[148,85]}]}'
contains "serve: v2 names the row" body.json '"row 0: '
req "v1" /v1/models/overflow:predict '{"instances":[{"glucose":148,"age":50}]}'
req "mlflow" /invocations "$(cat rows.csv)" -H 'Content-Type: text/csv'
req "v2 explain" /v2/models/overflow/explain '{"inputs":[{"name":"glucose","shape":[1],"datatype":"FP64","data":[148]}]}'
req "v1 explain" /v1/models/overflow:explain '{"instances":[{"glucose":148,"age":50}]}'
curl -s "$URL/metrics" > metrics.txt
contains "serve: counted as 500s" metrics.txt 'code="500"'
kill -TERM $pid
wait $pid
equal "serve: exits 0 on SIGTERM" "$?" "0"
finish
