# keel train / evaluate / predict / cv on the shipped data: the defaults work, the artifact is
# reproducible, a killed run resumes to the same bytes, Ctrl-C keeps the best model, and a
# damaged artifact is refused with a clear message.
. "$(dirname "$0")/lib.sh"
cd "$T"
export SOURCE_DATE_EPOCH=1767225600 KEEL_USER=tester # fixed creation time and author
D=$ROOT/data

# Hold out every fifth row of pima2 for evaluation (the header stays on both).
awk 'NR == 1 || NR % 5 != 1' "$D/pima2.csv" > train.csv
awk 'NR == 1 || NR % 5 == 1' "$D/pima2.csv" > test.csv

# ---- defaults ----
expect "train: defaults" 0 "$KEEL" train train.csv --target diabetes -o pima.keel --json
equal "train: binary task with classes neg/pos" "$(json "$T/out" "j['task']")" "binary"
equal "train: sha256 is the file's" "$(json "$T/out" "j['sha256']")" "$(sha256sum pima.keel | cut -d' ' -f1)"
equal "train: validation AUC is useful (> 0.75)" "$(json "$T/out" "j['validation']['roc_auc'] > 0.75")" "True"
contains "train: JSON lines progress when not a terminal" "$T/err" '"event":"epoch"'
equal "train: the checkpoint is removed after a finished run" "$(ls pima.keel.ckpt 2>/dev/null)" ""

expect "evaluate: held-out rows" 0 "$KEEL" evaluate pima.keel test.csv --json
equal "evaluate: sklearn key names" "$(json "$T/out" "sorted(k for k in j if k in ('accuracy','roc_auc','average_precision','log_loss','f1','brier','ece'))")" "['accuracy', 'average_precision', 'brier', 'ece', 'f1', 'log_loss', 'roc_auc']"
equal "evaluate: every held-out row scored" "$(json "$T/out" "(j['records'], j['scored'])")" "(153, 153)"
equal "evaluate: held-out AUC > 0.75" "$(json "$T/out" "j['roc_auc'] > 0.75")" "True"
expect "evaluate: text output" 0 "$KEEL" evaluate pima.keel test.csv
contains "evaluate: text names the measures" "$T/out" "roc_auc"

# ---- predict ----
cut -d, -f1-8 test.csv > features.csv # no target column: predict must not need it
expect "predict: a file without the target" 0 "$KEEL" predict pima.keel features.csv -o pred.csv
equal "predict: header" "$(head -n 1 pred.csv)" "line,prediction,p_neg,p_pos"
equal "predict: one line per record" "$(($(wc -l < pred.csv) - 1))" "153"
equal "predict: each row names its record's line" "$(awk -F, 'NR > 1 && $1 != NR { bad++ } END { print bad + 0 }' pred.csv)" "0"
equal "predict: probabilities sum to one" "$(awk -F, 'NR > 1 { d = $3 + $4 - 1; if (d > 1e-5 || d < -1e-5) bad++ } END { print bad + 0 }' pred.csv)" "0"
expect "predict: threads give the same output" 0 "$KEEL" predict pima.keel features.csv -o pred1.csv --threads 1
equal "predict: 1 thread = default threads" "$(cmp -s pred.csv pred1.csv && echo same)" "same"
# A record that breaks the model's schema is quarantined, not scored.
(head -n 3 features.csv; echo "1,abc,70,30,100,30.5,0.5,40"; tail -n +4 features.csv) > dirty.csv
expect "predict: dirty input" 0 "$KEEL" predict pima.keel dirty.csv -o pred2.csv --quarantine q.jsonl
equal "predict: the bad record is left out" "$(($(wc -l < pred2.csv) - 1))" "153"
equal "predict: the lines around the bad record" "$(sed -n '3,5p' pred2.csv | cut -d, -f1 | tr '\n' ' ')" "3 5 6 "
equal "predict: the other predictions are unchanged" "$(tail -n +2 pred.csv | cut -d, -f2- | md5sum)" "$(tail -n +2 pred2.csv | cut -d, -f2- | md5sum)"
contains "predict: quarantine names the reason" q.jsonl '"bad_number"'
contains "predict: quarantine names the line" q.jsonl '"line":4'
# The same records as JSON Lines (the model was trained on CSV): read as JSON Lines by the
# file's name, with a blank line and a broken record among them, lines counted as in the file.
python3 -c "
import csv, json, sys
rows = list(csv.DictReader(open('features.csv')))
with open('features.jsonl', 'w') as f:
    for i, r in enumerate(rows):
        f.write(json.dumps({k: float(v) if v not in ('', 'NA') else None for k, v in r.items()}) + '\n')
        if i == 0: f.write('\n{\"glucose\": \"abc\"}\n')
