/*
 * shapley.c — interventional Shapley values over the model's background sample.
 *
 * A coalition S of inputs takes its representation blocks from the row and the others from a
 * background row. The first layer is linear, so its pre-activation for (S, background row k)
 * is the background row's own, u_k = b + bg_k·W, plus Σ_{i∈S} δ_i where δ_i = (r − bg_k)·W
 * restricted to input i's dimensions. Each input's δ_i is computed once per background row
 * (one pass over W), and a new coalition costs one vector addition before the hidden layers:
 *   exact     for each background row, all 2^p coalitions in Gray-code order (each differs
 *             from the previous by one input), v(S) averaged over the background, then the
 *             Shapley formula Σ_S |S|!(p−|S|−1)!/p! (v(S∪i) − v(S));
 *   sampled   antithetic pairs: a random permutation and its reverse, both walked from the
 *             background row to the row adding one input at a time; each walk's increments
 *             sum to f(x) − f(bg_k), so every pair's estimate is exactly efficient, and the
 *             pairs' background rows go round the sample so each is used equally. The
 *             standard error is the pairs' standard deviation over √pairs.
 */
#include "explain/explain_impl.h"

#include <math.h>
#include <string.h>

#define CHUNK_ROWS 512

int explain_background_init(keel_explainer *x, const keel_model *m)
{
    if (m->background && m->n_background) {
        x->bg = m->background;
        x->n_bg = m->n_background;
    } else {
        x->bg = x->base;
        x->n_bg = 1;
    }
    return KEEL_OK;
}

/* Per-input first-layer shares of (r − bg): delta[i, :] = Σ_{d owned by i} (r[d] − bg[d]) W[d, :],
 * and the background row's pre-activation into ub. */
static void shares(const keel_explainer *x, const float *r, const float *bg, float *delta,
                   float *ub)
{
    const tail_layer *t = &x->layers[0];
    size_t n1 = t->n;
    memset(delta, 0, x->n_inputs * n1 * sizeof *delta);
    for (size_t d = 0; d < x->d; d++) {
        uint32_t o = x->owner[d];
        float v = r[d] - bg[d];
        if (o == UINT32_MAX || v == 0) continue;
        const float *w = t->w + d * n1;
        float *dst = delta + (size_t)o * n1;
        for (size_t j = 0; j < n1; j++)
            dst[j] += v * w[j];
    }
    explain_first_layer(x, bg, 1, ub);
}

/* Values of `rows` rows of first-layer pre-activations in s (stride n1). */
static void values(keel_explainer *x, const keel_model *m, float *s, size_t rows,
                   const keel_explanation *out, double *v)
{
    const float *z = explain_tail_run(x, s, rows);
    for (size_t j = 0; j < rows; j++)
        v[j] = explain_output(x, m, z + j * m->n_out, out->class_index, out->scale, NULL);
}

