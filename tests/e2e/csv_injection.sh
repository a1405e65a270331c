# CSV formula injection (OWASP): a class label, an id or a reason that starts with = + - @
# (or a tab or carriage return) would run as a formula when keel predict's or keel explain's
# CSV is opened in a spreadsheet. keel writes such a cell with a leading ', leaves numbers
# (negative predictions included) as they are, and writes everything raw with --csv-raw.
. "$(dirname "$0")/lib.sh"
cd "$T"
PY=/usr/bin/python3

# A tiny classifier whose labels are "=1+1" and "ok", with an id column whose values start
# with @ and -, and a regression whose predictions are negative.
$PY - <<'EOF'
import random
random.seed(7)
with open("f.csv", "w") as f, open("r.csv", "w") as g:
    f.write("ref,x1,x2,label\n")
    g.write("x1,x2,y\n")
    for i in range(120):
        x1, x2 = random.uniform(0, 1), random.uniform(0, 1)
        ref = ("@id%d" if i % 2 else "-id%d") % i
        f.write("%s,%.4f,%.4f,%s\n" % (ref, x1, x2, "=1+1" if x1 + x2 > 1 else "ok"))
        g.write("%.4f,%.4f,%.4f\n" % (x1, x2, -5 - 3 * x1 + x2))
EOF
cat > f.schema.yaml <<'EOF'
version: 1
columns:
  - name: ref
    type: text
    role: id
  - name: x1
    type: numeric
  - name: x2
    type: numeric
  - name: label
    type: categorical
    role: target
    categories: ["=1+1", ok]
EOF
expect "train: labels that start with =" 0 "$KEEL" train f.csv --target label --schema f.schema.yaml \
    -o f.keel --epochs 30 -q --no-registry
expect "predict: to CSV" 0 "$KEEL" predict f.keel f.csv -o p.csv -q
contains "predict: the header's id column" p.csv "line,ref,prediction,p_=1+1,p_ok"
contains "predict: a label starting with = is text" p.csv ",'=1+1,"
equal "predict: no cell starts with = (a formula)" "$(grep -c ',=' p.csv)" "0"
contains "predict: an id starting with @ is text" p.csv ",'@id1,"
contains "predict: an id starting with - is text" p.csv ",'-id0,"
expect "predict: --csv-raw" 0 "$KEEL" predict f.keel f.csv -o raw.csv -q --csv-raw
contains "predict raw: the label as it is" raw.csv ",=1+1,"
contains "predict raw: the id as it is" raw.csv "2,-id0,"
equal "predict raw: no quote anywhere" "$(grep -c "'" raw.csv)" "0"
equal "predict: the same rows either way, but for the quotes" "$(tr -d "'" < p.csv | cmp -s - raw.csv && echo same)" "same"
expect "predict: --help documents --csv-raw" 0 "$KEEL" predict --help
contains "predict: --help says what it does" "$T/out" "--csv-raw"

expect "explain: CSV" 0 "$KEEL" explain f.keel f.csv --limit 10 --format csv --class =1+1 -o e.csv -q
contains "explain: the class is text" e.csv ",'=1+1,"
contains "explain: the id is text" e.csv "1,2,'-id0,"
expect "explain: --csv-raw" 0 "$KEEL" explain f.keel f.csv --limit 10 --format csv --class =1+1 -o eraw.csv -q --csv-raw
contains "explain raw: the class as it is" eraw.csv ",=1+1,"
equal "explain raw: no quote anywhere" "$(grep -c "'" eraw.csv)" "0"
expect "explain: --csv-raw without CSV is a usage error" 2 "$KEEL" explain f.keel f.csv --limit 1 --csv-raw
contains "explain: says where it applies" "$T/err" "--csv-raw applies to the per-row CSV output"
expect "explain: --help documents --csv-raw" 0 "$KEEL" explain --help
contains "explain: --help says what it does" "$T/out" "--csv-raw"

# Numbers stay numbers: a regression's negative predictions, untouched.
expect "train: a regression with negative values" 0 "$KEEL" train r.csv --target y -o r.keel \
    --epochs 30 -q --no-registry
expect "predict: regression to CSV" 0 "$KEEL" predict r.keel r.csv -o rp.csv -q
equal "predict: every prediction is a negative number, as it is" "$($PY -c "
import csv
rows = list(csv.DictReader(open('rp.csv')))
print(len(rows), all(r['prediction'].startswith('-') and float(r['prediction']) < 0 for r in rows))")" "120 True"
equal "predict: regression output is the same raw" "$("$KEEL" predict r.keel r.csv -q --csv-raw | cmp -s - rp.csv && echo same)" "same"
finish
