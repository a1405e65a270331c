#!/usr/bin/env python3
"""Makes large benchmark CSVs from the shipped real data (data/mlc_churn.csv).

Rows are drawn at random from the real file and every numeric field is jittered by up to
±5% (integers stay integers), so the values keep the real distributions and types while the
file reaches the size asked for. Deterministic (seeded).

usage: gen_data.py OUT.csv ROWS [--dirty RATE] [--source data/NAME.csv]
  --dirty RATE  corrupts that fraction of rows (bad numbers, unknown categories, wrong field
                counts, broken quotes) to exercise quarantine
  --source F    the real data to draw rows from (default data/mlc_churn.csv)
"""
import csv, random, sys

def main():
    out, rows = sys.argv[1], int(sys.argv[2])
    dirty = float(sys.argv[sys.argv.index("--dirty") + 1]) if "--dirty" in sys.argv else 0.0
    rng = random.Random(20261123)
    source = sys.argv[sys.argv.index("--source") + 1] if "--source" in sys.argv else "data/mlc_churn.csv"
    with open(source, newline="") as f:
        r = csv.reader(f)
        header = next(r)
        base = list(r)
    kinds = []
    for j in range(len(header)):
        vals = [row[j] for row in base]
        try:
            [float(v) for v in vals if v != "NA"]
            kinds.append("int" if all(v.lstrip("-").isdigit() for v in vals if v != "NA") else "float")
        except ValueError:
            kinds.append("str")
    with open(out, "w", newline="") as f:
        f.write(",".join('"%s"' % h for h in header) + "\n")
        for i in range(rows):
            row = base[rng.randrange(len(base))]
            cells = []
            for v, k in zip(row, kinds):
                if v == "NA":
                    cells.append("NA")
                elif k == "str":
                    cells.append('"%s"' % v)
                elif k == "int":
                    x = int(v)
                    cells.append(str(max(0, x + int(round(x * rng.uniform(-0.05, 0.05))))))
                else:
                    cells.append("%.2f" % (float(v) * rng.uniform(0.95, 1.05)))
            if dirty and rng.random() < dirty:
                what = rng.randrange(4)
                if what == 0:
                    cells[1] = "twelve" if kinds[1] != "str" else '"twelve"' 
                elif what == 1:
                    cells[0] = '"ZZ"'
                elif what == 2:
                    cells.append("extra")
                else:
                    cells[3] = '"no"x'
            f.write(",".join(cells) + "\n")

if __name__ == "__main__":
    main()
