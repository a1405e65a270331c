# The ranged-option parser every command shares (tools/cli.c, cli_option): a value outside
# its range, a fraction where a whole number is wanted, text where a number is, or a missing
# value is a usage error (exit 2) that names the option; both "--opt V" and "--opt=V" work,
# and a seed keeps all its digits.
. "$(dirname "$0")/lib.sh"
cd "$T"
head -n 201 "$ROOT/data/pima2.csv" > pima.csv
expect "train: --epochs 2.5 is not a whole number" 2 "$KEEL" train pima.csv --target diabetes --epochs 2.5
contains "train: the message names --epochs" "$T/err" "--epochs: '2.5'"
expect "train: --dropout past its range" 2 "$KEEL" train pima.csv --target diabetes --dropout 0.99
expect "train: --lr as text" 2 "$KEEL" train pima.csv --target diabetes --lr=fast
contains "train: --opt=V form read" "$T/err" "--lr: 'fast'"
expect "train: --threads without a value" 2 "$KEEL" train pima.csv --target diabetes --threads
expect "cv: --folds past its range" 2 "$KEEL" cv pima.csv --target diabetes --folds 101
contains "cv: the hint" "$T/err" "--folds must be a whole number from 2 to 100 (got '101')"
expect "train: --reasons past its range" 2 "$KEEL" train pima.csv --target diabetes --reasons 17
expect "explain: --top 0" 2 "$KEEL" explain x.keel pima.csv --top 0
expect "serve: --port past its range" 2 "$KEEL" serve --model x.keel --port 70000
expect "serve: --poll as text" 2 "$KEEL" serve --model x.keel --poll soon
expect "data validate: --max-quarantine-rate above 1" 2 "$KEEL" data validate pima.csv --schema s.yaml --max-quarantine-rate 2
contains "data validate: the hint" "$T/err" "needs a fraction between 0 and 1"
expect "data infer: --max-rows 0" 2 "$KEEL" data infer pima.csv --max-rows 0
# Values that fit are taken, in both forms, and a large seed is kept exactly (not rounded
# through a double): it is recorded in the model's lineage.
expect "train: --epochs=1 --seed 9007199254740993" 0 "$KEEL" train pima.csv --target diabetes \
    --epochs=1 --seed 9007199254740993 --no-registry -q -o m.keel
python3 - "$T/m.keel" > "$T/seed" <<'PY'
import sys
data = open(sys.argv[1], "rb").read()
print("9007199254740993" in data.decode("latin-1"))
PY
equal "train: the seed kept to the last digit" "$(cat "$T/seed")" "True"
finish
