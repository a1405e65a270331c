/*
 * transform.c — fitting, applying, writing and reading feature transforms.
 *
 * Fitting runs once per training run and may allocate freely; applying runs on every
 * prediction and must not: it walks the features once (a switch per feature, not per row)
 * and each feature's rows in a tight loop over the frame's typed column, writing into the
 * caller's dense and index arrays. Only text bags grow, and they keep their memory between
 * batches. Everything apply needs is precomputed into keel_feature at fit or load time (the
 * code map of a categorical column, the knots and scores of a numeric one), and the trig of
 * timestamp features comes from constant tables, so a numeric feature costs a binary search
 * over at most 64 knots and a categorical one a single load.
 *
 * Bit-identical round trip: every double is written with keel_buf_json_num (shortest text
 * that reads back as the same double) and read back as the nearest double, negative zeros
 * are normalised at fit time (the writer prints -0.0 as 0), and apply uses nothing that is
 * not stored, so fit → JSON → load → apply gives the same float bits as the fitted object.
 *
 * Manifest JSON (copied into docs/artifact.md). A transform is an array with one object per
 * feature, in output order; dense offsets, index and bag slots follow from that order and
 * are recomputed on load, never read. Every field listed is required and no other is
 * allowed; duplicate keys are rejected.
 *
 *   {"column": "age", "kind": "numeric", "indicator": true, "fill": 0.0125,
 *    "knots": [18, 21, 25.5, ...], "scores": [-3.29, -2.1, -1.7, ...], "bins": 16}
 *       knots: 0 .. 4096 finite raw values, strictly increasing; scores: as many finite
 *       values in [-5, 5], non-decreasing; fill: finite, in [-5, 5]. Output: the score
 *       interpolated linearly between the two knots around the value (the end scores
 *       outside the knots; fill when there are no knots), then `bins` piecewise-linear
 *       encodings over edges picked evenly from the knots (optional, default 0; at most
 *       n_knots - 1, none below 3 knots), then the indicator if any.
 *   {"column": "active", "kind": "boolean", "indicator": true}
 *       Output: 1 / 0, or 0.5 when missing; then the indicator if any.
 *   {"column": "plan", "kind": "categorical", "vocab": 4, "dim": 3, "code_map": [2, 0, 3]}
 *       code_map has one entry per schema category (schema order): the embedding index of
 *       that category, 0 (unknown or rare) or 2 .. vocab-1. Missing is index 1.
 *       vocab: 2 .. 2^24; dim: 1 .. 1024. Output: one int32 index.
 *   {"column": "note", "kind": "text", "buckets": 16384, "dim": 16}
 *       buckets: 1 .. 2^24; dim: 1 .. 1024. Output: one bag of ids (keel_text_hash_ids).
 *   {"column": "signup", "kind": "timestamp", "indicator": true, "year_mean": 2019.4,
 *    "year_scale": 1.7}
 *       year_mean: finite; year_scale: finite, > 0. Output: 7 floats — the decimal year
 *       scaled and clamped to ±10, sin and cos of month, weekday, hour — then the indicator.
 *
 * Each column must exist in the schema with the matching type (numeric, boolean,
 * categorical, text, timestamp) and appear once. The target's form is described in
 * target.c.
 */
#include "data/transform.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *const kind_names[] = {"numeric", "boolean", "categorical", "text", "timestamp"};

const char *keel_feature_kind_name(keel_feature_kind k)
{
    return (unsigned)k < KEEL_ARRAY_LEN(kind_names) ? kind_names[k] : "?";
}

/* The schema type each kind reads. */
static keel_type kind_type(keel_feature_kind k)
{
    static const keel_type types[] = {KEEL_TYPE_NUMERIC, KEEL_TYPE_BOOLEAN, KEEL_TYPE_CATEGORICAL,
                                      KEEL_TYPE_TEXT, KEEL_TYPE_TIMESTAMP};
    return types[k];
}

#define SCORE_CLAMP 5.0  /* normal scores are clamped to ±5 */
#define YEAR_CLAMP  10.0 /* scaled years are clamped to ±10 */
#define TS_DENSE    7    /* year, sin/cos month, sin/cos weekday, sin/cos hour */

/* ---- the inverse normal CDF -------------------------------------------------------------
 * Acklam's rational approximation (relative error < 1.2e-9): a rational function of
 * q = p - 0.5 in the central region [0.02425, 0.97575], and of sqrt(-2 log p) in the tails.
 * One Halley step on Φ(x) - p, with Φ from erfc, then brings it to machine precision. */