"
expect "predict: JSON Lines records with a CSV model" 0 "$KEEL" predict pima.keel features.jsonl -o pred_jl.csv --quarantine q_jl.jsonl
equal "predict: JSON Lines, one line per good record" "$(($(wc -l < pred_jl.csv) - 1))" "153"
equal "predict: JSON Lines, the lines skip the blank and the broken record" "$(sed -n '2,4p' pred_jl.csv | cut -d, -f1 | tr '\n' ' ')" "1 4 5 "
equal "predict: JSON Lines, the same predictions as the CSV" "$(tail -n +2 pred.csv | cut -d, -f2- | md5sum)" "$(tail -n +2 pred_jl.csv | cut -d, -f2- | md5sum)"
contains "predict: JSON Lines, the broken record quarantined at its line" q_jl.jsonl '"line":3'

# ---- reproducible ----
expect "train: second run, same seed" 0 "$KEEL" train train.csv --target diabetes -o again.keel -q
equal "train: same seed and threads give the same bytes" "$(cmp -s pima.keel again.keel && echo same)" "same"
expect "train: another seed" 0 "$KEEL" train train.csv --target diabetes -o other.keel -q --seed 7
equal "train: another seed gives another model" "$(cmp -s pima.keel other.keel && echo same)" ""

# ---- resume after kill -9 ----
# Reference: an uninterrupted run of a fixed 40 epochs.
opts=(--target INCOME --epochs 40 --patience 40 -q)
expect "resume: reference run" 0 "$KEEL" train "$D/income.csv" "${opts[@]}" -o ref.keel
killed=no
for attempt in 1 2 3; do
    rm -f run.keel run.keel.ckpt
    "$KEEL" train "$D/income.csv" "${opts[@]}" -o run.keel 2>/dev/null & pid=$!
    # Kill it once a few epochs are checkpointed.
    for i in $(seq 1 2000); do
        [ -f run.keel.ckpt ] && break
        kill -0 $pid 2>/dev/null || break
        sleep 0.01
    done
    sleep 0.3
    if kill -9 $pid 2>/dev/null; then wait $pid 2>/dev/null; killed=yes; break; fi
    wait $pid
done
equal "resume: a run was killed mid-training" "$killed" "yes"
equal "resume: no model written by the killed run" "$(ls run.keel 2>/dev/null)" ""
cp run.keel.ckpt killed.ckpt
expect "resume: --resume continues" 0 "$KEEL" train "$D/income.csv" "${opts[@]}" -o run.keel --resume
equal "resume: the resumed model is the uninterrupted one, byte for byte" "$(cmp -s ref.keel run.keel && echo same)" "same"
# A checkpoint of other data, or of other settings, is refused rather than used.
expect "resume: other data refused" 1 "$KEEL" train train.csv --target diabetes --checkpoint killed.ckpt --resume -q
contains "resume: the message says why" "$T/err" "other data"
cp killed.ckpt killed2.ckpt
expect "resume: other settings refused" 1 "$KEEL" train "$D/income.csv" "${opts[@]}" --lr 0.01 --checkpoint killed2.ckpt --resume -o x.keel
contains "resume: the message names settings" "$T/err" "other settings"

# ---- Ctrl-C keeps the best model ----
rm -f int.keel
"$KEEL" train "$D/income.csv" --target INCOME --epochs 500 --patience 500 -o int.keel >int.out 2>int.err & pid=$!
for i in $(seq 1 1000); do [ -f int.keel.ckpt ] && break; sleep 0.01; done
sleep 0.2
kill -INT $pid; wait $pid; status=$?
equal "interrupt: exit status 1" "$status" "1"
contains "interrupt: says where the best model is" int.err "best model so far is in int.keel"
expect "interrupt: the kept model evaluates" 0 "$KEEL" evaluate int.keel "$D/income.csv" --json

