# The data commands on the real shipped data sets: infer, validate and profile each one,
# then check the figures against what is known about the data.
. "$(dirname "$0")/lib.sh"
cd "$T"
declare -A target=([breast_cancer_wdbc]=diagnosis [pima2]=diabetes [spam]=type [income]=INCOME
                   [mlc_churn]=churn [shuttle]=Class [digits]=digit)
declare -A rows=([breast_cancer_wdbc]=569 [pima2]=768 [spam]=4601 [income]=8993
                 [mlc_churn]=5000 [shuttle]=58000 [digits]=1797)
for name in "${!target[@]}"; do
    d="$ROOT/data/$name.csv"
    expect "$name: infer" 0 "$KEEL" data infer "$d" --target "${target[$name]}" -o "$name.yaml"
    expect "$name: validate" 0 "$KEEL" data validate "$d" --schema "$name.yaml" --json --max-quarantine-rate 0
    equal "$name: every record accepted" "$(json "$T/out" "j['records'], j['accepted'], j['quarantined']")" "(${rows[$name]}, ${rows[$name]}, 0)"
    expect "$name: profile" 0 "$KEEL" data profile "$d" --schema "$name.yaml" -o "$name.json" --html "$name.html"
    contains "$name: report is HTML with charts" "$name.html" "<svg"
done

# pima2: NA is missing; glucose has 5 missing, insulin 374 (documented in mlbench).
equal "pima2: missing counts" "$(json pima2.json "[c['missing'] for c in j['columns'] if c['name'] in ('glucose','insulin')]")" "[5, 374]"
equal "pima2: target is categorical neg/pos" "$(json pima2.json "[(c['type'], c['role'], [t['value'] for t in c['top']]) for c in j['columns'] if c['name']=='diabetes'][0]")" "('categorical', 'target', ['neg', 'pos'])"
contains "pima2: schema lists NA as missing" pima2.yaml 'missing: ["", NA,'
# pima2 glucose: pandas says mean 121.686763, std 30.535641 over 763 values.
equal "pima2: glucose mean and std as pandas" "$(json pima2.json "[('%.6f %.6f' % (c['numeric']['mean'], c['numeric']['std'])) for c in j['columns'] if c['name']=='glucose'][0]")" "121.686763 30.535641"
# income: all categorical, with NA
equal "income: all columns categorical" "$(json income.json "sorted(set(c['type'] for c in j['columns']))")" "['categorical']"
equal "income: LANGUAGE missing values" "$(json income.json "[c['missing'] for c in j['columns'] if c['name']=='LANGUAGE'][0]")" "359"
# shuttle: 7 classes
equal "shuttle: seven classes" "$(json shuttle.json "[c['categories'] for c in j['columns'] if c['name']=='Class'][0]")" "7"
# digits: the target 0-9 is categorical (small integer domain), pixels numeric
equal "digits: target has ten classes" "$(json digits.json "[c['categories'] for c in j['columns'] if c['name']=='digit'][0]")" "10"

# No false alarms: none of these public data sets holds personal data, and word frequencies
# named "email" or "address" are numbers.
equal "seven schemas inferred" "$(ls *.yaml | wc -l)" "7"
flagged=$(grep -l "^    pii:" *.yaml | tr '\n' ' ')
equal "no personal data flagged in the shipped data" "$flagged" ""

# Merging the profiles of two halves gives the profile of the whole.
head -n 2501 "$ROOT/data/mlc_churn.csv" > a.csv
(head -n 1 "$ROOT/data/mlc_churn.csv"; tail -n 2500 "$ROOT/data/mlc_churn.csv") > b.csv
expect "merge: profile half a" 0 "$KEEL" data profile a.csv --schema mlc_churn.yaml -o a.json --html a.html
expect "merge: profile half b" 0 "$KEEL" data profile b.csv --schema mlc_churn.yaml -o b.json --html b.html
expect "merge: merge the halves" 0 "$KEEL" data profile --merge a.json b.json -o ab.json --html ab.html
cmpexpr="all(abs(x['numeric']['mean']-y['numeric']['mean'])<1e-9*max(1,abs(y['numeric']['mean'])) and abs(x['numeric']['std']-y['numeric']['std'])<1e-9*max(1,y['numeric']['std']) and x['missing']==y['missing'] and x['numeric']['min']==y['numeric']['min'] for x,y in zip(j['columns'], json.load(open('mlc_churn.json'))['columns']) if x['type']=='numeric')"
equal "merge: moments equal those of the whole" "$(json ab.json "$cmpexpr")" "True"
equal "merge: record counts add up" "$(json ab.json "j['records']")" "5000"
cntexpr="[t for c in j['columns'] if c['name']=='state' for t in c['top']] == [t for c in json.load(open('mlc_churn.json'))['columns'] if c['name']=='state' for t in c['top']]"
equal "merge: category counts equal those of the whole" "$(json ab.json "$cntexpr")" "True"
finish