double keel_normal_quantile(double p)
{
    static const double a[] = {-3.969683028665376e+01, 2.209460984245205e+02,
                               -2.759285104469687e+02, 1.383577518672690e+02,
                               -3.066479806614716e+01, 2.506628277459239e+00};
    static const double b[] = {-5.447609879822406e+01, 1.615858368580409e+02,
                               -1.556989798598866e+02, 6.680131188771972e+01,
                               -1.328068155288572e+01};
    static const double c[] = {-7.784894002430293e-03, -3.223964580411365e-01,
                               -2.400758277161838e+00, -2.549732539343734e+00,
                               4.374664141464968e+00,  2.938163982698783e+00};
    static const double d[] = {7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00,
                               3.754408661907416e+00};
    const double lo = 0.02425, hi = 1 - lo;
    if (!(p >= 0 && p <= 1)) return NAN;
    if (p == 0) return -INFINITY;
    if (p == 1) return INFINITY;
    double x;
    if (p < lo || p > hi) {
        double q = sqrt(-2 * log(p < lo ? p : 1 - p));
        x = (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
            ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
        if (p > hi) x = -x;
    } else {
        double q = p - 0.5, r = q * q;
        x = (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q /
            (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
    }
    /* Halley: e = Φ(x) - p, u = e / φ(x), x -= u / (1 + x u / 2). Φ(x) = erfc(-x/√2) / 2. */
    double err = 0.5 * erfc(-x * 0.70710678118654752) - p;
    double u = err * 2.50662827463100050 * exp(x * x / 2); /* √(2π) */
    double refined = x - u / (1 + x * u / 2);
    return isfinite(refined) ? refined : x; /* exp overflows for p below ~1e-300 */
}

/* ---- calendar ------------------------------------------------------------------------- */

#define US_PER_DAY  86400000000LL
#define US_PER_HOUR 3600000000LL

/* Month (1..12) of day z since 1970-01-01: the inverse of keel_days_from_civil's
 * March-based year (an era is 400 years = 146097 days), keeping only the month. */
static unsigned month_from_days(int64_t z)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;                                      /* [0, 146096] */
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365; /* [0, 399] */
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);               /* from 1 March */
    int64_t mp = (5 * doy + 2) / 153;                                    /* 0 = March */
    return (unsigned)(mp < 10 ? mp + 3 : mp - 9);
}

/* sin and cos of 2πk/12, 2πk/7, 2πk/24 (values as float; tests check them against libm). */
static const float month_sin[12] = {0, 0.5f,  0.866025404f,  1,  0.866025404f,  0.5f,
                                    0, -0.5f, -0.866025404f, -1, -0.866025404f, -0.5f};
static const float month_cos[12] = {1,  0.866025404f,  0.5f,  0, -0.5f, -0.866025404f,
                                    -1, -0.866025404f, -0.5f, 0, 0.5f,  0.866025404f};
static const float wday_sin[7] = {
    0, 0.781831482f, 0.974927912f, 0.433883739f, -0.433883739f, -0.974927912f, -0.781831482f};
static const float wday_cos[7] = {
    1, 0.623489802f, -0.222520934f, -0.900968868f, -0.900968868f, -0.222520934f, 0.623489802f};
static const float hour_sin[24] = {
    0,  0.258819045f,  0.5f,          0.707106781f,  0.866025404f,  0.965925826f,
    1,  0.965925826f,  0.866025404f,  0.707106781f,  0.5f,          0.258819045f,
    0,  -0.258819045f, -0.5f,         -0.707106781f, -0.866025404f, -0.965925826f,
    -1, -0.965925826f, -0.866025404f, -0.707106781f, -0.5f,         -0.258819045f};
static const float hour_cos[24] = {
    1,  0.965925826f,  0.866025404f,  0.707106781f,  0.5f,          0.258819045f,
    0,  -0.258819045f, -0.5f,         -0.707106781f, -0.866025404f, -0.965925826f,
    -1, -0.965925826f, -0.866025404f, -0.707106781f, -0.5f,         -0.258819045f,
    0,  0.258819045f,  0.5f,          0.707106781f,  0.866025404f,  0.965925826f};

/* The decimal year of an instant: 1970 + days / 365.2425 (the mean Gregorian year). */
static double decimal_year(int64_t us)
{
    return 1970.0 + (double)us / (double)US_PER_DAY / 365.2425;
}

/* Writes the 7 timestamp outputs of instant us (not missing) into out. */
static void timestamp_features(const keel_feature *ft, int64_t us, float *out)
{
    int64_t days = us / US_PER_DAY, rem = us % US_PER_DAY;
    if (rem < 0) { /* floor division: instants before 1970 */
        rem += US_PER_DAY;
        days -= 1;
    }
    double y = (decimal_year(us) - ft->year_mean) / ft->year_scale;
    if (!(y >= -YEAR_CLAMP)) y = -YEAR_CLAMP; /* also catches NaN from an absurd scale */
    if (y > YEAR_CLAMP) y = YEAR_CLAMP;
    unsigned m = month_from_days(days) - 1;
    int64_t wd = (days + 3) % 7; /* 1970-01-01 was a Thursday: Monday = 0 */
    if (wd < 0) wd += 7;
    int64_t h = rem / US_PER_HOUR;
    out[0] = (float)y;
    out[1] = month_sin[m];
    out[2] = month_cos[m];
    out[3] = wday_sin[wd];
    out[4] = wday_cos[wd];
    out[5] = hour_sin[h];
    out[6] = hour_cos[h];
}

/* ---- numeric interpolation ------------------------------------------------------------- */

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define KNOTS_SIMD_MAX 64
/* How many of the n <= KNOTS_SIMD_MAX knots are <= x: eight compares at a time, no branch on
 * the data. A binary search is a chain of dependent loads (six for 64 knots), most of a
 * served row's transform. */
__attribute__((target("avx512f,popcnt"))) static size_t knots_le_avx512(const double *k, size_t n,
                                                                        double x)
{
    __m512d xv = _mm512_set1_pd(x);
    unsigned count = 0;
    for (size_t i = 0; i < n; i += 8) {
        __mmask8 m = n - i >= 8 ? (__mmask8)0xFF : (__mmask8)((1u << (n - i)) - 1u);
        __mmask8 le = _mm512_mask_cmp_pd_mask(m, _mm512_maskz_loadu_pd(m, k + i), xv, _CMP_LE_OQ);
        count += (unsigned)__builtin_popcount(le);
    }
    return count;
}
#define KNOTS_SIMD() __builtin_cpu_supports("avx512f")
#else
#define KNOTS_SIMD_MAX           0
#define KNOTS_SIMD()             0
#define knots_le_avx512(k, n, x) 0
#endif

/* The score of a non-missing value x: linear between the knots around it, the end scores
 * outside them. Two distinct doubles always differ by a non-zero amount (gradual
 * underflow), so the division is safe; when knots near ±DBL_MAX make the difference
 * overflow, both sides are halved first (exact at that magnitude), and t stays in [0, 1]
 * because rounding is monotone. */
static inline double knot_score(const keel_feature *ft, double x)
{
    size_t n = ft->n_knots;
    const double *k = ft->knots, *s = ft->scores;
    if (n == 0) return ft->fill;
    if (!(x > k[0])) return s[0];
    if (x >= k[n - 1]) return s[n - 1];
    /* The last knot <= x (the knots ascend strictly; k[0] < x < k[n-1]). */
    size_t lo;
    if (n <= KNOTS_SIMD_MAX && KNOTS_SIMD()) {
        lo = knots_le_avx512(k, n, x) - 1;
    } else {
        /* Branch-free binary search (conditional moves): base[0] <= x < base[len]. */
        const double *base = k;
        for (size_t len = n - 1; len > 1;) {
            size_t half = len / 2;
            base = base[half] <= x ? base + half : base;
            len -= half;
        }
        lo = (size_t)(base - k);
    }
    size_t hi = lo + 1;
    double num = x - k[lo], den = k[hi] - k[lo];
    if (KEEL_UNLIKELY(isinf(den))) {
        num = x * 0.5 - k[lo] * 0.5;
        den = k[hi] * 0.5 - k[lo] * 0.5;
    }
    double t = num / den;
    return s[lo] + t * (s[hi] - s[lo]);
}

/* ---- options, freeing, layout ----------------------------------------------------------- */

void keel_transform_options_init(keel_transform_options *o)
{
    o->max_knots = 64;
    o->bins = 16;
    o->min_count = 5;
    o->text_buckets = (size_t)1 << 14;
    o->text_dim = 16;
}

static void feature_free(keel_feature *ft)
{
    keel_free(ft->column);
    keel_free(ft->knots);
    keel_free(ft->scores);
    keel_free(ft->edges);
    keel_free(ft->code_map);
}

void keel_transform_free(keel_transform *t)
{
    if (!t) return;
    for (size_t i = 0; i < t->n_features; i++)
        feature_free(&t->features[i]);
    keel_free(t->features);
    memset(t, 0, sizeof *t);
}

void keel_bags_free(keel_bags *b)
{
    if (!b) return;
    for (size_t i = 0; i < b->n_slots; i++) {
        keel_free(b->slot[i].off);
        keel_free(b->slot[i].ids);
    }
    keel_free(b->slot);
    memset(b, 0, sizeof *b);
}

/* Assigns dense offsets, index and bag slots in feature order (fit and load alike). */
static void layout(keel_transform *t)
{
    t->n_dense = t->n_index = t->n_bags = 0;
    for (size_t i = 0; i < t->n_features; i++) {
        keel_feature *ft = &t->features[i];
        ft->index_slot = ft->bag_slot = -1;
        ft->dense_offset = t->n_dense;
        switch (ft->kind) {
        case KEEL_FEAT_NUMERIC:
            ft->n_dense_out = 1 + ft->n_bins + ft->indicator;
            break;
        case KEEL_FEAT_BOOLEAN:
            ft->n_dense_out = 1 + ft->indicator;
            break;
        case KEEL_FEAT_TIMESTAMP:
            ft->n_dense_out = TS_DENSE + ft->indicator;
            break;
        case KEEL_FEAT_CATEGORICAL:
            ft->n_dense_out = 0;
            ft->index_slot = (int)t->n_index++;
            break;
        case KEEL_FEAT_TEXT:
            ft->n_dense_out = 0;
            ft->bag_slot = (int)t->n_bags++;
            break;
        }
        t->n_dense += ft->n_dense_out;
    }
}

/* min(16, round(1.6 * vocab^0.56)), at least 1. */
static size_t embed_dim_for(size_t vocab)
{
    double d = floor(1.6 * pow((double)vocab, 0.56) + 0.5);
    return d < 1 ? 1 : d > 16 ? 16 : (size_t)d;
}

/* ---- fitting -------------------------------------------------------------------------- */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* First index in sorted v[0..n) whose value is >= x (strict: > x when upper). */
static size_t bound(const double *v, size_t n, double x, bool upper)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (upper ? v[mid] <= x : v[mid] < x)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Picks the piecewise-linear bin edges from the knots: bins + 1 knots evenly spaced by
 * index (so by rank), fewer when there are fewer knots. No bins below 3 knots: a column with
 * one or two values is fully described by its score. */
static int make_edges(keel_feature *ft, size_t bins)
{
    keel_free(ft->edges);
    ft->edges = NULL;
    ft->n_bins = 0;
    if (ft->n_knots < 3 || bins == 0) return KEEL_OK;
    size_t nb = KEEL_MIN(bins, ft->n_knots - 1);
    if (!(ft->edges = keel_reallocarray(NULL, nb + 1, sizeof *ft->edges))) return KEEL_ENOMEM;
    for (size_t j = 0; j <= nb; j++)
        ft->edges[j] = ft->knots[(j * (ft->n_knots - 1) + nb / 2) / nb];
    ft->n_bins = nb;
    return KEEL_OK;
}

/* Quantile knots of the sorted values v[0..n) (no NaN): all distinct values when there are
 * at most max_knots of them, else the values at max_knots evenly spaced ranks (first and
 * last included), duplicates dropped. Scores are Φ⁻¹ of each knot's mid-rank. */
static int fit_numeric(keel_feature *ft, const double *v, size_t n, size_t max_knots)
{
    ft->fill = 0;
    if (n == 0) return KEEL_OK; /* never seen a value: a constant, the fill */
    size_t distinct = 1;
    for (size_t i = 1; i < n; i++)
        distinct += v[i] != v[i - 1];
    size_t want = distinct <= max_knots ? distinct : max_knots;
    ft->knots = keel_reallocarray(NULL, want, sizeof *ft->knots);
    ft->scores = keel_reallocarray(NULL, want, sizeof *ft->scores);
    if (!ft->knots || !ft->scores) return KEEL_ENOMEM;
    size_t k = 0;
    if (distinct <= max_knots) {
        ft->knots[k++] = v[0];
        for (size_t i = 1; i < n; i++)
            if (v[i] != v[i - 1]) ft->knots[k++] = v[i];
    } else {
        for (size_t j = 0; j < want; j++) {
            /* rank round(j (n-1) / (want-1)); j <= 4096, so this cannot overflow for any
             * n that fits in memory. */
            size_t pos = (j * (n - 1) + (want - 1) / 2) / (want - 1);
            if (k == 0 || v[pos] > ft->knots[k - 1]) ft->knots[k++] = v[pos];
        }
    }
    ft->n_knots = k;
    for (size_t j = 0; j < k; j++) {
        size_t lo = bound(v, n, ft->knots[j], false), hi = bound(v, n, ft->knots[j], true);
        double z = keel_normal_quantile((double)(lo + hi) / (2.0 * (double)n));
        z = z < -SCORE_CLAMP ? -SCORE_CLAMP : z > SCORE_CLAMP ? SCORE_CLAMP : z;
        ft->scores[j] = z + 0.0; /* -0.0 would not survive the JSON round trip */
        ft->knots[j] += 0.0;
    }
    double median = n % 2 ? v[n / 2] : v[n / 2 - 1] * 0.5 + v[n / 2] * 0.5;
    ft->fill = knot_score(ft, median) + 0.0;
    return KEEL_OK;
}

/* Fits one feature on its column; scratch holds room for n_rows doubles (numeric). */
static int fit_feature(keel_feature *ft, const keel_frame *f, const size_t *rows, size_t n_rows,
                       const keel_transform_options *o, double *scratch, size_t *counts)
{
    const keel_column *c = &f->cols[ft->col];
    const keel_schema_column *def = &f->schema->columns[ft->col];
    size_t missing = 0;
#define ROW(i) (rows ? rows[i] : (i))
    switch (ft->kind) {
    case KEEL_FEAT_NUMERIC: {
        size_t n = 0;
        for (size_t i = 0; i < n_rows; i++) {
            double x = c->num[ROW(i)];
            if (isnan(x))
                missing++;
            else
                scratch[n++] = x;
        }
        qsort(scratch, n, sizeof *scratch, cmp_double);
        ft->indicator = def->nullable || missing;
        int rc = fit_numeric(ft, scratch, n, o->max_knots);
        return rc ? rc : make_edges(ft, o->bins);
    }
    case KEEL_FEAT_BOOLEAN:
        for (size_t i = 0; i < n_rows; i++)
            missing += c->boolean[ROW(i)] < 0;
        ft->indicator = def->nullable || missing;
        return KEEL_OK;
    case KEEL_FEAT_CATEGORICAL: {
        size_t nc = def->categories.n, next = 2;
        memset(counts, 0, nc * sizeof *counts);
        for (size_t i = 0; i < n_rows; i++) {
            int32_t code = c->cat[ROW(i)];
            if (code >= 0 && (size_t)code < nc) counts[code]++;
        }
        ft->n_codes = nc;
        ft->code_map = keel_calloc(nc ? nc : 1, sizeof *ft->code_map);
        if (!ft->code_map) return KEEL_ENOMEM;
        for (size_t k = 0; k < nc; k++)
            if (counts[k] >= o->min_count && next < KEEL_TRANSFORM_MAX_VOCAB)
                ft->code_map[k] = (int32_t)next++;
        ft->vocab = next;
        ft->embed_dim = embed_dim_for(next);
        return KEEL_OK;
    }
    case KEEL_FEAT_TEXT:
        ft->vocab = o->text_buckets;
        ft->embed_dim = o->text_dim;
        return KEEL_OK;
    case KEEL_FEAT_TIMESTAMP: {
        /* Welford's running mean and variance of the decimal years. */
        double mean = 0, m2 = 0;
        size_t n = 0;
        for (size_t i = 0; i < n_rows; i++) {
            int64_t us = c->ts[ROW(i)];
            if (us == KEEL_TS_MISSING) {
                missing++;
                continue;
            }
            double y = decimal_year(us), d = y - mean;
            mean += d / (double)++n;
            m2 += d * (y - mean);
        }
        double sd = n ? sqrt(m2 / (double)n) : 0;
        ft->year_mean = n ? mean + 0.0 : 1970.0;
        ft->year_scale = sd > 1e-9 && isfinite(sd) ? sd : 1.0;
        ft->indicator = def->nullable || missing;
        return KEEL_OK;
    }
    }
#undef ROW
    return KEEL_OK;
}

static bool is_feature(const keel_schema_column *c, const char *target)
{
    if (c->role != KEEL_ROLE_FEATURE || c->type == KEEL_TYPE_ID) return false;
    if (target && strcmp(c->name, target) == 0) return false;
    return c->type < KEEL_TYPE_COUNT;
}

static keel_feature_kind kind_of(keel_type t)
{
    switch (t) {
    case KEEL_TYPE_BOOLEAN:
        return KEEL_FEAT_BOOLEAN;
    case KEEL_TYPE_CATEGORICAL:
        return KEEL_FEAT_CATEGORICAL;
    case KEEL_TYPE_TEXT:
        return KEEL_FEAT_TEXT;
    case KEEL_TYPE_TIMESTAMP:
        return KEEL_FEAT_TIMESTAMP;
    default:
        return KEEL_FEAT_NUMERIC;
    }
}

int keel_transform_fit(keel_transform *t, const keel_frame *f, const size_t *rows, size_t n_rows,
                       const char *target, const keel_transform_options *o, keel_error *e)
{
    memset(t, 0, sizeof *t);
    keel_transform_options def;
    if (!o) {
        keel_transform_options_init(&def);
        o = &def;
    }
    if (o->max_knots < 2 || o->max_knots > KEEL_TRANSFORM_MAX_KNOTS || o->bins > 256 ||
        o->text_buckets < 1 || o->text_buckets > KEEL_TRANSFORM_MAX_VOCAB || o->text_dim < 1 ||
        o->text_dim > KEEL_TRANSFORM_MAX_DIM)
        return keel_error_set(e, KEEL_EINVAL,
                              "transform options out of bounds (max_knots 2..%d, text_buckets "
                              "1..%d, text_dim 1..%d)",
                              KEEL_TRANSFORM_MAX_KNOTS, KEEL_TRANSFORM_MAX_VOCAB,
                              KEEL_TRANSFORM_MAX_DIM);
    if (!rows) n_rows = f->n_rows;
    const keel_schema *s = f->schema;
    double *scratch = NULL;
    size_t *counts = NULL, n = 0, max_cats = 0;
    for (size_t i = 0; i < s->n_columns; i++)
        if (is_feature(&s->columns[i], target)) {
            n++;
            max_cats = KEEL_MAX(max_cats, s->columns[i].categories.n);
        }
    if (n == 0) return keel_error_set(e, KEEL_EEMPTY, "no feature columns in the schema");
    int rc = KEEL_ENOMEM;
    t->features = keel_calloc(n, sizeof *t->features);
    scratch = keel_reallocarray(NULL, (n_rows ? n_rows : 1), sizeof *scratch);
    counts = keel_reallocarray(NULL, (max_cats ? max_cats : 1), sizeof *counts);
    if (!t->features || !scratch || !counts) goto fail;
    for (size_t i = 0; i < s->n_columns; i++) {
        if (!is_feature(&s->columns[i], target)) continue;
        keel_feature *ft = &t->features[t->n_features++];
        ft->col = i;
        ft->kind = kind_of(s->columns[i].type);
        rc = (ft->column = keel_strdup(s->columns[i].name)) ? KEEL_OK : KEEL_ENOMEM;
        if (!rc) rc = fit_feature(ft, f, rows, n_rows, o, scratch, counts);
        if (rc) goto fail;
    }
    layout(t);
    keel_free(scratch);
    keel_free(counts);
    return KEEL_OK;
fail:
    keel_free(scratch);
    keel_free(counts);
    keel_transform_free(t);
    return keel_error_set(e, rc, "fitting transforms: %s", keel_strerror(rc));
}

/* ---- text hashing --------------------------------------------------------------------- */

#define HASH_CHUNK 64

static inline bool word_byte(unsigned char b)
{
    return b >= 0x80 || (unsigned)(b - '0') < 10 || (unsigned)((b | 0x20) - 'a') < 26;
}

static inline unsigned char lower(unsigned char b)
{
    return (unsigned)(b - 'A') < 26 ? (unsigned char)(b | 0x20) : b;
}

/* The hash of lower-cased bytes p[0..n): keel_hash64 with KEEL_TEXT_SEED, 64 bytes at a
 * time, each chunk's hash seeding the next. */
static uint64_t chunked_hash(const unsigned char *p, size_t n)
{
    uint64_t h = KEEL_TEXT_SEED;
    for (; n > HASH_CHUNK; p += HASH_CHUNK, n -= HASH_CHUNK)
        h = keel_hash64(p, HASH_CHUNK, h);
    return keel_hash64(p, n, h);
}

/* The same hash over text fed in pieces and lower-cased on the way, for words too long for
 * the fixed buffer in keel_text_hash_ids. */
typedef struct text_hasher {
    unsigned char buf[HASH_CHUNK];
    size_t n;
    uint64_t h;
} text_hasher;

static void hasher_feed(text_hasher *th, const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (th->n == HASH_CHUNK) {
            th->h = keel_hash64(th->buf, HASH_CHUNK, th->h);
            th->n = 0;
        }
        th->buf[th->n++] = lower(p[i]);
    }
}

