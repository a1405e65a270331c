# Broken and hostile files: each gets a clear error or quarantine entries, never a crash,
# and the counts always reconcile (records = accepted + quarantined).
. "$(dirname "$0")/lib.sh"
cd "$T"
printf 'id,amount,label\n1,2.5,a\n2,3.5,b\n3,4.5,a\n' > good.csv
expect "infer a small file" 0 "$KEEL" data infer good.csv -o s.yaml
reconciles() { # NAME: the last --json summary in $T/out reconciles
    equal "$1: counts reconcile" "$(json "$T/out" "j['records'] == j['accepted'] + j['quarantined']")" "True"
}

: > empty.csv
expect "empty file: clear error" 1 "$KEEL" data validate empty.csv --schema s.yaml
contains "empty file: message" "$T/err" "empty"
expect "empty file: infer refuses" 1 "$KEEL" data infer empty.csv

printf 'id,amount,label\n' > header.csv
expect "header only: zero records" 0 "$KEEL" data validate header.csv --schema s.yaml --json
equal "header only: counts" "$(json "$T/out" "j['records'], j['quarantined']")" "(0, 0)"

head -c 200000 /dev/urandom > garbage.bin
expect "binary garbage: infer fails or succeeds, no crash" "$( "$KEEL" data infer garbage.bin -o g.yaml >/dev/null 2>&1; echo $?)" "$KEEL" data infer garbage.bin -o g.yaml
run "$KEEL" data validate garbage.bin --schema s.yaml --json
if [ "$status" -lt 2 ]; then ok "binary garbage: validate exits cleanly ($status)"; else fail "binary garbage: validate" "exit $status" "$(cat "$T/err")"; fi

printf 'id,amount,label\n1,2.5,a\n2,3.5,b\n3,4.' > truncated.csv
expect "truncated file: validated" 0 "$KEEL" data validate truncated.csv --schema s.yaml --json --quarantine q1.jsonl
reconciles "truncated"
contains "truncated: last record quarantined" q1.jsonl '"code":"field_count"'

printf 'id,amount,label\n1,2.5,a\n2,"3.5,b\n3,4.5,a\n' > unterminated.csv
expect "unterminated quote: validated" 0 "$KEEL" data validate unterminated.csv --schema s.yaml --json --quarantine q2.jsonl
reconciles "unterminated"
contains "unterminated: reason" q2.jsonl '"code":"unterminated_quote"'

python3 -c "print('id,amount,label'); print(','.join(['1']*100000)); print('2,3.5,b')" > wide.csv
expect "100,000 fields: validated" 0 "$KEEL" data validate wide.csv --schema s.yaml --json --quarantine q3.jsonl
equal "100,000 fields: one quarantined, one accepted" "$(json "$T/out" "j['accepted'], j['quarantined']")" "(1, 1)"
contains "100,000 fields: reason" q3.jsonl "expected 3 fields, found 100000"

python3 -c "
import sys
sys.stdout.write('id,amount,label\n1,2.5,\"')
sys.stdout.write('x' * (100 * 1024 * 1024))
sys.stdout.write('\"\n2,3.5,b\n')" > huge.csv
expect "100 MB field: validated" 0 "$KEEL" data validate huge.csv --schema s.yaml --json --quarantine q4.jsonl
equal "100 MB field: quarantined as too long, next record fine" "$(json "$T/out" "j['accepted'], j['reasons']")" "(1, {'record_too_long': 1})"
contains "100 MB field: says how long" q4.jsonl '"record_bytes":104857608'
expect "100 MB field: accepted with a bigger limit" 0 "$KEEL" data validate huge.csv --schema s.yaml --json --no-quarantine --max-record-bytes 200000000
equal "100 MB field: then an unknown category" "$(json "$T/out" "j['reasons']")" "{'unknown_category': 1}"

printf 'id,amount,label\n1,2.5,\xff\xfe\n2,3.5,b\n' > badutf8.csv
expect "invalid UTF-8: validated" 0 "$KEEL" data validate badutf8.csv --schema s.yaml --json --quarantine q5.jsonl
contains "invalid UTF-8: reason" q5.jsonl '"code":"invalid_utf8"'
contains "invalid UTF-8: exact bytes kept" q5.jsonl '"record_base64":"MSwyLjUs//4="'