# ---- other tasks ----
awk 'NR == 1 || NR % 4 != 1' "$D/digits.csv" > dtrain.csv
awk 'NR == 1 || NR % 4 == 1' "$D/digits.csv" > dtest.csv
expect "multiclass: digits" 0 "$KEEL" train dtrain.csv --target digit -o digits.keel -q --json
equal "multiclass: task" "$(json "$T/out" "j['task']")" "multiclass"
expect "multiclass: evaluate" 0 "$KEEL" evaluate digits.keel dtest.csv --json
equal "multiclass: held-out accuracy > 0.9" "$(json "$T/out" "j['accuracy'] > 0.9")" "True"
# Regression: the day's charge is a tariff times the day's minutes, which are a feature.
awk 'NR == 1 || NR % 5 != 1' "$D/mlc_churn.csv" > ctrain.csv
awk 'NR == 1 || NR % 5 == 1' "$D/mlc_churn.csv" > ctest.csv
expect "regression: churn day charge" 0 "$KEEL" train ctrain.csv --target total_day_charge -o charge.keel -q --json --epochs 40
equal "regression: task" "$(json "$T/out" "j['task']")" "regression"
expect "regression: evaluate" 0 "$KEEL" evaluate charge.keel ctest.csv --json
equal "regression: rmse, mae and r2 reported, r2 > 0.99" "$(json "$T/out" "('rmse' in j, 'mae' in j, j['r2'] > 0.99)")" "(True, True, True)"

# Every feature kind: numeric with NA, categorical, boolean, free text, timestamp, and an id.
K=$ROOT/tests/data/kinds.csv
expect "kinds: train" 0 "$KEEL" train "$K" --target label -o kinds.keel -q --json
manifest() { python3 -c "
import json, struct, sys
b = open(sys.argv[1], 'rb').read()
off, n = struct.unpack('<QQ', b[24:40])
j = json.loads(b[off:off + n]); print(eval(sys.argv[2]))" "$@"; }
equal "kinds: one transform per feature kind" "$(manifest kinds.keel "[(t['column'], t['kind']) for t in j['transforms']]")" "[('amount', 'numeric'), ('plan', 'categorical'), ('active', 'boolean'), ('note', 'text'), ('signup', 'timestamp')]"
equal "kinds: lineage" "$(manifest kinds.keel "(j['lineage']['user'], j['lineage']['created'], j['lineage']['seed'], len(j['lineage']['data_sha256']))")" "('tester', '2026-01-01T00:00:00Z', 42, 64)"
equal "kinds: the training profile is the drift baseline" "$(manifest kinds.keel "(j['profile']['records'], len(j['profile']['columns']))")" "(400, 7)"
expect "kinds: evaluate" 0 "$KEEL" evaluate kinds.keel "$K" --json
equal "kinds: the model learnt the rule (AUC > 0.85)" "$(json "$T/out" "j['roc_auc'] > 0.85")" "True"
# New data: an unseen plan is scored (as missing), not rejected; the id is passed through.
printf 'id,amount,plan,active,note,signup\nX1,12.5,enterprise,yes,"refund please",2025-12-01T10:00:00Z\nX2,NA,basic,,,2025-06-01T10:00:00Z\n' > new.csv
expect "kinds: predict new rows" 0 "$KEEL" predict kinds.keel new.csv -o new_pred.csv
equal "kinds: lines and ids pass through" "$(cut -d, -f1,2 new_pred.csv | tr '\n' ' ')" "line,id 2,X1 3,X2 "

# ---- cv ----
expect "cv: 3 folds" 0 "$KEEL" cv "$D/pima2.csv" --target diabetes --folds 3 --json -q
equal "cv: three folds reported" "$(json "$T/out" "len(j['per_fold'])")" "3"
equal "cv: mean and std of roc_auc" "$(json "$T/out" "(j['mean']['roc_auc'] > 0.75, 0 < j['std']['roc_auc'] < 0.1)")" "(True, True)"

# ---- damaged artifacts ----
head -c 1000 pima.keel > trunc.keel
expect "corrupt: truncated artifact refused" 1 "$KEEL" evaluate trunc.keel test.csv
contains "corrupt: the message says so" "$T/err" "trunc.keel"
python3 -c "
import sys; b = bytearray(open('pima.keel','rb').read()); b[len(b)//2] ^= 0x10
open('flip.keel','wb').write(b)"
expect "corrupt: a flipped bit is refused" 1 "$KEEL" predict flip.keel features.csv
contains "corrupt: checksum message" "$T/err" "checksum"
echo "not a model" > text.keel
expect "corrupt: a text file is refused" 1 "$KEEL" evaluate text.keel test.csv
expect "corrupt: a missing file" 1 "$KEEL" evaluate nothere.keel test.csv

# ---- usage errors ----
expect "usage: train without --target" 2 "$KEEL" train train.csv
expect "usage: unknown option" 2 "$KEEL" train train.csv --target diabetes --bogus
expect "usage: bad value" 2 "$KEEL" train train.csv --target diabetes --lr nope
expect "train: unknown target column" 1 "$KEEL" train train.csv --target nope
contains "train: the message names the column" "$T/err" "'nope'"
expect "help: train" 0 "$KEEL" train --help
finish