static uint64_t long_hash(const unsigned char *a, size_t na, const unsigned char *b, size_t nb)
{
    text_hasher th = {.n = 0, .h = KEEL_TEXT_SEED};
    hasher_feed(&th, a, na);
    if (b) {
        hasher_feed(&th, (const unsigned char *)" ", 1);
        hasher_feed(&th, b, nb);
    }
    return keel_hash64(th.buf, th.n, th.h); /* na + nb > 0, so the last chunk is not empty */
}

int keel_text_hash_ids(const char *s, size_t len, size_t buckets, int32_t **ids, size_t *n,
                       size_t *cap)
{
    if (buckets < 1 || buckets > (size_t)INT32_MAX + 1) return KEEL_EINVAL;
    /* A power of two (the default) takes a mask instead of a 64-bit division. */
    const uint64_t mask = (buckets & (buckets - 1)) == 0 ? buckets - 1 : 0;
#define BUCKET(h) (int32_t)(mask ? (h)&mask : (h) % buckets)
    const unsigned char *p = (const unsigned char *)s, *end = p + len;
    const unsigned char *prev = NULL;
    size_t pl = 0;
    /* buf holds the previous word lower-cased, a space, then the current word, so the
     * bigram is contiguous; words longer than 64 bytes take the slow path instead. */
    unsigned char buf[2 * HASH_CHUNK + 1];
    for (;;) {
        while (p < end && !word_byte(*p))
            p++;
        if (p == end) break;
        const unsigned char *w = p;
        while (p < end && word_byte(*p))
            p++;
        size_t wl = (size_t)(p - w);
        if (*cap - *n < 2) {
            size_t nc = *cap ? *cap * 2 : 16;
            int32_t *grown = keel_reallocarray(*ids, nc, sizeof **ids);
            if (!grown) return KEEL_ENOMEM;
            *ids = grown;
            *cap = nc;
        }
        int32_t *out = *ids + *n;
        if (wl <= HASH_CHUNK && pl <= HASH_CHUNK) {
            unsigned char *cur = buf + pl + 1;
            for (size_t i = 0; i < wl; i++)
                cur[i] = lower(w[i]);
            out[0] = BUCKET(chunked_hash(cur, wl));
            if (prev) {
                buf[pl] = ' ';
                out[1] = BUCKET(chunked_hash(buf, pl + 1 + wl));
            }
            memmove(buf, cur, wl);
        } else {
            out[0] = BUCKET(long_hash(w, wl, NULL, 0));
            if (prev) out[1] = BUCKET(long_hash(prev, pl, w, wl));
            if (wl <= HASH_CHUNK)
                for (size_t i = 0; i < wl; i++)
                    buf[i] = lower(w[i]);
        }
        *n += prev ? 2 : 1;
        prev = w;
        pl = wl;
    }
#undef BUCKET
    return KEEL_OK;
}

