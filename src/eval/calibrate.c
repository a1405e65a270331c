/*
 * calibrate.c — probability calibration (Platt and temperature scaling) fitted on held-out
 * logits.
 *
 * Calibration. Both fits minimise the mean log loss on held-out logits and need no memory
 * beyond a few doubles. Platt scaling fits σ(a z + b) by Newton's method on (a, b): the loss
 * is convex, so Newton with a backtracking (Armijo) line search converges; a gradient step
 * stands in when the 2×2 Hessian is not safely positive definite, and a tiny L2 term
 * (1e-6/2 (a² + b²)) gives the problem a finite minimum on separable or one-class data, where
 * the plain loss keeps falling as |a| or |b| grows. Temperature scaling has one parameter;
 * the loss is convex in 1/T (a log-sum-exp of lines in 1/T), so it is unimodal in log T and
 * golden-section search over log T in [log 0.05, log 20] finds its minimum without
 * derivatives. All sums are in double; σ, softplus and log-sum-exp are the stable forms.
 */
#include "eval/calibrate.h"

#include <math.h>
#include <stdlib.h>

/* ---- calibration ------------------------------------------------------------------------- */

#define PLATT_L2        1e-6
#define PLATT_MAX_ITER  100
#define TEMP_MIN        0.05
#define TEMP_MAX        20.0
#define GOLDEN_MAX_ITER 100

static void set_identity(keel_calibration *c)
{
    c->kind = 0;
    c->a = 1.0;
    c->b = 0.0;
    c->t = 1.0;
}

/* σ(x) without overflow: exp of a non-positive number only. */
static double sigmoid(double x)
{
    if (x >= 0) return 1.0 / (1.0 + exp(-x));
    double e = exp(x);
    return e / (1.0 + e);
}

/* log(1 + e^x) without overflow or loss of precision for large |x|. */
static double softplus(double x)
{
    return x > 0 ? x + log1p(exp(-x)) : log1p(exp(x));
}

/* Mean −log σ(±(a z + b)) + L2: with s = a z + b, −log σ(s) = softplus(s) − s for y = 1,
 * and −log(1 − σ(s)) = softplus(s) for y = 0. */
static double platt_loss(const float *z, const int32_t *y, size_t n, double a, double b)
{
    double sum = 0.0;
    for (size_t i = 0; i < n; i++) {
        double s = a * (double)z[i] + b;
        sum += softplus(s) - (y[i] ? s : 0.0);
    }
    return sum / (double)n + 0.5 * PLATT_L2 * (a * a + b * b);
}

/* Backtracking line search along d from (a, b) with loss f and directional slope < 0.
 * Returns true and moves (a, b, f) on sufficient (Armijo) decrease. */
static bool platt_search(const float *z, const int32_t *y, size_t n, double *a, double *b,
                         double *f, double da, double db, double slope)
{
    double step = 1.0;
    for (int tries = 0; tries < 60; tries++, step *= 0.5) {
        double na = *a + step * da, nb = *b + step * db;
        double nf = platt_loss(z, y, n, na, nb);
        if (isfinite(nf) && nf <= *f + 1e-4 * step * slope) {
            *a = na;
            *b = nb;
            *f = nf;
            return true;
        }
    }
    return false;
}

static void platt_fit(const float *z, const int32_t *y, size_t n, double *out_a, double *out_b)
{
    double a = 1.0, b = 0.0; /* start from "already calibrated" */
    double f = platt_loss(z, y, n, a, b);
    double dn = (double)n;
    for (int iter = 0; iter < PLATT_MAX_ITER; iter++) {
        /* Gradient and Hessian of the mean loss, plus the L2 term. */
        double ga = 0, gb = 0, haa = 0, hab = 0, hbb = 0;
        for (size_t i = 0; i < n; i++) {
            double zi = (double)z[i];
            double p = sigmoid(a * zi + b);
            double r = p - (y[i] ? 1.0 : 0.0), w = p * (1.0 - p);
            ga += r * zi;
            gb += r;
            haa += w * zi * zi;
            hab += w * zi;
            hbb += w;
        }
        ga = ga / dn + PLATT_L2 * a;
        gb = gb / dn + PLATT_L2 * b;
        haa = haa / dn + PLATT_L2;
        hab /= dn;
        hbb = hbb / dn + PLATT_L2;
        if (fmax(fabs(ga), fabs(gb)) < 1e-12) break;

        double before = f;
        double det = haa * hbb - hab * hab;
        bool moved = false;
        if (det > 0 && isfinite(det)) {
            /* Newton direction d = −H⁻¹ g. */
            double da = -(hbb * ga - hab * gb) / det, db = -(haa * gb - hab * ga) / det;
            double slope = ga * da + gb * db;
            if (slope < 0 && isfinite(slope))
                moved = platt_search(z, y, n, &a, &b, &f, da, db, slope);
        }
        if (!moved) /* fallback: steepest descent */
            moved = platt_search(z, y, n, &a, &b, &f, -ga, -gb, -(ga * ga + gb * gb));
        if (!moved) break; /* no decrease left that rounding can see: at the minimum */
        if (before - f <= 1e-15 * fmax(1.0, fabs(f))) break;
    }
    *out_a = a;
    *out_b = b;
}

