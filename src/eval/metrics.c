/*
 * metrics.c — classification and regression quality measures, and their JSON and text forms.
 *
 * Every measure is defined as scikit-learn 1.2 defines it (see metrics.h for the list and the
 * few deliberate differences), so that a number keel prints can be checked against sklearn
 * one for one; tests/unit/metrics_expected.py produces the reference values.
 *
 * Classification makes one pass over the rows for everything that is a sum over rows
 * (accuracy, log loss, Brier, the confusion counts behind F1, the 15 calibration bins), then
 * one sort per one-vs-rest class for the ranking measures. ROC AUC and average precision
 * both come from a single sweep down the scores sorted in descending order, taking rows with
 * equal scores as one group (a "distinct threshold"): the AUC adds, for each negative, the
 * positives ranked above it plus half of those tied with it (Mann-Whitney U, which equals
 * sklearn's trapezoidal area under its tie-collapsed ROC curve), and average precision adds
 * (new positives / P) × precision at each threshold, which is sklearn's step-wise
 * Σ (R_n − R_{n−1}) P_n. Counts are integers; sums are doubles. The sort is O(n log n), so
 * the whole is O(k n log n) for k classes and never O(n²).
 *
 * Nothing here keeps state; the only allocations are the per-class counts and the sort
 * buffer of one call, freed before it returns.
 */
#include "eval/metrics.h"

#include <inttypes.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>

/* sklearn's clip for log_loss (the pre-1.2 default, and what metrics.h promises). */
#define LOG_LOSS_EPS 1e-15
#define ECE_BINS     15

void keel_metrics_clear(keel_metrics *m)
{
    if (!m) return;
    m->accuracy = m->roc_auc = m->average_precision = m->log_loss = NAN;
    m->f1 = m->brier = m->ece = NAN;
    m->rmse = m->mae = m->r2 = NAN;
    m->n = 0;
}

/* ---- ranking measures ------------------------------------------------------------------ */

/* One row seen one-vs-rest: its score for the class, and whether it belongs to the class. */
typedef struct scored {
    float s;
    int32_t pos;
} scored;

/* Descending by score. Order within equal scores does not matter: ties are taken as a group. */
static int by_score_desc(const void *pa, const void *pb)
{
    float a = ((const scored *)pa)->s, b = ((const scored *)pb)->s;
    return (a < b) - (a > b);
}

/* Sorts v and computes the ROC AUC and the average precision of the positive rows.
 * AUC is NaN without a positive or without a negative row; AP is NaN without a positive. */
static void rank_measures(scored *v, size_t n, double *auc, double *ap)
{
    qsort(v, n, sizeof *v, by_score_desc);
    uint64_t n_pos = 0;
    for (size_t i = 0; i < n; i++)
        n_pos += (uint64_t)v[i].pos;
    uint64_t n_neg = (uint64_t)n - n_pos;
    *auc = NAN;
    *ap = NAN;
    if (n_pos == 0) return;

    /* area = Σ over negatives of (positives above + ½ positives tied): exact in a double up
     * to 2^52, far beyond any n whose square would otherwise matter. */
    double area = 0.0, ap_sum = 0.0;
    uint64_t tp = 0, seen = 0;
    for (size_t i = 0; i < n;) {
        size_t j = i;
        uint64_t tp_group = 0;
        while (j < n && v[j].s == v[i].s) {
            tp_group += (uint64_t)v[j].pos;
            j++;
        }
        uint64_t fp_group = (uint64_t)(j - i) - tp_group;
        area += (double)fp_group * ((double)tp + 0.5 * (double)tp_group);
        tp += tp_group;
        seen += (uint64_t)(j - i);
        /* Recall rises by tp_group / P at this threshold, where precision is tp / seen. */
        if (tp_group) ap_sum += (double)tp_group * ((double)tp / (double)seen);
        i = j;
    }
    if (n_neg > 0) *auc = area / ((double)n_pos * (double)n_neg);
    *ap = ap_sum / (double)n_pos;
}

/* ---- classification ---------------------------------------------------------------------- */

/* Bin of a top-class confidence: bin b holds (b/15, (b+1)/15], bin 0 also 0 (and anything
 * below), the last bin anything above 1. conf * 15 can round across an edge, so the guess is
 * settled against the edges b/15 computed as doubles, the same edges a reference would use. */
static int ece_bin(double conf)
{
    if (!(conf > 0.0)) return 0;
    if (conf >= 1.0) return ECE_BINS - 1;
    int b = (int)ceil(conf * ECE_BINS) - 1;
    if (b < 0) b = 0;
    if (b > ECE_BINS - 1) b = ECE_BINS - 1;
    while (b > 0 && conf <= (double)b / ECE_BINS)
        b--;
    while (b < ECE_BINS - 1 && conf > (double)(b + 1) / ECE_BINS)
        b++;
    return b;
}