/* ---- applying ------------------------------------------------------------------------- */

/* Makes room for n_bags slots, and in each for rows + 1 offsets. */
static int bags_prepare(keel_bags *b, size_t n_bags, size_t rows)
{
    if (b->n_slots < n_bags) {
        struct keel_bag *slot = keel_reallocarray(b->slot, n_bags, sizeof *slot);
        if (!slot) return KEEL_ENOMEM;
        memset(slot + b->n_slots, 0, (n_bags - b->n_slots) * sizeof *slot);
        b->slot = slot;
        b->n_slots = n_bags;
    }
    for (size_t s = 0; s < n_bags; s++) {
        struct keel_bag *bag = &b->slot[s];
        if (bag->cap_off < rows + 1) {
            uint32_t *off = keel_reallocarray(bag->off, rows + 1, sizeof *off);
            if (!off) return KEEL_ENOMEM;
            bag->off = off;
            bag->cap_off = rows + 1;
        }
    }
    return KEEL_OK;
}

int keel_transform_apply(const keel_transform *t, const keel_frame *f, const size_t *rows,
                         size_t first, size_t n, float *dense, int32_t *index, keel_bags *bags)
{
    if (t->n_bags && (n == SIZE_MAX || bags_prepare(bags, t->n_bags, n))) return KEEL_ENOMEM;
    const size_t nd = t->n_dense, ni = t->n_index;
#define ROW(i) (rows ? rows[i] : first + (i))
    for (size_t fi = 0; fi < t->n_features; fi++) {
        const keel_feature *ft = &t->features[fi];
        const keel_column *c = &f->cols[ft->col];
        float *out = dense ? dense + ft->dense_offset : NULL;
        switch (ft->kind) {
        case KEEL_FEAT_NUMERIC: {
            const double *num = c->num;
            for (size_t i = 0; i < n; i++, out += nd) {
                double x = num[ROW(i)];
                bool miss = isnan(x);
                out[0] = (float)(miss ? ft->fill : knot_score(ft, x));
                const double *e = ft->edges;
                size_t b = 0, nb = miss ? 0 : ft->n_bins; /* missing: every bin 0 */
                /* Bin b is clamp((x - e_b) / (e_b+1 - e_b), 0, 1), but only the bin holding
                 * x needs the division. x >= e_b+1 makes x - e_b >= e_b+1 - e_b after
                 * rounding too (rounding is monotone), so the quotient is >= 1: 1 (unless
                 * the width overflows, inf / inf); x <= e_b makes it <= 0 or NaN: 0. */
                for (; b < nb && x >= e[b + 1] && e[b + 1] - e[b] < INFINITY; b++)
                    out[1 + b] = 1.0f;
                for (; b < nb && !(x <= e[b]); b++) {
                    double v = (x - e[b]) / (e[b + 1] - e[b]);
                    out[1 + b] = v >= 1 ? 1.0f : v > 0 ? (float)v : 0.0f;
                }
                for (; b < ft->n_bins; b++)
                    out[1 + b] = 0.0f;
                if (ft->indicator) out[1 + ft->n_bins] = (float)miss;
            }
            break;
        }
        case KEEL_FEAT_BOOLEAN: {
            const int8_t *bv = c->boolean;
            for (size_t i = 0; i < n; i++, out += nd) {
                int8_t b = bv[ROW(i)];
                out[0] = b < 0 ? 0.5f : (float)b;
                if (ft->indicator) out[1] = (float)(b < 0);
            }
            break;
        }
        case KEEL_FEAT_CATEGORICAL: {
            const int32_t *cat = c->cat, *map = ft->code_map;
            const size_t nc = ft->n_codes;
            int32_t *idx = index + ft->index_slot;
            for (size_t i = 0; i < n; i++, idx += ni) {
                int32_t code = cat[ROW(i)];
                *idx = code < 0 ? 1 : (size_t)code < nc ? map[code] : 0;
            }
            break;
        }
        case KEEL_FEAT_TEXT: {
            struct keel_bag *bag = &bags->slot[ft->bag_slot];
            size_t used = 0;
            bag->off[0] = 0;
            for (size_t i = 0; i < n; i++) {
                size_t r = ROW(i), len;
                if (!c->missing[r]) {
                    const char *txt = keel_column_text(c, r, &len);
                    if (keel_text_hash_ids(txt, len, ft->vocab, &bag->ids, &used, &bag->cap_ids))
                        return KEEL_ENOMEM;
                    if (used > UINT32_MAX) return KEEL_ENOMEM;
                }
                bag->off[i + 1] = (uint32_t)used;
            }
            break;
        }
        case KEEL_FEAT_TIMESTAMP: {
            const int64_t *ts = c->ts;
            for (size_t i = 0; i < n; i++, out += nd) {
                int64_t us = ts[ROW(i)];
                bool miss = us == KEEL_TS_MISSING;
                if (miss)
                    memset(out, 0, TS_DENSE * sizeof *out);
                else
                    timestamp_features(ft, us, out);
                if (ft->indicator) out[TS_DENSE] = (float)miss;
            }
            break;
        }
        }
    }
#undef ROW
    return KEEL_OK;
}

