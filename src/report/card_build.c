/*
 * card_build.c — the model card's document (docs/card.md, "keel_card": 1): every number the
 * card shows, gathered into one JSON document that the renderers (card.c) turn into HTML and
 * Markdown, so a card can be re-rendered and checked from its JSON alone.
 *
 * What the artifact says of itself (task, classes, schema, hyper-parameters, the training
 * data's lineage and profile; card_record.c), what the held-out data says of the model
 * (measures with percentile-bootstrap intervals, per-group measures for the schema's
 * sensitive columns, the calibration diagram), the global explanations (permutation
 * importance, mean |attribution|, partial dependence; src/explain), and what the registry
 * knows (card_record.c).
 *
 * Honesty rules the card follows: rows the schema rejects are counted and named, never
 * silently dropped; a held-out file identical to the training file is called out; intervals
 * come with their method; small groups are flagged; anything that could not be computed says
 * so (with the reason) instead of disappearing. Everything random (bootstrap, permutations,
 * row samples) is seeded, so the same inputs give the same card.
 *
 * The builder is library code: it never prints, exits or reads the environment. The held-out
 * data arrives loaded (the caller chose where quarantined records go and shows its own
 * progress), the card's date arrives as a number, and long steps are announced through the
 * caller's progress callback. Bounds: the bootstrap runs RESAMPLES times over the scored
 * rows; permutation importance runs on at most PERM_ROWS rows, attributions and partial
 * dependence on at most ATTR_ROWS, sampled with the seed.
 */
#include "report/card_build_impl.h"

#include "explain/explain.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- a JSON builder with a sticky error ------------------------------------------------ */

static void card_jb_raw(card_jb *j, const char *s, size_t n)
{
    if (!j->err && keel_buf_append(&j->b, s, n)) j->err = KEEL_ENOMEM;
}

static void card_jb_lit(card_jb *j, const char *s)
{
    card_jb_raw(j, s, strlen(s));
}

/* The separator and key before a value (key NULL inside arrays). */
static void card_jb_key(card_jb *j, const char *key)
{
    if (j->depth > 0) {
        if (!j->first[j->depth]) card_jb_lit(j, ",");
        j->first[j->depth] = false;
    }
    if (key) {
        if (!j->err && keel_buf_json_str(&j->b, key, strlen(key))) j->err = KEEL_ENOMEM;
        card_jb_lit(j, ":");
    }
}

void card_jb_open(card_jb *j, const char *key, char c)
{
    card_jb_key(j, key);
    card_jb_raw(j, &c, 1);
    if (j->depth + 1 < (int)KEEL_ARRAY_LEN(j->first))
        j->first[++j->depth] = true;
    else
        j->err = KEEL_ELIMIT;
}

void card_jb_close(card_jb *j, char c)
{
    card_jb_raw(j, &c, 1);
    if (j->depth > 0) j->depth--;
}

void card_jb_strn(card_jb *j, const char *key, const char *s, size_t n)
{
    card_jb_key(j, key);
    if (!s) {
        card_jb_lit(j, "null");
        return;
    }
    if (!j->err && keel_buf_json_str(&j->b, s, n)) j->err = KEEL_ENOMEM;
}

void card_jb_str(card_jb *j, const char *key, const char *s)
{
    card_jb_strn(j, key, s, s ? strlen(s) : 0);
}

/* NaN and infinities become null. */
void card_jb_num(card_jb *j, const char *key, double v)
{
    card_jb_key(j, key);
    if (!j->err && keel_buf_json_num(&j->b, v)) j->err = KEEL_ENOMEM;
}

void card_jb_bool(card_jb *j, const char *key, bool v)
{
    card_jb_key(j, key);
    card_jb_lit(j, v ? "true" : "false");
}

void card_jb_value(card_jb *j, const char *key, const keel_json *v)
{
    card_jb_key(j, key);
    if (!j->err && keel_json_write(v, &j->b)) j->err = KEEL_ENOMEM;
}

keel_json_doc *card_parse_doc(const char *text, size_t n)
{
    if (!text || !n) return NULL;
    keel_json_doc *d = keel_json_doc_new();
    keel_error e;
    if (d && keel_json_parse(d, text, n, &e) != KEEL_OK) {
        keel_json_doc_free(d);
        d = NULL;
    }
    return d;
}
/* ---- small helpers ----------------------------------------------------------------------- */

/* Tells the caller a long step begins. */
static void progress(const keel_card_inputs *in, const char *what)
{
    if (in->progress) in->progress(in->progress_ud, what);
}