/* F1 as sklearn computes it: precision and recall with 0/0 = 0, then their harmonic mean,
 * 0 when both are 0. */
static double f1_score(uint64_t tp, uint64_t n_pred, uint64_t n_true)
{
    double p = n_pred ? (double)tp / (double)n_pred : 0.0;
    double r = n_true ? (double)tp / (double)n_true : 0.0;
    return p + r > 0.0 ? 2.0 * p * r / (p + r) : 0.0;
}

int keel_metrics_classification(const int32_t *y, const float *proba, size_t n, size_t k,
                                keel_metrics *m)
{
    if (!m) return KEEL_EINVAL;
    keel_metrics_clear(m);
    size_t nk;
    if (k < 2 || !keel_size_mul(n, k, &nk)) return KEEL_EINVAL;
    if (n == 0) return KEEL_OK;
    if (!y || !proba) return KEEL_EINVAL;
    for (size_t i = 0; i < n; i++)
        if (y[i] < 0 || (size_t)y[i] >= k) return KEEL_EINVAL;
    for (size_t i = 0; i < nk; i++)
        if (!isfinite(proba[i])) return KEEL_EINVAL;

    int rc = KEEL_ENOMEM;
    /* Per class: rows labelled c, rows predicted c, rows both (true positives). */
    uint64_t *n_true = keel_calloc(k, 3 * sizeof(uint64_t));
    scored *v = keel_reallocarray(NULL, n, sizeof *v);
    if (!n_true || !v) goto fail;
    uint64_t *n_pred = n_true + k, *n_tp = n_true + 2 * k;

    bool binary = k == 2;
    uint64_t correct = 0;
    double log_loss = 0.0, brier = 0.0;
    uint64_t bin_n[ECE_BINS] = {0}, bin_correct[ECE_BINS] = {0};
    double bin_conf[ECE_BINS] = {0};
    for (size_t i = 0; i < n; i++) {
        const float *p = proba + i * k;
        size_t label = (size_t)y[i];
        size_t top = 0;
        for (size_t c = 1; c < k; c++)
            if (p[c] > p[top]) top = c; /* first maximum wins, as numpy's argmax */
        bool hit = top == label;
        correct += hit;
        n_true[label]++;
        n_pred[top]++;
        n_tp[label] += hit;

        /* log loss: clip to [eps, 1 - eps], renormalise the row, −log p[label] (sklearn). */
        double row_sum = 0.0, p_label = 0.0;
        for (size_t c = 0; c < k; c++) {
            double q = fmin(fmax((double)p[c], LOG_LOSS_EPS), 1.0 - LOG_LOSS_EPS);
            row_sum += q;
            if (c == label) p_label = q;
        }
        log_loss -= log(p_label / row_sum);

        if (binary) {
            double d = (double)p[1] - (double)(label == 1);
            brier += d * d;
        } else {
            for (size_t c = 0; c < k; c++) {
                double d = (double)p[c] - (double)(c == label);
                brier += d * d;
            }
        }

        int b = ece_bin((double)p[top]);
        bin_n[b]++;
        bin_correct[b] += hit;
        bin_conf[b] += (double)p[top];
    }

    double dn = (double)n;
    m->n = (uint64_t)n;
    m->accuracy = (double)correct / dn;
    m->log_loss = log_loss / dn;
    m->brier = brier / dn;
    double ece = 0.0;
    for (int b = 0; b < ECE_BINS; b++) {
        if (!bin_n[b]) continue;
        double nb = (double)bin_n[b];
        /* (n_b / n) |acc_b − conf_b| = |correct_b − Σ conf_b| / n */
        ece += (nb / dn) * fabs((double)bin_correct[b] / nb - bin_conf[b] / nb);
    }
    m->ece = ece;

    if (binary) {
        m->f1 = f1_score(n_tp[1], n_pred[1], n_true[1]);
    } else {
        /* Macro over the classes that occur as a label or a prediction (sklearn's labels). */
        double sum = 0.0;
        size_t used = 0;
        for (size_t c = 0; c < k; c++) {
            if (!n_true[c] && !n_pred[c]) continue;
            sum += f1_score(n_tp[c], n_pred[c], n_true[c]);
            used++;
        }
        m->f1 = sum / (double)used; /* used >= 1: every row has a label */
    }

    /* Ranking measures, one-vs-rest: class 1 alone when binary, else every class (macro). */
    double auc_sum = 0.0, ap_sum = 0.0;
    size_t auc_used = 0, ap_used = 0;
    for (size_t c = binary ? 1 : 0; c < k; c++) {
        for (size_t i = 0; i < n; i++) {
            v[i].s = proba[i * k + c];
            v[i].pos = (size_t)y[i] == c;
        }
        double auc, ap;
        rank_measures(v, n, &auc, &ap);
        if (!isnan(auc)) {
            auc_sum += auc;
            auc_used++;
        }
        if (!isnan(ap)) {
            ap_sum += ap;
            ap_used++;
        }
    }
    if (auc_used) m->roc_auc = auc_sum / (double)auc_used;
    if (ap_used) m->average_precision = ap_sum / (double)ap_used;
    rc = KEEL_OK;
fail:
    keel_free(n_true);
    keel_free(v);
    if (rc != KEEL_OK) keel_metrics_clear(m);
    return rc;
}

