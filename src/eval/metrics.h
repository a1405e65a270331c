/*
 * metrics.h — model quality measures.
 *
 * Definitions follow scikit-learn (1.2) so that numbers can be compared one for one:
 *   accuracy           share of rows whose arg-max class is the label (ties: the lowest class)
 *   roc_auc            binary: area under the ROC curve with ties counted half (Mann-Whitney);
 *                      multiclass: unweighted mean of one-vs-rest AUCs (sklearn multi_class="ovr",
 *                      average="macro")
 *   average_precision  Σ_n (R_n − R_{n−1}) P_n over distinct thresholds (sklearn's, no
 *                      interpolation); multiclass: macro mean one-vs-rest
 *   log_loss           mean −log p[label], p clipped to [1e-15, 1 − 1e-15] and each row then
 *                      divided by its sum (sklearn's log_loss with eps=1e-15; note that sklearn
 *                      1.2's default eps is "auto", the dtype's machine epsilon)
 *   f1                 binary: F1 of class 1 at the arg-max prediction (= threshold 0.5 when the
 *                      two columns sum to 1); multiclass: macro F1 over the classes that occur
 *                      as a label or as a prediction; 0/0 counts as 0 (sklearn's default)
 *   brier              binary: mean (p1 − y)² (sklearn's brier_score_loss); multiclass: mean
 *                      over rows of Σ_k (p_k − [y=k])² (sklearn has no multiclass Brier score;
 *                      this is Brier's original definition, which is twice sklearn's value on
 *                      binary data, hence binary keeps sklearn's)
 *   ece                expected calibration error of the top-class probability over 15
 *                      equal-width bins (b/15, (b+1)/15], the first also holding 0:
 *                      Σ_b (n_b / n) |acc_b − conf_b|
 *   rmse, mae, r2      regression; r2 = 1 − SS_res / SS_tot; with a constant y (SS_tot = 0) r2 is
 *                      1 for a perfect prediction and 0 otherwise (sklearn's force_finite=True)
 * A measure that does not apply (or is undefined, e.g. AUC with one class) is NaN and is left
 * out of the JSON. Deliberate differences from sklearn, where sklearn raises or returns a
 * placeholder: average precision with no positive row is NaN (sklearn: 0 and a warning); a
 * multiclass macro AUC (average precision) leaves out the classes whose one-vs-rest split is
 * undefined — no positive or no negative row (no positive row) — and is NaN when none is left
 * (sklearn raises); r2 with fewer than 2 rows is NaN (as sklearn).
 *
 * Thread-safety: every function here works only on its arguments; calls on different outputs
 * may run concurrently. Nothing here prints or keeps state.
 */
#ifndef KEEL_EVAL_METRICS_H
#define KEEL_EVAL_METRICS_H

#include "base/base.h"

typedef struct keel_metrics {
    double accuracy, roc_auc, average_precision, log_loss, f1, brier, ece;
    double rmse, mae, r2;
    uint64_t n; /* rows scored */
} keel_metrics;

/* Sets every measure of m to NaN and n to 0. */
void keel_metrics_clear(keel_metrics *m);

/* Scores class probabilities against labels. m is cleared first, then the classification
 * measures (accuracy .. ece) and n are filled; rmse, mae and r2 stay NaN.
 * proba: n rows of k >= 2 class probabilities (row-major; binary: column 1 is the positive
 * class), read as given (not renormalised, except inside log_loss as sklearn does); y: labels
 * in [0, k). Both are borrowed for the call only.
 * n = 0 is not an error: KEEL_OK with every measure NaN and n = 0.
 * Errors: KEEL_EINVAL for m == NULL, k < 2, n * k overflowing, NULL y or proba with n > 0, a
 * label out of range, or a NaN or infinite probability (m is left cleared); KEEL_ENOMEM (m is
 * left cleared). Cost: O(k n log n) time (one sort per one-vs-rest class), O(n + k) memory. */
int keel_metrics_classification(const int32_t *y, const float *proba, size_t n, size_t k,
                                keel_metrics *m);

/* Scores regression predictions. m is cleared first, then rmse, mae, r2 and n are filled.
 * y and pred: n values each, borrowed for the call. n = 0 gives KEEL_OK with every measure
 * NaN; n = 1 gives rmse and mae with r2 NaN.
 * Errors: KEEL_EINVAL for m == NULL, NULL y or pred with n > 0, or a NaN or infinite value
 * (m is left cleared). Never allocates. O(n). */
int keel_metrics_regression(const double *y, const double *pred, size_t n, keel_metrics *m);

/* Appends {"accuracy":..,...} skipping NaN measures, plus "n" (an integer). Keys in this order:
 * accuracy, roc_auc, average_precision, log_loss, f1, brier, ece, rmse, mae, r2, n; numbers
 * are written by keel_buf_json_num (shortest round-tripping form).
 * Errors: KEEL_EINVAL for a NULL argument; KEEL_ENOMEM, after which out holds what it held
 * before the call. */
int keel_metrics_to_json(const keel_metrics *m, keel_buf *out);

/* Appends one "name  value" line per defined measure, names padded so that the values line
 * up, values with 6 significant digits, then an "n" line; for people, not for parsing.
 * Errors as keel_metrics_to_json. */
int keel_metrics_to_text(const keel_metrics *m, keel_buf *out);

#endif
