/*
 * global.c — explanations of a model as a whole: permutation importance, mean absolute
 * attribution and partial dependence (src/explain/explain.h).
 *
 * Column overrides instead of frame copies. Both permutation importance and partial
 * dependence need "the rows as they are, except one column": its values shuffled among the
 * rows, or all set to one grid value. Rather than copying the frame, a *view* is made: a
 * shallow copy of the keel_frame struct and of its column structs (which only point at the
 * column arrays), where the one column's pointers are replaced by arrays of our own. The
 * prediction code only reads frames, so a view costs one column's memory whatever the
 * number of columns, and the caller's frame is never written. Views are never passed to
 * keel_frame_free: their borrowed arrays belong to the caller's frame.
 *
 * Permutation importance. The metric (ROC AUC for binary models, accuracy for multiclass,
 * RMSE for regression) is computed once on the rows as they are, then `repeats` times per
 * input with that input's values shuffled among the labelled rows (Fisher–Yates with a
 * keel_rng seeded from (seed, input), so one input's numbers do not depend on the others').
 * The drop is base − permuted (permuted − base for RMSE, so that a larger drop always means
 * a more important input); its 95% confidence interval is mean ± t(0.975, R − 1) s / √R over
 * the R repeats (a point when R = 1). Rows without a label cannot be scored and are left out,
 * as keel_model_evaluate does. Cost: (inputs × repeats + 1) predictions of the rows.
 *
 * Partial dependence. For each grid value the column is set to it in every row, the rows are
 * represented (keel_model_represent) in chunks of PD_CHUNK and keel_explain_value gives the
 * explained number on o's scale; the curve is its mean. Numeric and timestamp grids are the
 * quantiles (j + 0.5) / P, j = 0..P−1, of the training profile kept in the artifact (so the
 * grid does not depend on the rows explained), duplicates dropped; without a usable profile,
 * the same quantiles of the rows' own values. Categorical grids are the most frequent
 * categories of the profile (else of the rows), most frequent first; boolean grids are
 * false, true. Cost: P × n representations.
 */
#include "explain/explain.h"

#include "base/json.h"
#include "data/profile.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_REPEATS 5
#define MAX_REPEATS     1000
#define DEFAULT_POINTS  10
#define MAX_POINTS      256
#define PD_CHUNK        256

/* ---- column views ---- */

/* One column's replacement arrays; the view's column points at them. */
typedef struct colview {
    keel_frame frame;  /* shallow: cols below, every other column borrowed from the source */
    keel_column *cols; /* n_cols shallow copies */
    size_t col;        /* the replaced column */
    void *values;      /* num / cat / boolean / ts of the replaced column, n_rows entries */
    uint64_t *off;     /* text/id: n_rows + 1 offsets */
    uint8_t *missing;  /* text/id: n_rows flags */
    keel_buf text;     /* text/id bytes */
} colview;

static size_t value_size(keel_type t)
{
    switch (t) {
    case KEEL_TYPE_NUMERIC:
        return sizeof(double);
    case KEEL_TYPE_CATEGORICAL:
        return sizeof(int32_t);
    case KEEL_TYPE_BOOLEAN:
        return sizeof(int8_t);
    case KEEL_TYPE_TIMESTAMP:
        return sizeof(int64_t);
    default:
        return 0; /* text and id: offsets and bytes */
    }
}

static void colview_free(colview *v)
{
    keel_free(v->cols);
    keel_free(v->values);
    keel_free(v->off);
    keel_free(v->missing);
    keel_buf_free(&v->text);
    memset(v, 0, sizeof *v);
}