/* ---- JSON: writing -------------------------------------------------------------------- */

static int put_nums(keel_buf *b, const double *v, size_t n)
{
    int rc = keel_buf_putc(b, '[');
    for (size_t i = 0; i < n && !rc; i++) {
        if (i) rc = keel_buf_putc(b, ',');
        if (!rc) rc = keel_buf_json_num(b, v[i]);
    }
    return rc ? rc : keel_buf_putc(b, ']');
}

static int feature_to_json(const keel_feature *ft, keel_buf *b)
{
    int rc = keel_buf_puts(b, "{\"column\":");
    if (!rc) rc = keel_buf_json_str(b, ft->column, strlen(ft->column));
    if (!rc) rc = keel_buf_printf(b, ",\"kind\":\"%s\"", keel_feature_kind_name(ft->kind));
    if (!rc && ft->kind != KEEL_FEAT_CATEGORICAL && ft->kind != KEEL_FEAT_TEXT)
        rc = keel_buf_printf(b, ",\"indicator\":%s", ft->indicator ? "true" : "false");
    switch (ft->kind) {
    case KEEL_FEAT_NUMERIC:
        if (!rc) rc = keel_buf_puts(b, ",\"fill\":");
        if (!rc) rc = keel_buf_json_num(b, ft->fill);
        if (!rc) rc = keel_buf_puts(b, ",\"knots\":");
        if (!rc) rc = put_nums(b, ft->knots, ft->n_knots);
        if (!rc) rc = keel_buf_puts(b, ",\"scores\":");
        if (!rc) rc = put_nums(b, ft->scores, ft->n_knots);
        if (!rc) rc = keel_buf_printf(b, ",\"bins\":%zu", ft->n_bins);
        break;
    case KEEL_FEAT_BOOLEAN:
        break;
    case KEEL_FEAT_CATEGORICAL:
        if (!rc)
            rc = keel_buf_printf(b, ",\"vocab\":%zu,\"dim\":%zu,\"code_map\":[", ft->vocab,
                                 ft->embed_dim);
        for (size_t i = 0; i < ft->n_codes && !rc; i++)
            rc = keel_buf_printf(b, i ? ",%d" : "%d", (int)ft->code_map[i]);
        if (!rc) rc = keel_buf_putc(b, ']');
        break;
    case KEEL_FEAT_TEXT:
        if (!rc) rc = keel_buf_printf(b, ",\"buckets\":%zu,\"dim\":%zu", ft->vocab, ft->embed_dim);
        break;
    case KEEL_FEAT_TIMESTAMP:
        if (!rc) rc = keel_buf_puts(b, ",\"year_mean\":");
        if (!rc) rc = keel_buf_json_num(b, ft->year_mean);
        if (!rc) rc = keel_buf_puts(b, ",\"year_scale\":");
        if (!rc) rc = keel_buf_json_num(b, ft->year_scale);
        break;
    }
    return rc ? rc : keel_buf_putc(b, '}');
}