/* ---- regression -------------------------------------------------------------------------- */

int keel_metrics_regression(const double *y, const double *pred, size_t n, keel_metrics *m)
{
    if (!m) return KEEL_EINVAL;
    keel_metrics_clear(m);
    if (n == 0) return KEEL_OK;
    if (!y || !pred) return KEEL_EINVAL;
    for (size_t i = 0; i < n; i++)
        if (!isfinite(y[i]) || !isfinite(pred[i])) return KEEL_EINVAL;

    double ss_res = 0.0, abs_err = 0.0, sum_y = 0.0;
    bool constant = true;
    for (size_t i = 0; i < n; i++) {
        double d = pred[i] - y[i];
        ss_res += d * d;
        abs_err += fabs(d);
        sum_y += y[i];
        constant = constant && y[i] == y[0];
    }
    double dn = (double)n;
    m->n = (uint64_t)n;
    m->rmse = sqrt(ss_res / dn);
    m->mae = abs_err / dn;
    if (n < 2) return KEEL_OK; /* r2 is not defined on one row (sklearn: NaN) */

    /* Two passes for SS_tot (the one-pass formula cancels badly). A constant y is detected
     * exactly rather than trusted to the rounding of its mean, which could leave a tiny
     * SS_tot and a huge negative r2 where sklearn's force_finite rule applies. */
    double ss_tot = 0.0;
    if (!constant) {
        double mean = sum_y / dn;
        for (size_t i = 0; i < n; i++) {
            double d = y[i] - mean;
            ss_tot += d * d;
        }
    }
    if (ss_tot > 0.0)
        m->r2 = 1.0 - ss_res / ss_tot;
    else
        m->r2 = ss_res == 0.0 ? 1.0 : 0.0;
    return KEEL_OK;
}

/* ---- output ------------------------------------------------------------------------------ */

static const struct {
    const char *name;
    size_t offset;
} FIELDS[] = {
    {"accuracy", offsetof(keel_metrics, accuracy)},
    {"roc_auc", offsetof(keel_metrics, roc_auc)},
    {"average_precision", offsetof(keel_metrics, average_precision)},
    {"log_loss", offsetof(keel_metrics, log_loss)},
    {"f1", offsetof(keel_metrics, f1)},
    {"brier", offsetof(keel_metrics, brier)},
    {"ece", offsetof(keel_metrics, ece)},
    {"rmse", offsetof(keel_metrics, rmse)},
    {"mae", offsetof(keel_metrics, mae)},
    {"r2", offsetof(keel_metrics, r2)},
};

static double field(const keel_metrics *m, size_t i)
{
    return *(const double *)((const char *)m + FIELDS[i].offset);
}

int keel_metrics_to_json(const keel_metrics *m, keel_buf *out)
{
    if (!m || !out) return KEEL_EINVAL;
    keel_buf_mark start = keel_buf_begin(out);
    keel_buf_putc(out, '{');
    for (size_t i = 0; i < KEEL_ARRAY_LEN(FIELDS); i++) {
        double v = field(m, i);
        if (isnan(v)) continue;
        if (out->len > start.len + 1) keel_buf_putc(out, ',');
        keel_buf_printf(out, "\"%s\":", FIELDS[i].name);
        keel_buf_json_num(out, v);
    }
    keel_buf_printf(out, "%s\"n\":%" PRIu64 "}", out->len > start.len + 1 ? "," : "", m->n);
    return keel_buf_end(out, start);
}

int keel_metrics_to_text(const keel_metrics *m, keel_buf *out)
{
    if (!m || !out) return KEEL_EINVAL;
    keel_buf_mark start = keel_buf_begin(out);
    /* 17 = strlen("average_precision"), the longest name. */
    for (size_t i = 0; i < KEEL_ARRAY_LEN(FIELDS); i++) {
        double v = field(m, i);
        if (!isnan(v)) keel_buf_printf(out, "%-17s  %.6g\n", FIELDS[i].name, v);
    }
    keel_buf_printf(out, "%-17s  %" PRIu64 "\n", "n", m->n);
    return keel_buf_end(out, start);
}
