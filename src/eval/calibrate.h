/*
 * calibrate.h — turning a model's held-out logits into calibrated probabilities.
 *
 * Thread-safety: works only on its arguments. Nothing here prints or keeps state.
 */
#ifndef KEEL_EVAL_CALIBRATE_H
#define KEEL_EVAL_CALIBRATE_H

#include "base/base.h"

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
