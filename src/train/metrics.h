/*
 * metrics.h — model quality measures, stratified folds and probability calibration.
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
#ifndef KEEL_TRAIN_METRICS_H
#define KEEL_TRAIN_METRICS_H

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

/* Assigns each of n rows a fold in [0, k), written to fold[0..n) (caller-owned).
 * Classification (y != NULL, labels >= 0) keeps each class's share in every fold, as
 * sklearn's StratifiedKFold(shuffle=True) does (same guarantees, not the same assignment): each
 * class's rows are shuffled (Fisher-Yates with keel_rng seeded by seed) and dealt round-robin, the
 * dealing position carrying on from one class to the next (from a random start). Rows with y < 0,
 * and every row when y == NULL (regression), are shuffled and dealt last in the same way, so they
 * are spread at random. Guarantees: overall fold sizes differ by at most 1, and so do each class's
 * counts per fold. Deterministic for a given (y, n, k, seed) on every machine. k > n leaves some
 * folds empty. Errors: KEEL_EINVAL for k < 1 or fold == NULL with n > 0; KEEL_ENOMEM (fold is then
 * unspecified). O(n log n) time, O(n) memory. */
int keel_folds_stratified(const int32_t *y, size_t n, int k, uint64_t seed, int32_t *fold);

/* Calibration fitted on held-out logits, minimising log loss:
 *   binary (k == 1 logit per row): Platt scaling p = σ(a z + b);
 *   multiclass (k >= 2 logits): temperature scaling p = softmax(z / T).
 * A plain value: copy it, store it; nothing to free. */
typedef struct keel_calibration {
    int kind; /* 0 none, 1 platt, 2 temperature */
    double a, b, t;
} keel_calibration;

/* Fits c on n rows of logits (row-major, k per row) and labels y (k == 1: y in {0, 1};
 * k >= 2: y in [0, k)); both borrowed for the call.
 * Platt: Newton's method on (a, b) minimising mean log loss + 1e-6/2 (a² + b²), with a
 * backtracking line search and a gradient-step fallback; the tiny L2 keeps a and b finite on
 * separable or one-class data. Temperature: golden-section search of log T over
 * [log 0.05, log 20] (the loss is convex in 1/T, hence unimodal there).
 * On success c->kind is 1 (Platt: a, b set, t = 1) or 2 (temperature: t set, a = 1, b = 0).
 * Errors: KEEL_EINVAL for c, logits or y NULL, k == 0, n * k overflowing, a label out of
 * range or a NaN or infinite logit; KEEL_EEMPTY for n == 0. On failure c is the identity
 * (kind 0, a = 1, b = 0, t = 1). Never allocates. O(n k) per iteration, at most 100 Newton
 * iterations or 100 golden-section steps. */
int keel_calibration_fit(keel_calibration *c, const float *logits, const int32_t *y, size_t n,
                         size_t k);

/* Writes n rows of probabilities to proba (caller-owned): binary (k == 1) 2 columns
 * (1 − p, p), multiclass k columns. The logit is first transformed: kind 1 a z + b (for
 * k >= 2, a z: b cancels in the softmax), kind 2 z / t, kind 0 or c == NULL unchanged; then a
 * numerically stable sigmoid (k == 1) or softmax (k >= 2) is applied. A t that is not a
 * positive finite number counts as 1. A NaN logit gives NaN probabilities in its row, and so
 * does an infinite one when k >= 2. Does nothing when k == 0. Never allocates. */
void keel_calibration_apply(const keel_calibration *c, const float *logits, size_t n, size_t k,
                            float *proba);

#endif