static int exact(keel_explainer *x, const keel_model *m, const float *r, float *s, float *delta,
                 float *ub, keel_explanation *out)
{
    size_t p = x->n_inputs, n1 = x->layers[0].n, masks = (size_t)1 << p;
    double *v = keel_calloc(masks, sizeof *v), *vals = keel_malloc(CHUNK_ROWS * sizeof *vals);
    float *u = keel_malloc(n1 * sizeof *u);
    if (!v || !vals || !u) {
        keel_free(v);
        keel_free(vals);
        keel_free(u);
        return KEEL_ENOMEM;
    }
    size_t *mask_of = (size_t *)keel_malloc(CHUNK_ROWS * sizeof(size_t));
    if (!mask_of) {
        keel_free(v);
        keel_free(vals);
        keel_free(u);
        return KEEL_ENOMEM;
    }
    /* An input whose share is zero for every background row is a dummy player: its value
     * is exactly 0, which the Gray-code sums, rounded along different paths, would miss by
     * a few ulps. */
    uint64_t moves = 0;
    for (size_t k = 0; k < x->n_bg; k++) {
        shares(x, r, x->bg + k * x->d, delta, ub);
        for (size_t i = 0; i < p; i++)
            for (size_t q = 0; q < n1 && !(moves >> i & 1); q++)
                if (delta[i * n1 + q] != 0) moves |= (uint64_t)1 << i;
        memcpy(u, ub, n1 * sizeof *u);
        size_t gray = 0;
        for (size_t i0 = 0; i0 < masks; i0 += CHUNK_ROWS) {
            size_t c = KEEL_MIN((size_t)CHUNK_ROWS, masks - i0);
            for (size_t j = 0; j < c; j++) {
                size_t i = i0 + j;
                if (i) { /* Gray code: step i flips the bit at i's lowest set bit */
                    size_t bit = (size_t)__builtin_ctzll((unsigned long long)i);
                    const float *dl = delta + bit * n1;
                    float sign = (gray >> bit) & 1 ? -1.0f : 1.0f;
                    gray ^= (size_t)1 << bit;
                    for (size_t q = 0; q < n1; q++)
                        u[q] += sign * dl[q];
                }
                memcpy(s + j * n1, u, n1 * sizeof *u);
                mask_of[j] = gray;
            }
            values(x, m, s, c, out, vals);
            for (size_t j = 0; j < c; j++)
                v[mask_of[j]] += vals[j] / (double)x->n_bg;
        }
    }
    /* weights w(s) = s! (p − s − 1)! / p! */
    double w[64];
    for (size_t sz = 0; sz < p; sz++)
        w[sz] = exp(lgamma((double)sz + 1) + lgamma((double)(p - sz)) - lgamma((double)p + 1));
    for (size_t i = 0; i < p; i++) {
        double phi = 0;
        size_t bit = (size_t)1 << i;
        for (size_t mk = 0; mk < masks; mk++)
            if (!(mk & bit))
                phi += w[__builtin_popcountll((unsigned long long)mk)] * (v[mk | bit] - v[mk]);
        out->attributions[i] = moves >> i & 1 ? phi : 0;
        if (out->std_errors) out->std_errors[i] = 0;
    }
    out->prediction = v[masks - 1];
    out->baseline_prediction = v[0];
    out->steps = (int)KEEL_MIN((double)INT32_MAX, (double)masks * (double)x->n_bg);
    out->exact = true;
    keel_free(v);
    keel_free(vals);
    keel_free(u);
    keel_free(mask_of);
    return KEEL_OK;
}