int keel_transform_to_json(const keel_transform *t, keel_buf *out)
{
    keel_buf_mark start = keel_buf_begin(out);
    keel_buf_putc(out, '[');
    for (size_t i = 0; i < t->n_features && !out->failed; i++) {
        if (i) keel_buf_putc(out, ',');
        feature_to_json(&t->features[i], out);
    }
    keel_buf_putc(out, ']');
    return keel_buf_end(out, start);
}

/* ---- JSON: reading -------------------------------------------------------------------- */

/* The feature being read, for messages: "transform feature 3 ('age')". */
typedef struct ctx {
    size_t i;
    const char *column; /* NULL until known */
    keel_error *e;
} ctx;

static int bad(const ctx *c, int code, const char *field, const char *what)
{
    if (c->column)
        return keel_error_set(c->e, code, "transform feature %zu ('%.64s'): %s%s%s", c->i,
                              c->column, field ? field : "", field ? ": " : "", what);
    return keel_error_set(c->e, code, "transform feature %zu: %s%s%s", c->i, field ? field : "",
                          field ? ": " : "", what);
}

/* Checks that obj's keys are all in allowed[] and none repeats. */
static int check_keys(const ctx *c, const keel_json *obj, const char *const *allowed,
                      size_t n_allowed)
{
    for (size_t i = 0; i < obj->u.object.n; i++) {
        const keel_json_member *m = &obj->u.object.members[i];
        bool ok = false;
        for (size_t k = 0; k < n_allowed && !ok; k++)
            ok = strlen(allowed[k]) == m->key_len && memcmp(allowed[k], m->key, m->key_len) == 0;
        if (!ok) {
            char what[96];
            snprintf(what, sizeof what, "unknown field '%.48s'", m->key);
            return bad(c, KEEL_EFORMAT, NULL, what);
        }
        if (keel_json_get(obj, m->key) != &m->value)
            return bad(c, KEEL_EFORMAT, m->key, "appears twice");
    }
    return KEEL_OK;
}