/* Makes v a view of f whose column col has arrays of its own (contents unset). */
static int colview_init(colview *v, const keel_frame *f, size_t col)
{
    memset(v, 0, sizeof *v);
    keel_buf_init(&v->text);
    size_t n = f->n_rows, sz = value_size(f->cols[col].type);
    v->col = col;
    v->frame = *f;
    if (!(v->cols = keel_calloc(f->n_cols, sizeof *v->cols))) goto fail;
    memcpy(v->cols, f->cols, f->n_cols * sizeof *v->cols);
    v->frame.cols = v->cols;
    v->frame.cap_rows = n;
    keel_column *c = &v->cols[col];
    if (sz) {
        if (!(v->values = keel_calloc(n + 1, sz))) goto fail;
        c->num = NULL;
        c->cat = NULL;
        c->boolean = NULL;
        c->ts = NULL;
        switch (c->type) {
        case KEEL_TYPE_NUMERIC:
            c->num = v->values;
            break;
        case KEEL_TYPE_CATEGORICAL:
            c->cat = v->values;
            break;
        case KEEL_TYPE_BOOLEAN:
            c->boolean = v->values;
            break;
        default:
            c->ts = v->values;
        }
    } else {
        size_t n1;
        if (!keel_size_add(n, 1, &n1) || !(v->off = keel_calloc(n1, sizeof *v->off)) ||
            !(v->missing = keel_calloc(n1, 1)))
            goto fail;
        c->off = v->off;
        c->missing = v->missing;
        c->text = v->text; /* refreshed after every fill: the buffer may move */
    }
    return KEEL_OK;
fail:
    colview_free(v);
    return KEEL_ENOMEM;
}

/* Fills the view's column: row r gets the source's value of row src_of[r]. */
static int colview_fill(colview *v, const keel_frame *f, const size_t *src_of)
{
    const keel_column *s = &f->cols[v->col];
    keel_column *d = &v->cols[v->col];
    size_t n = f->n_rows;
    switch (s->type) {
    case KEEL_TYPE_NUMERIC:
        for (size_t r = 0; r < n; r++)
            d->num[r] = s->num[src_of[r]];
        return KEEL_OK;
    case KEEL_TYPE_CATEGORICAL:
        for (size_t r = 0; r < n; r++)
            d->cat[r] = s->cat[src_of[r]];
        return KEEL_OK;
    case KEEL_TYPE_BOOLEAN:
        for (size_t r = 0; r < n; r++)
            d->boolean[r] = s->boolean[src_of[r]];
        return KEEL_OK;
    case KEEL_TYPE_TIMESTAMP:
        for (size_t r = 0; r < n; r++)
            d->ts[r] = s->ts[src_of[r]];
        return KEEL_OK;
    default:
        break;
    }
    keel_buf_reset(&v->text);
    v->off[0] = 0;
    for (size_t r = 0; r < n; r++) {
        size_t len;
        const char *p = keel_column_text(s, src_of[r], &len);
        if (len && keel_buf_append(&v->text, p, len)) return KEEL_ENOMEM;
        v->off[r + 1] = v->text.len;
        v->missing[r] = s->missing[src_of[r]];
    }
    d->text = v->text;
    return KEEL_OK;
}

/* ---- small statistics ---- */

/* t(0.975, df): a table up to 30 degrees of freedom, then the Cornish–Fisher expansion
 * around the normal quantile (error below 1e-4 from df = 30 on). */
