#!/usr/bin/env python3
"""Makes large benchmark CSVs from the shipped real data (data/mlc_churn.csv).

Rows are drawn at random from the real file and every numeric field is jittered by up to
±5% (integers stay integers), so the values keep the real distributions and types while the
file reaches the size asked for. Deterministic (seeded).

usage: gen_data.py OUT.csv ROWS [--dirty RATE]
  --dirty RATE  corrupts that fraction of rows (bad numbers, unknown categories, wrong field
                counts, broken quotes) to exercise quarantine
"""
import csv, random, sys

def main():
    out, rows = sys.argv[1], int(sys.argv[2])
    dirty = float(sys.argv[sys.argv.index("--dirty") + 1]) if "--dirty" in sys.argv else 0.0
    rng = random.Random(20261123)
    with open("data/mlc_churn.csv", newline="") as f:
        r = csv.reader(f)
        header = next(r)
        base = list(r)
    kinds = []
    for j in range(len(header)):
        vals = [row[j] for row in base]
        try:
            [float(v) for v in vals]
            kinds.append("int" if all(v.lstrip("-").isdigit() for v in vals) else "float")
        except ValueError:
            kinds.append("str")
    with open(out, "w", newline="") as f:
        f.write(",".join('"%s"' % h for h in header) + "\n")
        for i in range(rows):
            row = base[rng.randrange(len(base))]
            cells = []
            for v, k in zip(row, kinds):
                if k == "str":
                    cells.append('"%s"' % v)
                elif k == "int":
                    x = int(v)
                    cells.append(str(max(0, x + int(round(x * rng.uniform(-0.05, 0.05))))))
                else:
                    cells.append("%.2f" % (float(v) * rng.uniform(0.95, 1.05)))
            if dirty and rng.random() < dirty:
                what = rng.randrange(4)
                if what == 0:
                    cells[1] = "twelve"
                elif what == 1:
                    cells[0] = '"ZZ"'
                elif what == 2:
                    cells.append("extra")
                else:
                    cells[3] = '"no"x'
            f.write(",".join(cells) + "\n")

if __name__ == "__main__":
    main()