/* A required whole number in [lo, hi]. */
static int get_size(const ctx *c, const keel_json *obj, const char *key, size_t lo, size_t hi,
                    size_t *out)
{
    const keel_json *v = keel_json_get(obj, key);
    if (!v) return bad(c, KEEL_EFORMAT, key, "missing");
    double x = keel_json_num(v, NAN);
    if (!(x >= (double)lo && x <= (double)hi) || x != floor(x)) {
        char what[96];
        snprintf(what, sizeof what, "must be a whole number in [%zu, %zu]", lo, hi);
        return bad(c, KEEL_EFORMAT, key, what);
    }
    *out = (size_t)x;
    return KEEL_OK;
}

static int get_bool(const ctx *c, const keel_json *obj, const char *key, bool *out)
{
    const keel_json *v = keel_json_get(obj, key);
    if (!v || v->type != KEEL_JSON_BOOL) return bad(c, KEEL_EFORMAT, key, "must be true or false");
    *out = v->u.boolean;
    return KEEL_OK;
}

/* A required finite number in [lo, hi]. */
static int get_num(const ctx *c, const keel_json *obj, const char *key, double lo, double hi,
                   double *out)
{
    const keel_json *v = keel_json_get(obj, key);
    if (!v || v->type != KEEL_JSON_NUMBER) return bad(c, KEEL_EFORMAT, key, "must be a number");
    double x = v->u.number.value;
    if (!isfinite(x) || x < lo || x > hi) return bad(c, KEEL_EFORMAT, key, "out of range");
    *out = x + 0.0; /* -0.0 → 0.0, as the writer would print it */
    return KEEL_OK;
}

/* A required array of at most max numbers, each finite and in [-lim, lim], copied into a
 * new *out (NULL for an empty array). */
static int get_nums(const ctx *c, const keel_json *obj, const char *key, size_t max, double lim,
                    double **out, size_t *n)
{
    const keel_json *v = keel_json_get(obj, key);
    if (!v || v->type != KEEL_JSON_ARRAY) return bad(c, KEEL_EFORMAT, key, "must be an array");
    *n = v->u.array.n;
    if (*n > max) return bad(c, KEEL_EFORMAT, key, "too many values");
    if (*n == 0) return KEEL_OK;
    double *d = keel_reallocarray(NULL, *n, sizeof *d);
    if (!d) return bad(c, KEEL_ENOMEM, key, "out of memory");
    for (size_t i = 0; i < *n; i++) {
        const keel_json *x = &v->u.array.items[i];
        if (x->type != KEEL_JSON_NUMBER || !isfinite(x->u.number.value) ||
            fabs(x->u.number.value) > lim) {
            keel_free(d);
            return bad(c, KEEL_EFORMAT, key, "values must be finite numbers in range");
        }
        d[i] = x->u.number.value + 0.0;
    }
    *out = d;
    return KEEL_OK;
}

static int read_numeric(const ctx *c, keel_feature *ft, const keel_json *obj)
{
    static const char *const keys[] = {"column", "kind",   "indicator", "fill",
                                       "knots",  "scores", "bins"};
    size_t ns = 0, bins = 0;
    int rc = check_keys(c, obj, keys, KEEL_ARRAY_LEN(keys));
    if (!rc) rc = get_bool(c, obj, "indicator", &ft->indicator);
    if (!rc) rc = get_num(c, obj, "fill", -SCORE_CLAMP, SCORE_CLAMP, &ft->fill);
    if (!rc)
        rc =
            get_nums(c, obj, "knots", KEEL_TRANSFORM_MAX_KNOTS, HUGE_VAL, &ft->knots, &ft->n_knots);
    if (!rc)
        rc = get_nums(c, obj, "scores", KEEL_TRANSFORM_MAX_KNOTS, SCORE_CLAMP, &ft->scores, &ns);
    if (rc) return rc;
    if (ns != ft->n_knots) return bad(c, KEEL_EFORMAT, "scores", "must have one per knot");
    for (size_t i = 1; i < ns; i++) {
        if (!(ft->knots[i] > ft->knots[i - 1]))
            return bad(c, KEEL_EFORMAT, "knots", "must be strictly increasing");
        if (!(ft->scores[i] >= ft->scores[i - 1]))
            return bad(c, KEEL_EFORMAT, "scores", "must be non-decreasing");
    }
    /* bins is optional (0 = none), so that a transform written without the piecewise-linear
     * encoding reads back as one. */
    if (keel_json_get(obj, "bins") && (rc = get_size(c, obj, "bins", 0, 256, &bins))) return rc;
    if ((rc = make_edges(ft, bins))) return bad(c, rc, "bins", "out of memory");
    if (ft->n_bins != bins)
        return bad(c, KEEL_EFORMAT, "bins", "must be 0, or fewer than the knots (at least 3)");
    return KEEL_OK;
}