printf 'id,amount,label\n1,2.5,a\n2,oops,b\n3,4.5,z\n4,3.0,a\n' > dirty.csv
expect "threshold crossed: exit 1" 1 "$KEEL" data validate dirty.csv --schema s.yaml --max-quarantine-rate 0.25
contains "threshold: says so" "$T/err" "above --max-quarantine-rate"
expect "threshold not crossed: exit 0" 0 "$KEEL" data validate dirty.csv --schema s.yaml --max-quarantine-rate 0.5
contains "summary names the reasons" "$T/out" "bad_number"
expect "errors point to file:line:column" 0 "$KEEL" data validate dirty.csv --schema s.yaml --quarantine q6.jsonl
contains "file:line:column in the message" q6.jsonl "dirty.csv:3:3: column 'amount': 'oops' is not a number"

# Latin-1 with semicolons and decimal commas, as a European ERP exports it.
printf 'kunde;betrag;stadt\n1;2,50;K\xf6ln\n2;3,75;M\xfcnchen\n3;1,25;K\xf6ln\n' > latin1.csv
expect "latin-1: infer" 0 "$KEEL" data infer latin1.csv -o l.yaml
contains "latin-1: encoding detected" l.yaml "latin-1"
contains "latin-1: delimiter detected" l.yaml 'delimiter: ";"'
contains "latin-1: decimal comma detected" l.yaml 'decimal: ","'
contains "latin-1: city converted to UTF-8" l.yaml "Köln"
expect "latin-1: validate" 0 "$KEEL" data validate latin1.csv --schema l.yaml --json --max-quarantine-rate 0

# CRLF, BOM, blank lines
printf '\xef\xbb\xbfid,amount,label\r\n1,2.5,a\r\n\r\n2,3.5,b\r\n' > crlf.csv
expect "CRLF+BOM: validate" 0 "$KEEL" data validate crlf.csv --schema s.yaml --json
equal "CRLF+BOM: counts and blank line" "$(json "$T/out" "j['accepted'], j['blank_lines']")" "(2, 1)"

# A schema of 100,000 columns (wide sensor exports): infer and validate stay linear.
python3 -c "print(','.join('s%d' % i for i in range(100000))); print(','.join(str(i % 7) for i in range(100000)))" > wide100k.csv
expect "100,000 columns: infer" 0 "$KEEL" data infer wide100k.csv -o wide.yaml
expect "100,000 columns: validate" 0 "$KEEL" data validate wide100k.csv --schema wide.yaml --json
equal "100,000 columns: accepted" "$(json "$T/out" "j['accepted']")" "1"

# Usage errors and help
expect "no arguments: usage" 2 "$KEEL"
expect "unknown command: usage" 2 "$KEEL" frobnicate
expect "validate without schema: usage" 2 "$KEEL" data validate good.csv
expect "unknown option: usage" 2 "$KEEL" data validate good.csv --schema s.yaml --bogus
expect "missing file: exit 1" 1 "$KEEL" data validate nope.csv --schema s.yaml
contains "missing file: names it" "$T/err" "nope.csv"
for c in infer validate profile; do
    expect "data $c --help" 0 "$KEEL" data "$c" --help
done
printf 'version: 1\ncolumns:\n  - name: a\n    tpye: numeric\n' > typo.yaml
expect "schema typo: exit 1" 1 "$KEEL" data validate good.csv --schema typo.yaml
contains "schema typo: names the place" "$T/err" "typo.yaml:4"
# The CLI reference is generated from --help; it must be current.
"$ROOT/scripts/gen-cli-doc.sh" "$KEEL" > cli.md
if diff -q cli.md "$ROOT/docs/cli.md" >/dev/null; then ok "docs/cli.md matches --help"
else fail "docs/cli.md matches --help" "run scripts/gen-cli-doc.sh > docs/cli.md" "$(diff cli.md "$ROOT/docs/cli.md" | head -10)"; fi
finish
