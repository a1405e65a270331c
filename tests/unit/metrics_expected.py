#!/usr/bin/python3
"""Writes tests/unit/metrics_expected.h: fixed, seeded datasets and scikit-learn's values on them.

test_metrics.c checks keel_metrics_classification / keel_metrics_regression against these to
1e-9 relative. Run it with Debian's python3 (python3-sklearn, `scripts/deps.sh bench`):

    /usr/bin/python3 tests/unit/metrics_expected.py

The datasets come from numpy's legacy RandomState, which is stable across numpy versions, so
re-running gives the same header. Probabilities are rounded to float32 first (keel reads
float), and sklearn is given those exact values as float64, so both sides score identical
numbers. sklearn has no ECE and no multiclass Brier score; those two are computed here with
numpy from their definitions in src/train/metrics.h.
"""
import os
import sys

import numpy as np
import sklearn
from sklearn.metrics import (accuracy_score, average_precision_score, brier_score_loss,
                             f1_score, log_loss, mean_absolute_error, mean_squared_error,
                             r2_score, roc_auc_score)
from sklearn.preprocessing import label_binarize

N = 200
ECE_BINS = 15


def f32(a):
    return np.asarray(a, dtype=np.float32)


def binary_ties(rs):
    """Scores on a 0.05 grid (many ties) including exact 0 and 1, labels loosely related."""
    y = (rs.uniform(size=N) < 0.4).astype(np.int32)
    raw = np.clip(0.35 * y + rs.uniform(size=N) * 0.65, 0, 1)
    p1 = f32(np.round(raw * 20) / 20)
    p1[:4] = [0.0, 1.0, 0.0, 1.0]
    y[:4] = [0, 1, 1, 0]  # two confident hits, two confident misses: log loss clips
    p0 = f32(1 - p1.astype(np.float64))
    return y, np.stack([p0, p1], axis=1)


def binary_imbalanced(rs):
    """About 5% positives, continuous scores."""
    y = np.zeros(N, dtype=np.int32)
    y[rs.choice(N, 11, replace=False)] = 1
    p1 = f32(np.where(y == 1, rs.beta(3, 2, size=N), rs.beta(1.5, 4, size=N)))
    p0 = f32(1 - p1.astype(np.float64))
    return y, np.stack([p0, p1], axis=1)


def softmax_rows(z):
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def multiclass(rs, k, starve):
    """Softmax of noisy logits that lean to the label; every class occurs as a label. With
    starve, the last class is never the arg-max (its F1 is 0/0 -> 0)."""
    y = rs.randint(0, k, size=N).astype(np.int32)
    y[:k] = np.arange(k)
    z = rs.normal(size=(N, k)) * 1.5
    z[np.arange(N), y] += 1.2
    if starve:
        z[:, k - 1] -= 8.0
    p = f32(softmax_rows(z))
    p[k, :] = 0.0  # a one-hot row that is right, and one that is wrong
    p[k, y[k]] = 1.0
    p[k + 1, :] = 0.0
    p[k + 1, (y[k + 1] + 1) % k] = 1.0
    if starve:
        assert not np.any(p.argmax(axis=1) == k - 1)
    return y, p


def ece(y, p):
    top = p.argmax(axis=1)
    conf = p[np.arange(len(y)), top]
    hit = (top == y).astype(np.float64)
    edges = np.arange(ECE_BINS + 1) / float(ECE_BINS)
    # bin b holds (edges[b], edges[b+1]]; 0 goes to bin 0
    b = np.clip(np.searchsorted(edges[1:-1], conf, side="left"), 0, ECE_BINS - 1)
    total = 0.0
    for i in range(ECE_BINS):
        sel = b == i
        if sel.any():
            total += sel.sum() / len(y) * abs(hit[sel].mean() - conf[sel].mean())
    return total