/* Mean −log softmax(z / T)[y] at inv_t = 1 / T > 0, as log-sum-exp shifted by the row max. */
static double temperature_loss(const float *z, const int32_t *y, size_t n, size_t k, double inv_t)
{
    double sum = 0.0;
    for (size_t i = 0; i < n; i++) {
        const float *row = z + i * k;
        double mx = row[0];
        for (size_t c = 1; c < k; c++)
            mx = fmax(mx, (double)row[c]);
        double lse = 0.0;
        for (size_t c = 0; c < k; c++)
            lse += exp(((double)row[c] - mx) * inv_t);
        sum += log(lse) + (mx - (double)row[y[i]]) * inv_t;
    }
    return sum / (double)n;
}

static double temperature_fit(const float *z, const int32_t *y, size_t n, size_t k)
{
    const double ratio = 0.6180339887498949; /* (√5 − 1) / 2 */
    double lo = log(TEMP_MIN), hi = log(TEMP_MAX);
    double u1 = hi - ratio * (hi - lo), u2 = lo + ratio * (hi - lo);
    double f1 = temperature_loss(z, y, n, k, exp(-u1));
    double f2 = temperature_loss(z, y, n, k, exp(-u2));
    for (int iter = 0; iter < GOLDEN_MAX_ITER && hi - lo > 1e-10; iter++) {
        if (f1 <= f2) { /* the minimum lies in [lo, u2] */
            hi = u2;
            u2 = u1;
            f2 = f1;
            u1 = hi - ratio * (hi - lo);
            f1 = temperature_loss(z, y, n, k, exp(-u1));
        } else { /* in [u1, hi] */
            lo = u1;
            u1 = u2;
            f1 = f2;
            u2 = lo + ratio * (hi - lo);
            f2 = temperature_loss(z, y, n, k, exp(-u2));
        }
    }
    double t = exp(0.5 * (lo + hi));
    return fmin(fmax(t, TEMP_MIN), TEMP_MAX);
}

int keel_calibration_fit(keel_calibration *c, const float *logits, const int32_t *y, size_t n,
                         size_t k)
{
    if (!c) return KEEL_EINVAL;
    set_identity(c);
    size_t nk;
    if (!logits || !y || k == 0 || !keel_size_mul(n, k, &nk)) return KEEL_EINVAL;
    if (n == 0) return KEEL_EEMPTY;
    size_t n_labels = k == 1 ? 2 : k;
    for (size_t i = 0; i < n; i++)
        if (y[i] < 0 || (size_t)y[i] >= n_labels) return KEEL_EINVAL;
    for (size_t i = 0; i < nk; i++)
        if (!isfinite(logits[i])) return KEEL_EINVAL;

    if (k == 1) {
        platt_fit(logits, y, n, &c->a, &c->b);
        c->kind = 1;
    } else {
        c->t = temperature_fit(logits, y, n, k);
        c->kind = 2;
    }
    return KEEL_OK;
}

void keel_calibration_apply(const keel_calibration *c, const float *logits, size_t n, size_t k,
                            float *proba)
{
    if (k == 0) return;
    double scale = 1.0, shift = 0.0;
    if (c && c->kind == 1) {
        scale = c->a;
        shift = c->b;
    } else if (c && c->kind == 2 && c->t > 0 && isfinite(c->t)) {
        scale = 1.0 / c->t;
    }
    if (k == 1) {
        for (size_t i = 0; i < n; i++) {
            double s = scale * (double)logits[i] + shift;
            proba[2 * i] = (float)sigmoid(-s); /* not 1 − σ(s): keeps small values exact */
            proba[2 * i + 1] = (float)sigmoid(s);
        }
        return;
    }
    /* softmax(scale z): the shift would cancel. Three passes so nothing needs scratch. */
    for (size_t i = 0; i < n; i++) {
        const float *row = logits + i * k;
        float *out = proba + i * k;
        double mx = scale * (double)row[0];
        for (size_t j = 1; j < k; j++)
            mx = fmax(mx, scale * (double)row[j]);
        double sum = 0.0;
        for (size_t j = 0; j < k; j++)
            sum += exp(scale * (double)row[j] - mx);
        for (size_t j = 0; j < k; j++)
            out[j] = (float)(exp(scale * (double)row[j] - mx) / sum);
    }
}