static const char *col_display(const keel_schema_column *c)
{
    return c->display_name && *c->display_name ? c->display_name : c->name;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The q-quantile of sorted v[0..n) by linear interpolation. */
static double quantile_sorted(const double *v, size_t n, double q)
{
    if (!n) return NAN;
    double pos = q * (double)(n - 1);
    size_t i = (size_t)pos;
    if (i + 1 >= n) return v[n - 1];
    return v[i] + (pos - (double)i) * (v[i + 1] - v[i]);
}

/* k distinct indexes of [0, n) in increasing order, drawn with seed (all when k >= n). */
static size_t *sample_rows(size_t n, size_t k, uint64_t seed, size_t *out_n)
{
    if (k > n) k = n;
    size_t *idx = keel_calloc(n + 1, sizeof *idx);
    if (!idx) return NULL;
    for (size_t i = 0; i < n; i++)
        idx[i] = i;
    keel_rng rng;
    keel_rng_seed(&rng, seed);
    for (size_t i = 0; i < k && k < n; i++) { /* partial Fisher–Yates */
        size_t j = i + (size_t)(keel_rng_next(&rng) % (n - i));
        size_t t = idx[i];
        idx[i] = idx[j];
        idx[j] = t;
    }
    /* Increasing order, so the rows are read in file order. */
    for (size_t i = 1; i < k; i++) {
        size_t v = idx[i], p = i;
        while (p > 0 && idx[p - 1] > v) {
            idx[p] = idx[p - 1];
            p--;
        }
        idx[p] = v;
    }
    *out_n = k;
    return idx;
}
/* ---- the held-out data, scored ----------------------------------------------------------- */

typedef struct scored {
    keel_model *m;
    const keel_frame *f;
    const keel_validate_result *vr;
    const char *qpath;
    size_t n;       /* rows with a usable target */
    size_t *rows;   /* their frame rows */
    int32_t *cls;   /* classification: class index */
    double *y;      /* regression: value in the target's units */
    float *pred;    /* n * k outputs */
    size_t k;       /* outputs per row */
    long explained; /* classification: the class the card's probabilities are of; -1: the
                       predicted class (multiclass without an adverse class) */
} scored;

static void scored_free(scored *s)
{
    keel_free(s->rows);
    keel_free(s->cls);
    keel_free(s->y);
    keel_free(s->pred);
}

static bool is_class(const keel_model *m)
{
    return m->target.task != KEEL_TASK_REGRESSION;
}

/* The class the card's probabilities are about: the model's adverse class, else (binary)
 * the second class, else (multiclass) -1, the predicted class. */
static long explained_class(keel_model *m)
{
    if (!is_class(m)) return -1;
    keel_explainer *x = NULL;
    keel_error e;
    long adverse = -1;
    if (keel_explainer_get(m, &x, &e) == KEEL_OK && keel_explainer_settings(x))
        adverse = keel_explainer_settings(x)->adverse_class;
    if (adverse >= 0 && (size_t)adverse < m->target.classes.n) return adverse;
    return m->target.classes.n == 2 ? 1 : -1;
}

/* The held-out rows with a usable target, and the model's outputs for them. */
static int score_holdout(const keel_card_inputs *in, scored *s, keel_error *e)
{
    keel_model *m = s->m;
    size_t rows = s->f->n_rows;
    s->k = keel_model_n_outputs(m);
    s->rows = keel_calloc(rows + 1, sizeof *s->rows);
    s->cls = keel_calloc(rows + 1, sizeof *s->cls);
    s->y = keel_calloc(rows + 1, sizeof *s->y);
    if (!s->rows || !s->cls || !s->y) goto oom;
    for (size_t r = 0; r < rows; r++) {
        int32_t c = -1;
        float v = NAN;
        keel_target_label(&m->target, s->f, r, &c, &v);
        if (is_class(m) ? c < 0 : isnan(v)) continue;
        s->cls[s->n] = c;
        s->y[s->n] = (double)v * m->target.scale + m->target.mean;
        s->rows[s->n++] = r;
    }
    if (s->n == 0)
        return keel_error_set(
            e, KEEL_EEMPTY,
            "no record of %s has a usable value of the target '%s': nothing to score",
            in->holdout_path ? in->holdout_path : "the held-out data",
            m->target.column ? m->target.column : "?");
    if (s->n > SIZE_MAX / sizeof(float) / s->k ||
        !(s->pred = keel_calloc(s->n * s->k, sizeof(float))))
        goto oom;
    int rc = keel_model_predict_frame(m, s->f, s->rows, 0, s->n, s->pred);
    if (rc)
        return keel_error_set(e, rc, "cannot score %s: %s",
                              in->holdout_path ? in->holdout_path : "the held-out data",
                              keel_strerror(rc));
    return KEEL_OK;
oom:
    return keel_error_set(e, KEEL_ENOMEM, "out of memory");
}

/* The probability the card's calibration and group rates are about, for row i. */
static double p_explained(const scored *s, size_t i)
{
    const float *p = s->pred + i * s->k;
    if (s->explained >= 0) return p[s->explained];
    float best = p[0];
    for (size_t j = 1; j < s->k; j++)
        best = p[j] > best ? p[j] : best;
    return best;
}

/* Whether row i is an instance of the explained class (or, for the predicted class,
 * whether the prediction was right). */
static bool y_explained(const scored *s, size_t i)
{
    if (s->explained >= 0) return s->cls[i] == s->explained;
    const float *p = s->pred + i * s->k;
    size_t best = 0;
    for (size_t j = 1; j < s->k; j++)
        if (p[j] > p[best]) best = j;
    return (int32_t)best == s->cls[i];
}

/* ---- measures with bootstrap intervals -------------------------------------------------- */

static const char *const class_measures[] = {
    "accuracy", "roc_auc", "average_precision", "log_loss", "f1", "brier", "ece"};
static const char *const reg_measures[] = {"rmse", "mae", "r2"};

static double measure_of(const keel_metrics *mt, const char *name)
{
    if (!strcmp(name, "accuracy")) return mt->accuracy;
    if (!strcmp(name, "roc_auc")) return mt->roc_auc;
    if (!strcmp(name, "average_precision")) return mt->average_precision;
    if (!strcmp(name, "log_loss")) return mt->log_loss;
    if (!strcmp(name, "f1")) return mt->f1;
    if (!strcmp(name, "brier")) return mt->brier;
    if (!strcmp(name, "ece")) return mt->ece;
    if (!strcmp(name, "rmse")) return mt->rmse;
    if (!strcmp(name, "mae")) return mt->mae;
    if (!strcmp(name, "r2")) return mt->r2;
    return NAN;
}

/* Measures of the rows idx[0..n) of s (all scored rows when idx is NULL). Scratch buffers
 * are the caller's: cls_b[n], pred_b[n * k], y_b[n], p_b[n]. */
static int measures_on(const scored *s, const size_t *idx, size_t n, int32_t *cls_b, float *pred_b,
                       double *y_b, double *p_b, keel_metrics *mt)
{
    if (is_class(s->m)) {
        for (size_t i = 0; i < n; i++) {
            size_t r = idx ? idx[i] : i;
            cls_b[i] = s->cls[r];
            memcpy(pred_b + i * s->k, s->pred + r * s->k, s->k * sizeof(float));
        }
        return keel_metrics_classification(cls_b, pred_b, n, s->k, mt);
    }
    for (size_t i = 0; i < n; i++) {
        size_t r = idx ? idx[i] : i;
        y_b[i] = s->y[r];
        p_b[i] = s->pred[r];
    }
    return keel_metrics_regression(y_b, p_b, n, mt);
}

static int write_metrics(card_jb *j, const scored *s, uint64_t seed, const keel_card_inputs *in)
{
    size_t n = s->n, k = s->k;
    const char *const *names = is_class(s->m) ? class_measures : reg_measures;
    size_t nm = is_class(s->m) ? KEEL_ARRAY_LEN(class_measures) : KEEL_ARRAY_LEN(reg_measures);
    int32_t *cls_b = keel_calloc(n, sizeof *cls_b);
    float *pred_b = keel_calloc(n * k, sizeof *pred_b);
    double *y_b = keel_calloc(n, sizeof *y_b), *p_b = keel_calloc(n, sizeof *p_b);
    size_t *idx = keel_calloc(n, sizeof *idx);
    double *boot = keel_calloc((size_t)RESAMPLES * nm, sizeof *boot);
    int rc = KEEL_ENOMEM;
    if (!cls_b || !pred_b || !y_b || !p_b || !idx || !boot) goto done;
    keel_metrics point;
    if ((rc = measures_on(s, NULL, n, cls_b, pred_b, y_b, p_b, &point))) goto done;
    progress(in, "bootstrap intervals");
    keel_rng rng;
    keel_rng_seed(&rng, seed);
    for (int b = 0; b < RESAMPLES; b++) {
        for (size_t i = 0; i < n; i++)
            idx[i] = (size_t)(keel_rng_next(&rng) % n);
        keel_metrics mt;
        if ((rc = measures_on(s, idx, n, cls_b, pred_b, y_b, p_b, &mt))) goto done;
        for (size_t q = 0; q < nm; q++)
            boot[q * RESAMPLES + (size_t)b] = measure_of(&mt, names[q]);
    }
    card_jb_open(j, "metrics", '{');
    card_jb_num(j, "confidence", 0.95);
    card_jb_str(j, "method", "percentile bootstrap");
    card_jb_num(j, "resamples", RESAMPLES);
    card_jb_num(j, "seed", (double)seed);
    card_jb_num(j, "n", (double)n);
    card_jb_open(j, "items", '[');
    for (size_t q = 0; q < nm; q++) {
        double v = measure_of(&point, names[q]);
        if (isnan(v)) continue;
        /* Resamples where the measure is undefined (one class drawn) are left out; with
         * more than 5% of them the interval would mislead, and is not given. */
        double *col = boot + q * RESAMPLES;
        size_t ok = 0;
        for (size_t b = 0; b < RESAMPLES; b++)
            if (isfinite(col[b])) col[ok++] = col[b];
        qsort(col, ok, sizeof *col, cmp_double);
        bool ci = ok >= (size_t)RESAMPLES * 95 / 100;
        card_jb_open(j, NULL, '{');
        card_jb_str(j, "name", names[q]);
        card_jb_num(j, "value", v);
        card_jb_num(j, "low", ci ? quantile_sorted(col, ok, 0.025) : NAN);
        card_jb_num(j, "high", ci ? quantile_sorted(col, ok, 0.975) : NAN);
        card_jb_num(j, "resamples_used", (double)ok);
        card_jb_close(j, '}');
    }
    card_jb_close(j, ']');
    card_jb_close(j, '}');
    rc = KEEL_OK;
done:
    keel_free(cls_b);
    keel_free(pred_b);
    keel_free(y_b);
    keel_free(p_b);
    keel_free(idx);
    keel_free(boot);
    return rc;
}

/* ---- per-group measures of sensitive columns ---------------------------------------------- */

/* Measures of one group of rows (indexes into the scored rows). */
static int group_measures(card_jb *j, const scored *s, const size_t *idx, size_t n)
{
    card_jb_open(j, "metrics", '{');
    if (!n) {
        card_jb_close(j, '}');
        return KEEL_OK;
    }
    int32_t *cls_b = keel_calloc(n, sizeof *cls_b);
    float *pred_b = keel_calloc(n * s->k, sizeof *pred_b);
    double *y_b = keel_calloc(n, sizeof *y_b), *p_b = keel_calloc(n, sizeof *p_b);
    int rc = KEEL_ENOMEM;
    keel_metrics mt;
    if (!cls_b || !pred_b || !y_b || !p_b) goto done;
    if ((rc = measures_on(s, idx, n, cls_b, pred_b, y_b, p_b, &mt))) goto done;
    if (is_class(s->m)) {
        size_t pos = 0;
        double mean_p = 0;
        for (size_t i = 0; i < n; i++) {
            pos += y_explained(s, idx[i]);
            mean_p += p_explained(s, idx[i]);
        }
        card_jb_num(j, "accuracy", mt.accuracy);
        /* Too few rows of a class make the AUC noise; it is left undefined. */
        bool auc_ok = s->k == 2 ? pos >= AUC_MIN_CLASS && n - pos >= AUC_MIN_CLASS : true;
        card_jb_num(j, "roc_auc", auc_ok ? mt.roc_auc : NAN);
        card_jb_num(j, "observed_rate", (double)pos / (double)n);
        card_jb_num(j, "mean_predicted", mean_p / (double)n);
    } else {
        double ya = 0, pa = 0;
        for (size_t i = 0; i < n; i++) {
            ya += s->y[idx[i]];
            pa += s->pred[idx[i]];
        }
        card_jb_num(j, "rmse", mt.rmse);
        card_jb_num(j, "mae", mt.mae);
        card_jb_num(j, "mean_actual", ya / (double)n);
        card_jb_num(j, "mean_predicted", pa / (double)n);
    }
    rc = KEEL_OK;
done:
    card_jb_close(j, '}');
    keel_free(cls_b);
    keel_free(pred_b);
    keel_free(y_b);
    keel_free(p_b);
    return rc;
}
/* Group of scored row i for column c: 0.. n_groups-1, where the last is "missing". */
typedef struct grouping {
    size_t n;            /* groups, the missing group last */
    char labels[64][96]; /* at most 63 value groups + missing */
    double edges[8];     /* numeric: upper bounds of the first n - 2 bins */
    size_t n_edges;
    const char *binning;
    char note[256];
} grouping;

static size_t group_of(const grouping *g, const keel_column *col, size_t r)
{
    size_t miss = g->n - 1;
    switch (col->type) {
    case KEEL_TYPE_CATEGORICAL:
        return col->cat[r] < 0 || (size_t)col->cat[r] >= miss ? miss : (size_t)col->cat[r];
    case KEEL_TYPE_BOOLEAN:
        return col->boolean[r] < 0 ? miss : col->boolean[r] ? 0 : 1;
    case KEEL_TYPE_NUMERIC: {
        double v = col->num[r];
        if (isnan(v)) return miss;
        size_t b = 0;
        while (b < g->n_edges && v > g->edges[b])
            b++;
        return b;
    }
    default:
        return miss;
    }
}

/* Sets up the groups of column c; false when the column's type is not sliced. */
static bool grouping_init(grouping *g, const keel_schema_column *c, const keel_json *profile,
                          const scored *s, size_t col)
{
    memset(g, 0, sizeof *g);
    if (c->type == KEEL_TYPE_CATEGORICAL) {
        size_t n = KEEL_MIN(c->categories.n, (size_t)62);
        for (size_t i = 0; i < n; i++)
            snprintf(g->labels[i], sizeof g->labels[i], "%s", c->categories.items[i]);
        g->n = n + 1;
        g->binning = "one group per category";
        if (c->categories.n > n)
            snprintf(g->note, sizeof g->note,
                     "Only the first %zu of %zu categories are shown separately; rows of the "
                     "others are counted as missing.",
                     n, c->categories.n);
    } else if (c->type == KEEL_TYPE_BOOLEAN) {
        snprintf(g->labels[0], sizeof g->labels[0], "true");
        snprintf(g->labels[1], sizeof g->labels[1], "false");
        g->n = 3;
        g->binning = "true and false";
    } else if (c->type == KEEL_TYPE_NUMERIC) {
        /* Quartiles of the training data, from the profile the artifact keeps; the held-out
         * data's own quartiles when the profile has none. */
        const keel_json *q = keel_json_get(
            keel_json_get(card_profile_column(profile, c->name), "numeric"), "quantiles");
        double e[3] = {keel_json_num(keel_json_get(q, "p25"), NAN),
                       keel_json_num(keel_json_get(q, "p50"), NAN),
                       keel_json_num(keel_json_get(q, "p75"), NAN)};
        g->binning = "quartiles of the training data";
        if (isnan(e[0]) || isnan(e[1]) || isnan(e[2])) {
            double *v = keel_calloc(s->n + 1, sizeof *v);
            size_t nv = 0;
            for (size_t i = 0; v && i < s->n; i++)
                if (!isnan(s->f->cols[col].num[s->rows[i]]))
                    v[nv++] = s->f->cols[col].num[s->rows[i]];
            if (v) qsort(v, nv, sizeof *v, cmp_double);
            for (int k = 0; k < 3; k++)
                e[k] = v ? quantile_sorted(v, nv, 0.25 * (k + 1)) : NAN;
            keel_free(v);
            g->binning = "quartiles of the held-out data (the training profile has none)";
        }
        for (int k = 0; k < 3; k++) /* distinct, increasing edges only */
            if (isfinite(e[k]) && (g->n_edges == 0 || e[k] > g->edges[g->n_edges - 1]))
                g->edges[g->n_edges++] = e[k];
        char a[32], b[32];
        for (size_t i = 0; i <= g->n_edges; i++) {
            if (i == 0 && g->n_edges == 0) {
                snprintf(g->labels[i], sizeof g->labels[i], "all values");
            } else if (i == 0) {
                card_fmt_num(a, sizeof a, g->edges[0]);
                snprintf(g->labels[i], sizeof g->labels[i], "\xe2\x89\xa4 %s", a);
            } else if (i == g->n_edges) {
                card_fmt_num(a, sizeof a, g->edges[i - 1]);
                snprintf(g->labels[i], sizeof g->labels[i], "> %s", a);
            } else {
                card_fmt_num(a, sizeof a, g->edges[i - 1]);
                card_fmt_num(b, sizeof b, g->edges[i]);
                snprintf(g->labels[i], sizeof g->labels[i], "> %s and \xe2\x89\xa4 %s", a, b);
            }
        }
        g->n = g->n_edges + 2;
    } else {
        return false;
    }
    snprintf(g->labels[g->n - 1], sizeof g->labels[g->n - 1], "missing");
    return true;
}

static int write_slices(card_jb *j, const scored *s, const keel_json *profile, size_t *n_small,
                        size_t *n_sensitive)
{
    const keel_schema *sc = s->m->schema;
    size_t *idx = keel_calloc(s->n + 1, sizeof *idx);
    size_t *grp = keel_calloc(s->n + 1, sizeof *grp);
    int rc = KEEL_ENOMEM;
    if (!idx || !grp) goto done;
    rc = KEEL_OK;
    card_jb_open(j, "slices", '[');
    for (size_t c = 0; c < sc->n_columns && rc == KEEL_OK; c++) {
        const keel_schema_column *def = &sc->columns[c];
        if (!def->sensitive) continue;
        ++*n_sensitive;
        grouping g;
        card_jb_open(j, NULL, '{');
        card_jb_str(j, "column", def->name);
        card_jb_str(j, "display_name", col_display(def));
        card_jb_str(j, "type", keel_type_name(def->type));
        if (!grouping_init(&g, def, profile, s, c)) {
            card_jb_str(j, "note",
                        "Columns of this type are not split into groups (only categorical, "
                        "boolean and numeric columns are).");
            card_jb_close(j, '}');
            continue;
        }
        card_jb_str(j, "binning", g.binning);
        if (g.note[0]) card_jb_str(j, "note", g.note);
        card_jb_open(j, "measures", '[');
        if (is_class(s->m)) {
            card_jb_str(j, NULL, "accuracy");
            card_jb_str(j, NULL, "roc_auc");
            card_jb_str(j, NULL, "observed_rate");
            card_jb_str(j, NULL, "mean_predicted");
        } else {
            card_jb_str(j, NULL, "rmse");
            card_jb_str(j, NULL, "mae");
            card_jb_str(j, NULL, "mean_actual");
            card_jb_str(j, NULL, "mean_predicted");
        }
        card_jb_close(j, ']');
        for (size_t i = 0; i < s->n; i++)
            grp[i] = group_of(&g, &s->f->cols[c], s->rows[i]);
        card_jb_open(j, "groups", '[');
        for (size_t gi = 0; gi < g.n && rc == KEEL_OK; gi++) {
            size_t n = 0;
            for (size_t i = 0; i < s->n; i++)
                if (grp[i] == gi) idx[n++] = i;
            if (gi == g.n - 1 && n == 0) continue; /* no missing values: no missing group */
            bool small = n < SMALL_GROUP;
            *n_small += small;
            card_jb_open(j, NULL, '{');
            card_jb_str(j, "label", g.labels[gi]);
            card_jb_num(j, "n", (double)n);
            card_jb_bool(j, "small", small);
            rc = group_measures(j, s, idx, n);
            card_jb_close(j, '}');
        }
        card_jb_close(j, ']');
        card_jb_close(j, '}');
    }
    card_jb_close(j, ']');
done:
    keel_free(idx);
    keel_free(grp);
    return rc;
}

/* ---- calibration -------------------------------------------------------------------------- */

static void write_calibration(card_jb *j, const scored *s)
{
    card_jb_open(j, "calibration", '{');
    if (!is_class(s->m)) {
        card_jb_str(j, "note",
                    "A calibration diagram applies to classifiers; this model predicts a "
                    "number.");
        card_jb_close(j, '}');
        return;
    }
    if (s->explained >= 0)
        card_jb_str(j, "class", s->m->target.classes.items[s->explained]);
    else
        card_jb_str(j, "class",
                    "the predicted class (its probability against how often it is right)");
    double sum_p[CAL_BINS] = {0}, sum_y[CAL_BINS] = {0}, cnt[CAL_BINS] = {0};
    for (size_t i = 0; i < s->n; i++) {
        double p = p_explained(s, i);
        if (!isfinite(p)) continue;
        int b = (int)(p * CAL_BINS);
        b = b < 0 ? 0 : b >= CAL_BINS ? CAL_BINS - 1 : b;
        sum_p[b] += p;
        sum_y[b] += y_explained(s, i);
        cnt[b]++;
    }
    card_jb_open(j, "bins", '[');
    for (int b = 0; b < CAL_BINS; b++) {
        card_jb_open(j, NULL, '{');
        card_jb_num(j, "lo", (double)b / CAL_BINS);
        card_jb_num(j, "hi", (double)(b + 1) / CAL_BINS);
        card_jb_num(j, "n", cnt[b]);
        card_jb_num(j, "predicted", cnt[b] ? sum_p[b] / cnt[b] : NAN);
        card_jb_num(j, "observed", cnt[b] ? sum_y[b] / cnt[b] : NAN);
        card_jb_close(j, '}');
    }
    card_jb_close(j, ']');
    card_jb_close(j, '}');
}

/* ---- global explanations -------------------------------------------------------------------- */

typedef struct imp_sort {
    size_t input;
    double drop;
} imp_sort;

static int cmp_imp(const void *a, const void *b)
{
    double x = ((const imp_sort *)a)->drop, y = ((const imp_sort *)b)->drop;
    if (isnan(x) || isnan(y)) return isnan(x) - isnan(y);
    return (x < y) - (x > y); /* largest first */
}

static const keel_schema_column *input_def(const keel_model *m, size_t input)
{
    return &m->input_schema->columns[m->inputs[input]];
}

static void write_explanations(card_jb *j, scored *s, uint64_t seed, const keel_card_inputs *in)
{
    keel_model *m = s->m;
    size_t ni = keel_model_n_inputs(m);
    keel_importance *imp = keel_calloc(ni + 1, sizeof *imp);
    double *mabs = keel_calloc(ni + 1, sizeof *mabs);
    imp_sort *order = keel_calloc(ni + 1, sizeof *order);
    size_t n_perm = 0, n_attr = 0;
    size_t *pick_perm = sample_rows(s->n, PERM_ROWS, seed ^ 0x9e3779b97f4a7c15ull, &n_perm);
    size_t *pick_attr = sample_rows(s->n, ATTR_ROWS, seed ^ 0x243f6a8885a308d3ull, &n_attr);
    keel_error e = {0};
    char attr_err[256] = "", pd_err[256] = "";
    const char *metric = NULL;
    double base = NAN;
    bool have_imp = false, have_attr = false;
    keel_explainer *x = NULL;
    if (!imp || !mabs || !order || !pick_perm || !pick_attr) {
        j->err = KEEL_ENOMEM;
        goto done;
    }
    /* Frame rows of the samples (sample_rows gives indexes of scored rows). */
    for (size_t i = 0; i < n_perm; i++)
        pick_perm[i] = s->rows[pick_perm[i]];
    for (size_t i = 0; i < n_attr; i++)
        pick_attr[i] = s->rows[pick_attr[i]];
    for (size_t i = 0; i < ni; i++)
        mabs[i] = NAN;

    progress(in, "permutation importance");
    int rc = keel_explain_permutation_importance(m, s->f, pick_perm, n_perm, 0, seed, imp, &metric,
                                                 &base, &e);
    have_imp = rc == KEEL_OK;
    char imp_err[300] = "";
    if (!have_imp)
        snprintf(imp_err, sizeof imp_err, "Permutation importance failed: %.250s", e.msg);

    rc = keel_explainer_get(m, &x, &e);
    if (rc != KEEL_OK) {
        snprintf(attr_err, sizeof attr_err, "%.250s", e.msg);
        snprintf(pd_err, sizeof pd_err, "Partial dependence is not available: %.200s", e.msg);
        x = NULL;
    } else {
        progress(in, "attributions");
        rc = keel_explain_mean_abs_attribution(x, m, s->f, pick_attr, n_attr, NULL, mabs, &e);
        have_attr = rc == KEEL_OK;
        if (!have_attr) {
            snprintf(attr_err, sizeof attr_err, "%.250s", e.msg);
            for (size_t i = 0; i < ni; i++)
                mabs[i] = NAN;
        }
    }
    /* Order: by the importance drop, else by mean |attribution|. */
    for (size_t i = 0; i < ni; i++) {
        order[i].input = i;
        order[i].drop = have_imp ? imp[i].drop : mabs[i];
    }
    qsort(order, ni, sizeof *order, cmp_imp);

    card_jb_open(j, "importance", '{');
    card_jb_str(j, "metric", metric);
    card_jb_num(j, "base", base);
    card_jb_num(j, "repeats", 5);
    card_jb_num(j, "rows", (double)n_perm);
    card_jb_num(j, "attribution_rows", have_attr ? (double)n_attr : NAN);
    card_jb_str(j, "attribution_scale", is_class(m) ? "log-odds" : "value (the target's units)");
    if (!have_imp) card_jb_str(j, "error", imp_err);
    if (attr_err[0]) card_jb_str(j, "attribution_error", attr_err);
    if (have_imp || have_attr) {
        card_jb_open(j, "items", '[');
        for (size_t r = 0; r < ni; r++) {
            size_t i = order[r].input;
            const keel_schema_column *c = input_def(m, i);
            card_jb_open(j, NULL, '{');
            card_jb_str(j, "column", c->name);
            card_jb_str(j, "display_name", col_display(c));
            card_jb_num(j, "drop", have_imp ? imp[i].drop : NAN);
            card_jb_num(j, "low", have_imp ? imp[i].ci_low : NAN);
            card_jb_num(j, "high", have_imp ? imp[i].ci_high : NAN);
            card_jb_num(j, "mean_abs_attribution", mabs[i]);
            card_jb_close(j, '}');
        }
        card_jb_close(j, ']');
    }
    card_jb_close(j, '}');

    /* Partial dependence of the top columns (text inputs have none). */
    card_jb_open(j, "partial_dependence", '{');
    card_jb_str(j, "scale", is_class(m) ? "probability of the explained class" : "predicted value");
    card_jb_num(j, "rows", (double)n_attr);
    if (!x) {
        card_jb_str(j, "error", pd_err);
    } else {
        progress(in, "partial dependence");
        keel_explain_options o;
        keel_explain_options_init(&o);
        o.scale = is_class(m) ? KEEL_SCALE_PROBABILITY : KEEL_SCALE_VALUE;
        if (is_class(m) && s->explained >= 0) o.class_index = s->explained;
        card_jb_open(j, "curves", '[');
        size_t drawn = 0;
        for (size_t r = 0; r < ni && drawn < PD_COLUMNS && !j->err; r++) {
            size_t i = order[r].input;
            const keel_schema_column *c = input_def(m, i);
            if (c->type == KEEL_TYPE_TEXT || c->type == KEEL_TYPE_ID) continue;
            keel_pd_curve cv = {0};
            if (keel_explain_partial_dependence(x, m, s->f, pick_attr, n_attr, i, PD_POINTS, &o,
                                                &cv, &e) != KEEL_OK) {
                if (!pd_err[0])
                    snprintf(pd_err, sizeof pd_err, "Partial dependence of %.60s failed: %.150s",
                             c->name, e.msg);
                continue;
            }
            drawn++;
            card_jb_open(j, NULL, '{');
            card_jb_str(j, "column", c->name);
            card_jb_str(j, "display_name", col_display(c));
            card_jb_bool(j, "numeric", cv.x != NULL && c->type == KEEL_TYPE_NUMERIC);
            card_jb_open(j, "points", '[');
            for (size_t p = 0; p < cv.n; p++) {
                card_jb_open(j, NULL, '{');
                if (cv.x) card_jb_num(j, "x", cv.x[p]);
                card_jb_str(j, "label", cv.labels ? cv.labels[p] : NULL);
                card_jb_num(j, "y", cv.y ? cv.y[p] : NAN);
                card_jb_close(j, '}');
            }
            card_jb_close(j, ']');
            card_jb_close(j, '}');
            keel_pd_curve_free(&cv);
        }
        card_jb_close(j, ']');
        if (pd_err[0]) card_jb_str(j, "error", pd_err);
    }
    card_jb_close(j, '}');
done:
    keel_free(imp);
    keel_free(mabs);
    keel_free(order);
    keel_free(pick_perm);
    keel_free(pick_attr);
}

/* ---- the whole document ---------------------------------------------------------------- */

static int build_card(const keel_card_inputs *in, scored *s, card_reg_ref *rr, card_jb *j)
{
    keel_model *m = s->m;
    keel_json_doc *prof = card_parse_doc(m->profile_json.data, m->profile_json.len);
    keel_json_doc *lin = card_parse_doc(m->lineage_json.data, m->lineage_json.len);
    keel_json_doc *trn = card_parse_doc(m->training_json.data, m->training_json.len);
    keel_json_doc *met = card_parse_doc(m->metrics_json.data, m->metrics_json.len);
    keel_json_doc *show = NULL;
    const keel_json *profile = prof ? keel_json_root(prof) : NULL;
    const keel_json *lineage = lin ? keel_json_root(lin) : NULL;
    int rc = KEEL_OK;
    size_t n_small = 0, n_sensitive = 0;
    char now[40];
    keel_format_timestamp(in->generated_us, now);

    card_jb_open(j, NULL, '{');
    card_jb_num(j, "keel_card", 1);
    card_jb_str(j, "generated", now);
    card_jb_str(j, "keel_version", keel_version());

    /* The model. */
    const char *slash = strrchr(in->model_ref, '/');
    const char *base = slash ? slash + 1 : in->model_ref; /* the file's name, without folders */
    char name[128];
    snprintf(name, sizeof name, "%.*s", (int)keel_path_stem_len(base, ".keel"), base);
    card_jb_open(j, "model", '{');
    card_jb_str(j, "name", rr->name ? rr->name : name);
    card_jb_str(j, "reference", in->model_ref);
    card_jb_str(j, "sha256", m->sha256);
    card_jb_str(j, "task", keel_task_name(m->target.task));
    card_jb_str(j, "target", m->target.column);
    long tc = m->target.column ? keel_schema_find(m->schema, m->target.column) : -1;
    if (tc >= 0) card_jb_str(j, "target_display", col_display(&m->schema->columns[tc]));
    if (is_class(m)) {
        card_jb_open(j, "classes", '[');
        for (size_t i = 0; i < m->target.classes.n; i++)
            card_jb_str(j, NULL, m->target.classes.items[i]);
        card_jb_close(j, ']');
        card_jb_str(j, "explained_class",
                    s->explained >= 0 ? m->target.classes.items[s->explained]
                                      : "the predicted class");
    }
    card_jb_str(j, "calibration", card_calibration_name(m->cal.kind));
    card_jb_num(j, "inputs", (double)keel_model_n_inputs(m));
    keel_buf hp;
    keel_buf_init(&hp);
    keel_json_doc *hpd = NULL;
    if (keel_hparams_to_json(&m->hp, &hp) == KEEL_OK && (hpd = card_parse_doc(hp.data, hp.len)))
        card_jb_value(j, "hyper_parameters", keel_json_root(hpd));
    keel_json_doc_free(hpd);
    keel_buf_free(&hp);
    card_jb_close(j, '}');

    /* The registry first: the use section needs its tags. */
    const keel_json *tags = NULL;
    if (rr->r && rr->name)
        card_write_registry(j, rr, &tags, &show);
    else if (rr->note[0])
        card_jb_str(j, "registry_note", rr->note);
    card_write_use(j, rr, tags);
    card_write_columns(j, m, profile);
    card_write_training(j, m, lineage, trn ? keel_json_root(trn) : NULL,
                        met ? keel_json_root(met) : NULL);

    /* The held-out data. */
    const char *train_sha = keel_json_str(keel_json_get(lineage, "data_sha256"));
    bool same = train_sha && s->vr->sha256[0] && !strcmp(train_sha, s->vr->sha256);
    card_jb_open(j, "holdout", '{');
    card_jb_str(j, "file", in->holdout_path);
    card_jb_str(j, "sha256", s->vr->sha256[0] ? s->vr->sha256 : NULL);
    card_jb_num(j, "records", (double)s->vr->records);
    card_jb_num(j, "accepted", (double)s->vr->accepted);
    card_jb_num(j, "quarantined", (double)s->vr->quarantined);
    card_jb_num(j, "unlabeled", (double)(s->f->n_rows - s->n));
    card_jb_num(j, "scored", (double)s->n);
    card_jb_str(j, "quarantine", s->vr->quarantined ? s->qpath : NULL);
    card_jb_bool(j, "same_as_training", same);
    card_jb_close(j, '}');

    if ((rc = write_metrics(j, s, in->seed, in))) goto done;
    if ((rc = write_slices(j, s, profile, &n_small, &n_sensitive))) goto done;
    write_calibration(j, s);
    write_explanations(j, s, in->seed, in);

    /* What a reviewer must not miss. */
    card_jb_open(j, "warnings", '[');
    if (same)
        card_jb_str(j, NULL,
                    "The held-out file is the training file: every quality figure in this "
                    "card is measured on data the model was trained on.");
    if (s->vr->quarantined) {
        char msg[300];
        snprintf(msg, sizeof msg,
                 "%llu of %llu held-out records broke the model's schema and were not scored.",
                 (unsigned long long)s->vr->quarantined, (unsigned long long)s->vr->records);
        card_jb_str(j, NULL, msg);
    }
    if (s->n < 200) {
        char msg[200];
        snprintf(msg, sizeof msg,
                 "Only %zu held-out rows were scored: the intervals are wide, and small "
                 "differences mean nothing.",
                 s->n);
        card_jb_str(j, NULL, msg);
    }
    if (n_small) {
        char msg[200];
        snprintf(msg, sizeof msg,
                 "%zu group%s of sensitive columns %s fewer than %d rows; %s figures are too "
                 "uncertain to compare.",
                 n_small, n_small == 1 ? "" : "s", n_small == 1 ? "has" : "have", SMALL_GROUP,
                 n_small == 1 ? "its" : "their");
        card_jb_str(j, NULL, msg);
    }
    if (!n_sensitive)
        card_jb_str(j, NULL,
                    "No column of the model's schema is marked sensitive, so the card has no "
                    "per-group measures.");
    /* A governance section with a hole must not look complete. */
    if (rr->approvals_note[0]) card_jb_str(j, NULL, rr->approvals_note);
    if (rr->audit_note[0]) card_jb_str(j, NULL, rr->audit_note);
    card_jb_close(j, ']');
    card_jb_close(j, '}');
done:
    keel_json_doc_free(prof);
    keel_json_doc_free(lin);
    keel_json_doc_free(trn);
    keel_json_doc_free(met);
    keel_json_doc_free(show);
    if (!rc && j->err) rc = j->err;
    return rc;
}

int keel_card_build(const keel_card_inputs *in, keel_buf *json_out, keel_error *e)
{
    if (!in || !json_out || !in->model || !in->model_ref || !in->holdout || !in->holdout_result)
        return keel_error_set(e, KEEL_EINVAL,
                              "cannot build the card: the model, its reference and the held-out "
                              "data are required");
    scored s = {
        .m = in->model, .f = in->holdout, .vr = in->holdout_result, .qpath = in->quarantine_path};
    card_reg_ref rr = {
        .r = in->registry, .name = in->registry_model, .version = in->registry_version};
    if (in->registry_note) snprintf(rr.note, sizeof rr.note, "%s", in->registry_note);
    card_jb j = {.depth = 0};
    keel_buf_init(&j.b);
    s.explained = explained_class(in->model);
    int rc = score_holdout(in, &s, e);
    if (rc == KEEL_OK && (rc = build_card(in, &s, &rr, &j)) != KEEL_OK)
        keel_error_set(e, rc, "cannot build the card: %s", keel_strerror(rc));
    if (rc == KEEL_OK && keel_buf_append(json_out, j.b.data, j.b.len) != KEEL_OK)
        rc =
            keel_error_set(e, KEEL_ENOMEM, "cannot build the card: %s", keel_strerror(KEEL_ENOMEM));
    keel_buf_free(&j.b);
    scored_free(&s);
    return rc;
}