static int read_categorical(const ctx *c, keel_feature *ft, const keel_json *obj,
                            const keel_schema_column *def)
{
    static const char *const keys[] = {"column", "kind", "vocab", "dim", "code_map"};
    int rc = check_keys(c, obj, keys, KEEL_ARRAY_LEN(keys));
    if (!rc) rc = get_size(c, obj, "vocab", 2, KEEL_TRANSFORM_MAX_VOCAB, &ft->vocab);
    if (!rc) rc = get_size(c, obj, "dim", 1, KEEL_TRANSFORM_MAX_DIM, &ft->embed_dim);
    if (rc) return rc;
    const keel_json *m = keel_json_get(obj, "code_map");
    if (!m || m->type != KEEL_JSON_ARRAY)
        return bad(c, KEEL_EFORMAT, "code_map", "must be an array");
    if (m->u.array.n != def->categories.n) {
        char what[128];
        snprintf(what, sizeof what, "has %zu entries but the schema has %zu categories",
                 m->u.array.n, def->categories.n);
        return bad(c, KEEL_ESCHEMA, "code_map", what);
    }
    ft->n_codes = m->u.array.n;
    ft->code_map = keel_calloc(ft->n_codes ? ft->n_codes : 1, sizeof *ft->code_map);
    if (!ft->code_map) return bad(c, KEEL_ENOMEM, "code_map", "out of memory");
    for (size_t i = 0; i < ft->n_codes; i++) {
        double x = keel_json_num(&m->u.array.items[i], NAN);
        /* 0 = unknown or rare; 1 is reserved for missing */
        if (!(x == 0 || (x >= 2 && x < (double)ft->vocab)) || x != floor(x))
            return bad(c, KEEL_EFORMAT, "code_map",
                       "values must be 0 or whole numbers in [2, vocab)");
        ft->code_map[i] = (int32_t)x;
    }
    return KEEL_OK;
}

static int read_feature(const ctx *c0, keel_feature *ft, const keel_json *obj, const keel_schema *s,
                        bool *used)
{
    ctx c = *c0;
    if (!obj || obj->type != KEEL_JSON_OBJECT) return bad(&c, KEEL_EFORMAT, NULL, "not an object");
    const keel_json *col = keel_json_get(obj, "column");
    if (!col || col->type != KEEL_JSON_STRING || col->u.string.len == 0 ||
        strlen(col->u.string.s) != col->u.string.len)
        return bad(&c, KEEL_EFORMAT, "column", "must be a column name");
    c.column = col->u.string.s;
    const char *kind = keel_json_str(keel_json_get(obj, "kind"));
    size_t k = 0;
    while (kind && k < KEEL_ARRAY_LEN(kind_names) && strcmp(kind, kind_names[k]) != 0)
        k++;
    if (!kind || k == KEEL_ARRAY_LEN(kind_names))
        return bad(&c, KEEL_EFORMAT, "kind",
                   "must be one of numeric, boolean, categorical, text, timestamp");
    ft->kind = (keel_feature_kind)k;
    long ci = keel_schema_find(s, c.column);
    if (ci < 0) return bad(&c, KEEL_ESCHEMA, "column", "not in the schema");
    const keel_schema_column *def = &s->columns[ci];
    if (def->type != kind_type(ft->kind)) {
        char what[96];
        snprintf(what, sizeof what, "is %s in the schema, not %s", keel_type_name(def->type),
                 kind_names[k]);
        return bad(&c, KEEL_ESCHEMA, "column", what);
    }
    if (used[ci]) return bad(&c, KEEL_ESCHEMA, "column", "used by two features");
    used[ci] = true;
    ft->col = (size_t)ci;
    if (!(ft->column = keel_strdup(c.column))) return bad(&c, KEEL_ENOMEM, NULL, "out of memory");

    switch (ft->kind) {
    case KEEL_FEAT_NUMERIC:
        return read_numeric(&c, ft, obj);
    case KEEL_FEAT_BOOLEAN: {
        static const char *const keys[] = {"column", "kind", "indicator"};
        int rc = check_keys(&c, obj, keys, KEEL_ARRAY_LEN(keys));
        return rc ? rc : get_bool(&c, obj, "indicator", &ft->indicator);
    }
    case KEEL_FEAT_CATEGORICAL:
        return read_categorical(&c, ft, obj, def);
    case KEEL_FEAT_TEXT: {
        static const char *const keys[] = {"column", "kind", "buckets", "dim"};
        int rc = check_keys(&c, obj, keys, KEEL_ARRAY_LEN(keys));
        if (!rc) rc = get_size(&c, obj, "buckets", 1, KEEL_TRANSFORM_MAX_VOCAB, &ft->vocab);
        if (!rc) rc = get_size(&c, obj, "dim", 1, KEEL_TRANSFORM_MAX_DIM, &ft->embed_dim);
        return rc;
    }
    case KEEL_FEAT_TIMESTAMP: {
        static const char *const keys[] = {"column", "kind", "indicator", "year_mean",
                                           "year_scale"};
        int rc = check_keys(&c, obj, keys, KEEL_ARRAY_LEN(keys));
        if (!rc) rc = get_bool(&c, obj, "indicator", &ft->indicator);
        if (!rc) rc = get_num(&c, obj, "year_mean", -HUGE_VAL, HUGE_VAL, &ft->year_mean);
        if (!rc) rc = get_num(&c, obj, "year_scale", 0, HUGE_VAL, &ft->year_scale);
        if (!rc && !(ft->year_scale > 0))
            rc = bad(&c, KEEL_EFORMAT, "year_scale", "must be positive");
        return rc;
    }
    }
    return bad(&c, KEEL_EFORMAT, "kind", "unknown");
}

int keel_transform_from_json(keel_transform *t, const keel_json *v, const keel_schema *s,
                             keel_error *e)
{
    memset(t, 0, sizeof *t);
    if (!v || v->type != KEEL_JSON_ARRAY)
        return keel_error_set(e, KEEL_EFORMAT, "transform: expected an array of features");
    size_t n = v->u.array.n;
    if (n == 0) return keel_error_set(e, KEEL_EFORMAT, "transform: no features");
    if (n > s->n_columns)
        return keel_error_set(e, KEEL_ESCHEMA,
                              "transform: %zu features but the schema has %zu columns", n,
                              s->n_columns);
    int rc;
    bool *used = keel_calloc(s->n_columns, sizeof *used);
    t->features = keel_calloc(n, sizeof *t->features);
    if (!used || !t->features) {
        rc = keel_error_set(e, KEEL_ENOMEM, "transform: out of memory");
        goto fail;
    }
    for (size_t i = 0; i < n; i++) {
        ctx c = {i, NULL, e};
        t->n_features = i + 1; /* so that a failure frees what this feature got */
        if ((rc = read_feature(&c, &t->features[i], &v->u.array.items[i], s, used))) goto fail;
    }
    keel_free(used);
    layout(t);
    return KEEL_OK;
fail:
    keel_free(used);
    keel_transform_free(t);
    return rc;
}