static int sampled(keel_explainer *x, const keel_model *m, const float *r, float *s, float *delta,
                   float *ub, const keel_explain_options *o, keel_explanation *out)
{
    size_t p = x->n_inputs, n1 = x->layers[0].n;
    size_t pairs = o->pairs > 0 ? (size_t)o->pairs : x->n_bg * ((32 + x->n_bg - 1) / x->n_bg);
    size_t rows = 2 * p; /* forward walk R_0..R_p, reverse walk Q_1..Q_{p-1} */
    size_t *perm = keel_malloc(p * sizeof *perm);
    double *sum = keel_calloc(p, sizeof *sum), *sq = keel_calloc(p, sizeof *sq);
    double *vals = keel_malloc((rows + 1) * sizeof *vals), *est = keel_malloc(p * sizeof *est);
    int rc = KEEL_ENOMEM;
    if (!perm || !sum || !sq || !vals || !est) goto done;
    keel_rng rng;
    keel_rng_seed(&rng, o->seed);
    for (size_t j = 0; j < pairs; j++) {
        shares(x, r, x->bg + (j % x->n_bg) * x->d, delta, ub);
        for (size_t i = 0; i < p; i++)
            perm[i] = i;
        for (size_t i = p; i > 1; i--) {
            size_t q = (size_t)(keel_rng_uniform(&rng) * (double)i);
            if (q >= i) q = i - 1;
            size_t t = perm[i - 1];
            perm[i - 1] = perm[q];
            perm[q] = t;
        }
        /* R_t = ub + Σ_{u<=t} δ_perm[u-1]; Q_t = ub + Σ of the last t of perm */
        memcpy(s, ub, n1 * sizeof *s);
        for (size_t t = 1; t <= p; t++) {
            const float *dl = delta + perm[t - 1] * n1, *prev = s + (t - 1) * n1;
            float *cur = s + t * n1;
            for (size_t q = 0; q < n1; q++)
                cur[q] = prev[q] + dl[q];
        }
        for (size_t t = 1; t < p; t++) {
            const float *dl = delta + perm[p - t] * n1;
            const float *prev = t == 1 ? ub : s + (p + t - 1) * n1;
            float *cur = s + (p + t) * n1;
            for (size_t q = 0; q < n1; q++)
                cur[q] = prev[q] + dl[q];
        }
        values(x, m, s, rows, out, vals);
        /* increments: forward R_t − R_{t-1} for perm[t-1]; reverse Q_t − Q_{t-1} for
         * perm[p-t] (Q_0 = R_0, Q_p = R_p) */
        for (size_t t = 1; t <= p; t++)
            est[perm[t - 1]] = (vals[t] - vals[t - 1]) / 2;
        for (size_t t = 1; t <= p; t++) {
            double hi = t == p ? vals[p] : vals[p + t], lo = t == 1 ? vals[0] : vals[p + t - 1];
            est[perm[p - t]] += (hi - lo) / 2;
        }
        for (size_t i = 0; i < p; i++) {
            sum[i] += est[i];
            sq[i] += est[i] * est[i];
        }
    }
    for (size_t i = 0; i < p; i++) {
        double mean = sum[i] / (double)pairs;
        out->attributions[i] = mean;
        if (out->std_errors) {
            double var =
                pairs > 1 ? (sq[i] - (double)pairs * mean * mean) / (double)(pairs - 1) : 0;
            out->std_errors[i] = var > 0 ? sqrt(var / (double)pairs) : 0;
        }
    }
    out->steps = (int)KEEL_MIN((double)INT32_MAX, (double)pairs * (double)rows);
    out->exact = false;
    rc = KEEL_OK;
done:
    keel_free(perm);
    keel_free(sum);
    keel_free(sq);
    keel_free(vals);
    keel_free(est);
    return rc;
}

int explain_shapley(keel_explainer *x, keel_model *m, const float *r, const keel_explain_options *o,
                    keel_explanation *out)
{
    size_t p = x->n_inputs, n1 = x->layers[0].n, k = m->n_out;
    bool use_exact = p <= (size_t)o->exact_max_columns && p < 63;
    size_t rows = KEEL_MAX(use_exact ? (size_t)CHUNK_ROWS : 2 * p, x->n_bg + 1);
    float *s = explain_scratch_take(x, explain_tail_floats(x, rows) + (p + 1) * n1 + 64);
    if (!s) return KEEL_ENOMEM;
    float *delta = s + explain_tail_floats(x, rows), *ub = delta + p * n1;
    /* The class and scale from the row's logits; f(x) and the background's mean. */
    explain_first_layer(x, r, 1, s);
    explain_first_layer(x, x->bg, x->n_bg, s + n1);
    const float *z = explain_tail_run(x, s, x->n_bg + 1);
    explain_resolve(x, m, o, z, out);
    double fx = explain_output(x, m, z, out->class_index, out->scale, NULL), fb = 0;
    for (size_t j = 0; j < x->n_bg; j++)
        fb += explain_output(x, m, z + (j + 1) * k, out->class_index, out->scale, NULL);
    fb /= (double)x->n_bg;
    int rc = use_exact ? exact(x, m, r, s, delta, ub, out) : sampled(x, m, r, s, delta, ub, o, out);
    if (!rc) {
        out->prediction = fx;
        out->baseline_prediction = fb;
        double sum = 0;
        for (size_t i = 0; i < p; i++)
            sum += out->attributions[i];
        out->completeness_error = fabs(sum - (fx - fb));
        out->method = KEEL_EXPLAIN_SHAPLEY;
    }
    explain_scratch_give(x, s);
    return rc;
}