def classification_expect(y, p32):
    p = p32.astype(np.float64)  # the float32 values, exactly
    k = p.shape[1]
    pred = p.argmax(axis=1)
    out = {"accuracy": accuracy_score(y, pred),
           "log_loss": log_loss(y, p, eps=1e-15, labels=list(range(k))),
           "ece": ece(y, p)}
    if k == 2:
        out["roc_auc"] = roc_auc_score(y, p[:, 1])
        out["average_precision"] = average_precision_score(y, p[:, 1])
        out["f1"] = f1_score(y, pred)
        out["brier"] = brier_score_loss(y, p[:, 1])
    else:
        out["roc_auc"] = roc_auc_score(y, p, multi_class="ovr", average="macro")
        out["average_precision"] = average_precision_score(
            label_binarize(y, classes=list(range(k))), p, average="macro")
        out["f1"] = f1_score(y, pred, average="macro")
        onehot = np.eye(k)[y]
        out["brier"] = float(np.mean(np.sum((p - onehot) ** 2, axis=1)))
    return out


FIELDS = ["accuracy", "roc_auc", "average_precision", "log_loss", "f1", "brier", "ece"]


def c_float(v):
    s = "%.9g" % float(v)  # 9 significant digits round-trip a float32
    if not any(ch in s for ch in ".en"):
        s += ".0"  # "1f" is not a C literal, "1.0f" is
    return s + "f"


def c_floats(a):
    return ", ".join(c_float(v) for v in np.asarray(a).ravel())


def c_doubles(a):
    return ", ".join(repr(float(v)) for v in np.asarray(a).ravel())


def c_ints(a):
    return ", ".join(str(int(v)) for v in np.asarray(a).ravel())


def wrap(s, indent="    ", width=96):
    lines, line = [], indent
    for tok in s.split(" "):
        if len(line) + len(tok) + 1 > width and line.strip():
            lines.append(line.rstrip())
            line = indent
        line += tok + " "
    lines.append(line.rstrip())
    return "\n".join(lines)


def main():
    rs = np.random.RandomState(20240607)
    cases = [("binary_ties", *binary_ties(rs)),
             ("binary_imbalanced", *binary_imbalanced(rs)),
             ("multiclass3", *multiclass(rs, 3, False)),
             ("multiclass10", *multiclass(rs, 10, True))]
    ry = rs.normal(3.0, 2.0, size=N)
    rpred = ry + rs.normal(0.0, 0.8, size=N) + 0.1

    out = ["/* Generated by tests/unit/metrics_expected.py with scikit-learn %s, numpy %s."
           % (sklearn.__version__, np.__version__),
           " * Do not edit: change the script and run it again. */",
           "// clang-format off",
           "#ifndef KEEL_TEST_METRICS_EXPECTED_H", "#define KEEL_TEST_METRICS_EXPECTED_H", "",
           "#include <stddef.h>", "#include <stdint.h>", "",
           "typedef struct mx_case {", "    const char *name;", "    size_t n, k;",
           "    const int32_t *y;", "    const float *proba;",
           "    double " + ", ".join(FIELDS) + ";", "} mx_case;", ""]
    rows = []
    for name, y, p in cases:
        e = classification_expect(y, p)
        out.append("static const int32_t mx_%s_y[%d] = {\n%s\n};" % (name, len(y), wrap(c_ints(y))))
        out.append("static const float mx_%s_proba[%d] = {\n%s\n};"
                   % (name, p.size, wrap(c_floats(p))))
        out.append("")
        rows.append('    {"%s", %d, %d, mx_%s_y, mx_%s_proba,\n%s},'
                    % (name, len(y), p.shape[1], name, name,
                       wrap(", ".join(repr(float(e[f])) for f in FIELDS), "     ")))
    out.append("static const mx_case mx_cases[] = {")
    out.extend(rows)
    out.append("};")
    out.append("")
    out.append("#define MX_REG_N %d" % N)
    out.append("static const double mx_reg_y[MX_REG_N] = {\n%s\n};" % wrap(c_doubles(ry)))
    out.append("static const double mx_reg_pred[MX_REG_N] = {\n%s\n};" % wrap(c_doubles(rpred)))
    out.append("static const double mx_reg_rmse = %r;" % float(mean_squared_error(ry, rpred) ** 0.5))
    out.append("static const double mx_reg_mae = %r;" % float(mean_absolute_error(ry, rpred)))
    out.append("static const double mx_reg_r2 = %r;" % float(r2_score(ry, rpred)))
    out.append("")
    out.append("// clang-format on")
    out.append("#endif")
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "metrics_expected.h")
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")
    print("wrote", path, file=sys.stderr)


if __name__ == "__main__":
    main()