static double t975(size_t df)
{
    static const double table[] = {12.7062, 4.3027, 3.1824, 2.7764, 2.5706, 2.4469, 2.3646, 2.3060,
                                   2.2622,  2.2281, 2.2010, 2.1788, 2.1604, 2.1448, 2.1314, 2.1199,
                                   2.1098,  2.1009, 2.0930, 2.0860, 2.0796, 2.0739, 2.0687, 2.0639,
                                   2.0595,  2.0555, 2.0518, 2.0484, 2.0452, 2.0423};
    if (df == 0) return NAN;
    if (df <= KEEL_ARRAY_LEN(table)) return table[df - 1];
    double z = 1.959963984540054, z2 = z * z, v = (double)df;
    return z + (z2 * z + z) / (4 * v) + (5 * z2 * z2 * z + 16 * z2 * z + 3 * z) / (96 * v * v) +
           (3 * z2 * z2 * z2 * z + 19 * z2 * z2 * z + 17 * z2 * z - 15 * z) / (384 * v * v * v);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* ---- permutation importance ---- */

typedef struct scorer {
    keel_model *m;
    size_t n, k;  /* labelled rows, outputs per row */
    size_t *keep; /* the labelled rows */
    int32_t *cls; /* classification labels */
    double *y;    /* regression targets, in the target's units */
    double *p;    /* regression predictions as doubles */
    float *pred;  /* n * k */
} scorer;

static void scorer_free(scorer *s)
{
    keel_free(s->keep);
    keel_free(s->cls);
    keel_free(s->y);
    keel_free(s->p);
    keel_free(s->pred);
}

/* The metric on the labelled rows of f (which may be a view). */
static int score(scorer *s, const keel_frame *f, double *out)
{
    keel_metrics mt;
    int rc = keel_model_predict_frame(s->m, f, s->keep, 0, s->n, s->pred);
    if (rc) return rc;
    switch (s->m->target.task) {
    case KEEL_TASK_REGRESSION:
        for (size_t i = 0; i < s->n; i++)
            s->p[i] = s->pred[i];
        rc = keel_metrics_regression(s->y, s->p, s->n, &mt);
        *out = mt.rmse;
        break;
    case KEEL_TASK_BINARY:
        rc = keel_metrics_classification(s->cls, s->pred, s->n, s->k, &mt);
        *out = mt.roc_auc;
        break;
    default:
        rc = keel_metrics_classification(s->cls, s->pred, s->n, s->k, &mt);
        *out = mt.accuracy;
    }
    return rc;
}

static bool frame_fits(const keel_model *m, const keel_frame *f, bool need_target)
{
    if (f->n_cols == m->schema->n_columns) return true;
    return !need_target && f->n_cols == m->input_schema->n_columns;
}

int keel_explain_permutation_importance(keel_model *m, const keel_frame *f, const size_t *rows,
                                        size_t n, int repeats, uint64_t seed, keel_importance *out,
                                        const char **metric, double *base, keel_error *e)
{
    scorer s = {.m = m, .k = keel_model_n_outputs(m)};
    colview v = {0};
    size_t *src_of = NULL, *perm = NULL;
    double *drops = NULL;
    int rc;
    bool regression = m->target.task == KEEL_TASK_REGRESSION;
    *metric = regression ? "rmse" : m->target.task == KEEL_TASK_BINARY ? "roc_auc" : "accuracy";
    *base = NAN;
    keel_buf_init(&v.text);
    if (repeats == 0) repeats = DEFAULT_REPEATS;
    if (repeats < 0 || repeats > MAX_REPEATS)
        return keel_error_set(e, KEEL_EINVAL, "repeats must be from 1 to %d", MAX_REPEATS);
    if (!frame_fits(m, f, true))
        return keel_error_set(e, KEEL_EINVAL, "the rows must have the model's columns and target");
    for (size_t i = 0; i < n; i++)
        if ((rows ? rows[i] : i) >= f->n_rows)
            return keel_error_set(e, KEEL_EINVAL, "row %zu is out of range", rows ? rows[i] : i);
    size_t nk;
    if (!keel_size_mul(n, s.k, &nk)) return keel_error_set(e, KEEL_EINVAL, "too many rows");
    s.keep = keel_calloc(n + 1, sizeof *s.keep);
    s.cls = keel_calloc(n + 1, sizeof *s.cls);
    s.y = keel_calloc(n + 1, sizeof *s.y);
    s.p = keel_calloc(n + 1, sizeof *s.p);
    s.pred = keel_calloc(nk + 1, sizeof *s.pred);
    src_of = keel_calloc(f->n_rows + 1, sizeof *src_of);
    perm = keel_calloc(n + 1, sizeof *perm);
    drops = keel_calloc((size_t)repeats, sizeof *drops);
    if (!s.keep || !s.cls || !s.y || !s.p || !s.pred || !src_of || !perm || !drops) goto oom;
    for (size_t i = 0; i < n; i++) {
        size_t r = rows ? rows[i] : i;
        int32_t c;
        float y;
        keel_target_label(&m->target, f, r, &c, &y);
        if (regression ? isnan(y) : c < 0) continue;
        s.cls[s.n] = c;
        s.y[s.n] = y * m->target.scale + m->target.mean;
        s.keep[s.n++] = r;
    }
    if (s.n < 2) {
        rc = keel_error_set(e, KEEL_EEMPTY,
                            "permutation importance needs at least 2 labelled "
                            "rows (got %zu)",
                            s.n);
        goto done;
    }
    if ((rc = score(&s, f, base)) == KEEL_ENOMEM) goto oom;
    if (rc || isnan(*base)) {
        rc = keel_error_set(e, KEEL_EINVAL, "the %s of these rows is undefined%s", *metric,
                            regression ? "" : " (do they have a single class?)");
        goto done;
    }
    for (size_t in = 0; in < m->n_inputs; in++) {
        size_t col = m->inputs[in];
        if ((rc = colview_init(&v, f, col))) goto oom;
        keel_rng rng;
        keel_rng_seed(&rng, keel_mix64(seed ^ keel_mix64((uint64_t)in + 1)));
        double sum = 0, sum2 = 0;
        for (int t = 0; t < repeats; t++) {
            for (size_t r = 0; r < f->n_rows; r++)
                src_of[r] = r;
            for (size_t i = 0; i < s.n; i++)
                perm[i] = i;
            for (size_t i = s.n - 1; i > 0; i--) { /* Fisher–Yates */
                size_t j = (size_t)(keel_rng_next(&rng) % (i + 1)), tmp = perm[i];
                perm[i] = perm[j];
                perm[j] = tmp;
            }
            for (size_t i = 0; i < s.n; i++)
                src_of[s.keep[i]] = s.keep[perm[i]];
            double permuted = NAN;
            if ((rc = colview_fill(&v, f, src_of)) || (rc = score(&s, &v.frame, &permuted))) {
                if (rc == KEEL_ENOMEM) goto oom;
                rc = keel_error_set(e, rc, "cannot score the rows with '%s' permuted",
                                    m->input_schema->columns[col].name);
                goto done;
            }
            drops[t] = regression ? permuted - *base : *base - permuted;
            sum += drops[t];
        }
        double mean = sum / repeats;
        for (int t = 0; t < repeats; t++)
            sum2 += (drops[t] - mean) * (drops[t] - mean);
        double half = repeats > 1 ? t975((size_t)repeats - 1) * sqrt(sum2 / (repeats - 1)) /
                                        sqrt((double)repeats)
                                  : 0;
        out[in] = (keel_importance){.input = in,
                                    .drop = mean,
                                    .ci_low = mean - half,
                                    .ci_high = mean + half,
                                    .mean_abs_attribution = NAN};
        colview_free(&v);
    }
    rc = KEEL_OK;
    goto done;
oom:
    rc = keel_error_set(e, KEEL_ENOMEM, "out of memory");
done:
    colview_free(&v);
    scorer_free(&s);
    keel_free(src_of);
    keel_free(perm);
    keel_free(drops);
    return rc;
}

/* ---- mean |attribution| ---- */

int keel_explain_mean_abs_attribution(keel_explainer *x, keel_model *m, const keel_frame *f,
                                      const size_t *rows, size_t n, const keel_explain_options *o,
                                      double *out, keel_error *e)
{
    keel_explain_options opt;
    if (o)
        opt = *o;
    else
        keel_explain_options_init(&opt);
    opt.method = KEEL_EXPLAIN_IG;
    size_t k = m->n_inputs;
    for (size_t i = 0; i < k; i++)
        out[i] = 0;
    double *a = keel_calloc(k + 1, sizeof *a);
    if (!a) return keel_error_set(e, KEEL_ENOMEM, "out of memory");
    int rc = KEEL_OK;
    for (size_t i = 0; i < n && !rc; i++) {
        keel_explanation ex;
        memset(&ex, 0, sizeof ex);
        ex.attributions = a;
        if ((rc = keel_explain_row(x, m, f, rows ? rows[i] : i, &opt, &ex, e))) break;
        for (size_t j = 0; j < k; j++)
            out[j] += fabs(a[j]);
    }
    for (size_t j = 0; j < k; j++)
        out[j] = rc ? NAN : n ? out[j] / (double)n : 0;
    keel_free(a);
    return rc;
}

/* ---- partial dependence ---- */

/* The profile column called name: its index (into the profile and the JSON array) or -1. */
static long profile_column(const keel_json *root, const char *name)
{
    const keel_json *cols = keel_json_get(root, "columns");
    for (size_t j = 0; j < keel_json_len(cols); j++) {
        const char *s = keel_json_str(keel_json_get(keel_json_at(cols, j), "name"));
        if (s && !strcmp(s, name)) return (long)j;
    }
    return -1;
}

/* Ascending distinct values of the numeric grid into x; *got their number. From the profile
 * when it has the column, else from the rows. */
static int numeric_grid(keel_model *m, const keel_frame *f, const size_t *rows, size_t n,
                        size_t col, size_t points, double *x, size_t *got)
{
    const keel_schema_column *def = &m->input_schema->columns[col];
    const keel_column *c = &f->cols[col];
    size_t k = 0;
    int rc = KEEL_OK;
    *got = 0;
    if (m->profile_json.len) {
        keel_json_doc *d = keel_json_doc_new();
        keel_profile *p = NULL;
        if (!d) return KEEL_ENOMEM;
        /* A profile that does not parse is no error: the rows' own quantiles serve. But out
         * of memory is: the grid must not depend on how much memory there was. */
        int prc = keel_json_parse(d, m->profile_json.data, m->profile_json.len, NULL);
        if (prc == KEEL_ENOMEM) {
            keel_json_doc_free(d);
            return prc;
        }
        if (!prc) {
            const keel_json *root = keel_json_root(d);
            long j = profile_column(root, def->name);
            if (j >= 0 && (rc = keel_profile_read_json(root, &p, NULL)) == KEEL_ENOMEM) {
                keel_json_doc_free(d);
                return rc;
            }
            rc = KEEL_OK;
            for (size_t i = 0; p && i < points; i++) {
                double q = keel_profile_quantile(p, (size_t)j, ((double)i + 0.5) / points);
                if (isfinite(q)) x[k++] = q;
            }
        }
        keel_profile_free(p);
        keel_json_doc_free(d);
    }
    if (k == 0) { /* the rows' own values, nearest rank */
        double *v = keel_calloc(n + 1, sizeof *v);
        if (!v) return KEEL_ENOMEM;
        size_t nv = 0;
        for (size_t i = 0; i < n; i++) {
            size_t r = rows ? rows[i] : i;
            if (c->type == KEEL_TYPE_NUMERIC && !isnan(c->num[r]))
                v[nv++] = c->num[r];
            else if (c->type == KEEL_TYPE_TIMESTAMP && c->ts[r] != KEEL_TS_MISSING)
                v[nv++] = (double)c->ts[r];
        }
        qsort(v, nv, sizeof *v, cmp_double);
        for (size_t i = 0; nv && i < points; i++)
            x[k++] = v[(size_t)(((double)i + 0.5) / points * nv)];
        keel_free(v);
    }
    qsort(x, k, sizeof *x, cmp_double);
    size_t u = 0;
    for (size_t i = 0; i < k; i++)
        if (u == 0 || x[i] != x[u - 1])
            x[u++] = c->type == KEEL_TYPE_TIMESTAMP ? round(x[i]) : x[i];
    *got = u;
    return rc;
}

typedef struct cat_count {
    int32_t code;
    uint64_t count;
} cat_count;

static int cmp_count(const void *a, const void *b)
{
    const cat_count *x = a, *y = b;
    if (x->count != y->count) return x->count < y->count ? 1 : -1;
    return (x->code > y->code) - (x->code < y->code);
}

/* The most frequent categories' codes into codes (at most points); *got their number. */
static int category_grid(keel_model *m, const keel_frame *f, const size_t *rows, size_t n,
                         size_t col, size_t points, int32_t *codes, size_t *got)
{
    const keel_schema_column *def = &m->input_schema->columns[col];
    size_t nc = def->categories.n;
    cat_count *cc = keel_calloc(nc + 1, sizeof *cc);
    if (!cc) return KEEL_ENOMEM;
    for (size_t i = 0; i < nc; i++)
        cc[i].code = (int32_t)i;
    bool from_profile = false;
    if (m->profile_json.len) {
        keel_json_doc *d = keel_json_doc_new();
        if (!d) {
            keel_free(cc);
            return KEEL_ENOMEM;
        }
        int prc = keel_json_parse(d, m->profile_json.data, m->profile_json.len, NULL);
        if (prc == KEEL_ENOMEM) {
            keel_json_doc_free(d);
            keel_free(cc);
            return prc;
        }
        if (!prc) {
            const keel_json *root = keel_json_root(d);
            long j = profile_column(root, def->name);
            const keel_json *top =
                j < 0
                    ? NULL
                    : keel_json_get(keel_json_at(keel_json_get(root, "columns"), (size_t)j), "top");
            for (size_t t = 0; t < keel_json_len(top); t++) {
                const keel_json *it = keel_json_at(top, t);
                const char *s = keel_json_str(keel_json_get(it, "value"));
                double cnt = keel_json_num(keel_json_get(it, "count"), 0);
                long code = s ? keel_strlist_find(&def->categories, s, strlen(s)) : -1;
                if (code >= 0 && cnt > 0) {
                    cc[code].count = (uint64_t)cnt;
                    from_profile = true;
                }
            }
        }
        keel_json_doc_free(d);
    }
    if (!from_profile) {
        const keel_column *c = &f->cols[col];
        for (size_t i = 0; i < n; i++) {
            int32_t code = c->cat[rows ? rows[i] : i];
            if (code >= 0 && (size_t)code < nc) cc[code].count++;
        }
    }
    qsort(cc, nc, sizeof *cc, cmp_count);
    size_t k = 0;
    for (size_t i = 0; i < nc && k < points && cc[i].count > 0; i++)
        codes[k++] = cc[i].code;
    *got = k;
    keel_free(cc);
    return KEEL_OK;
}

void keel_pd_curve_free(keel_pd_curve *c)
{
    if (!c) return;
    for (size_t i = 0; c->labels && i < c->n; i++)
        keel_free(c->labels[i]);
    keel_free(c->labels);
    keel_free(c->x);
    keel_free(c->y);
    memset(c, 0, sizeof *c);
}

/* Sets the view's column to grid value g (x[g] or codes[g]) in every row. */
static void set_all(colview *v, size_t n_rows, const double *x, const int32_t *codes, size_t g)
{
    keel_column *c = &v->cols[v->col];
    for (size_t r = 0; r < n_rows; r++)
        switch (c->type) {
        case KEEL_TYPE_NUMERIC:
            c->num[r] = x[g];
            break;
        case KEEL_TYPE_TIMESTAMP:
            c->ts[r] = (int64_t)x[g];
            break;
        case KEEL_TYPE_CATEGORICAL:
            c->cat[r] = codes[g];
            break;
        default:
            c->boolean[r] = (int8_t)codes[g];
        }
}

int keel_explain_partial_dependence(keel_explainer *x, keel_model *m, const keel_frame *f,
                                    const size_t *rows, size_t n, size_t input, size_t points,
                                    const keel_explain_options *o, keel_pd_curve *out,
                                    keel_error *e)
{
    memset(out, 0, sizeof *out);
    out->input = input;
    if (input >= m->n_inputs)
        return keel_error_set(e, KEEL_EINVAL, "input %zu is out of range (the model has %zu)",
                              input, m->n_inputs);
    if (!frame_fits(m, f, false))
        return keel_error_set(e, KEEL_EINVAL, "the rows must have the model's columns");
    if (n == 0) return keel_error_set(e, KEEL_EEMPTY, "no rows to average over");
    for (size_t i = 0; i < n; i++)
        if ((rows ? rows[i] : i) >= f->n_rows)
            return keel_error_set(e, KEEL_EINVAL, "row %zu is out of range", rows ? rows[i] : i);
    size_t col = m->inputs[input];
    const keel_schema_column *def = &m->input_schema->columns[col];
    keel_type type = f->cols[col].type;
    if (type == KEEL_TYPE_TEXT || type == KEEL_TYPE_ID)
        return keel_error_set(e, KEEL_ENOTSUP,
                              "partial dependence of the text column '%s' is not supported",
                              def->name);
    if (points == 0) points = DEFAULT_POINTS;
    if (points > MAX_POINTS) points = MAX_POINTS;
    keel_explain_options opt;
    if (o)
        opt = *o;
    else
        keel_explain_options_init(&opt);
    size_t dim = keel_explainer_repr_dim(x), chunk = KEEL_MIN(n, (size_t)PD_CHUNK), rd;
    if (!keel_size_mul(chunk, dim, &rd)) return keel_error_set(e, KEEL_EINVAL, "too wide");
    double *grid = keel_calloc(points, sizeof *grid), *val = keel_calloc(chunk, sizeof *val);
    int32_t *codes = keel_calloc(points, sizeof *codes);
    float *repr = keel_calloc(rd + 1, sizeof *repr);
    keel_workspace *ws = keel_model_ws_take(m, chunk);
    colview v = {0};
    keel_buf_init(&v.text);
    size_t k = 0;
    int rc;
    if (!grid || !val || !codes || !repr || !ws) goto oom;
    if (type == KEEL_TYPE_NUMERIC || type == KEEL_TYPE_TIMESTAMP)
        rc = numeric_grid(m, f, rows, n, col, points, grid, &k);
    else if (type == KEEL_TYPE_CATEGORICAL)
        rc = category_grid(m, f, rows, n, col, points, codes, &k);
    else { /* boolean: false, true */
        for (k = 0; k < 2 && k < points; k++)
            codes[k] = (int32_t)k;
        rc = KEEL_OK;
    }
    if (rc) goto oom;
    if (k == 0) {
        rc = keel_error_set(e, KEEL_EEMPTY, "column '%s' has no values to vary", def->name);
        goto done;
    }
    bool numeric = type == KEEL_TYPE_NUMERIC || type == KEEL_TYPE_TIMESTAMP;
    if ((numeric && !(out->x = keel_calloc(k, sizeof *out->x))) ||
        !(out->labels = keel_calloc(k, sizeof *out->labels)) ||
        !(out->y = keel_calloc(k, sizeof *out->y)))
        goto oom;
    out->n = k;
    for (size_t g = 0; g < k; g++) {
        char buf[64];
        const char *label = buf;
        if (type == KEEL_TYPE_NUMERIC)
            snprintf(buf, sizeof buf, "%.6g", grid[g]);
        else if (type == KEEL_TYPE_TIMESTAMP)
            keel_format_timestamp((int64_t)grid[g], buf);
        else if (type == KEEL_TYPE_CATEGORICAL)
            label = def->categories.items[codes[g]];
        else
            label = codes[g] ? "true" : "false";
        if (!(out->labels[g] = keel_strdup(label))) goto oom;
        if (numeric) out->x[g] = grid[g];
    }
    if ((rc = colview_init(&v, f, col))) goto oom;
    for (size_t g = 0; g < k; g++) {
        set_all(&v, f->n_rows, grid, codes, g);
        double sum = 0;
        for (size_t i = 0; i < n; i += chunk) {
            size_t c = KEEL_MIN(chunk, n - i);
            size_t *sel = NULL, tmp[PD_CHUNK];
            if (!rows) { /* keel_model_represent takes consecutive rows only from `first` */
                for (size_t j = 0; j < c; j++)
                    tmp[j] = i + j;
                sel = tmp;
            }
            rc = keel_model_represent(m, ws, &v.frame, rows ? rows + i : sel, 0, c, repr);
            if (rc == KEEL_ENOMEM) goto oom;
            if (rc) {
                rc = keel_error_set(e, rc, "cannot represent the rows (%s)", keel_strerror(rc));
                goto done;
            }
            if ((rc = keel_explain_value(x, m, repr, c, &opt, val, e))) goto done;
            for (size_t j = 0; j < c; j++)
                sum += val[j];
        }
        out->y[g] = sum / (double)n;
    }
    rc = KEEL_OK;
    goto done;
oom:
    rc = keel_error_set(e, KEEL_ENOMEM, "out of memory");
done:
    if (rc) keel_pd_curve_free(out);
    out->input = input;
    colview_free(&v);
    keel_model_ws_give(m, ws);
    keel_free(grid);
    keel_free(val);
    keel_free(codes);
    keel_free(repr);
    return rc;
}
