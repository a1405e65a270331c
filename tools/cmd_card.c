/*
 * cmd_card.c — `keel card MODEL --data HOLDOUT`: the model card.
 *
 * Two halves. The first gathers every number into one JSON document ("keel_card": 1,
 * docs/card.md): what the artifact says of itself (task, classes, schema, hyper-parameters,
 * the training data's lineage and profile), what the held-out file says of the model
 * (measures with bootstrap intervals, per-group measures for the schema's sensitive columns,
 * the calibration diagram), the global explanations (permutation importance, mean
 * |attribution|, partial dependence; src/explain), and what the registry knows (version,
 * author, aliases, approvals, lineage, the tags intended_use / limitations / owner, and the
 * audit events that concern the version). The second half renders that document, and only
 * that document, as HTML and Markdown (src/report/card.h), so a card can be re-rendered and
 * checked from its JSON alone.
 *
 * Honesty rules the card follows: rows the schema rejects are counted and named, never
 * silently dropped; a held-out file identical to the training file is called out; intervals
 * come with their method; small groups are flagged; anything that could not be computed says
 * so (with the reason) instead of disappearing. Everything random (bootstrap, permutations,
 * row samples) is seeded, so the same inputs give the same card.
 *
 * The registry is used read-only and only through its API, so its role checks apply: the
 * approvals need any role (as `keel model show`), the audit references the auditor role (as
 * `keel audit export`). The card asks for what the actor's roles allow and says plainly what
 * it left out and who can grant the rest, instead of failing or asking anyway: a refused
 * read is audited (access.denied), and a card must not change the record it reports.
 */
#include "data/validate.h"
#include "explain/explain.h"
#include "model/model.h"
#include "report/card.h"
#include "tools/registry_cli.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum {
    RESAMPLES = 500,   /* bootstrap resamples for the intervals */
    PERM_ROWS = 5000,  /* most rows permutation importance runs on */
    ATTR_ROWS = 500,   /* most rows for attributions and partial dependence */
    PD_COLUMNS = 4,    /* partial-dependence curves drawn */
    PD_POINTS = 20,    /* grid points per curve */
    SMALL_GROUP = 30,  /* a group with fewer rows is flagged */
    AUC_MIN_CLASS = 5, /* a group's AUC needs this many rows of each class */
    CAL_BINS = 10,     /* calibration bins */
    MAX_AUDIT = 200    /* audit events listed */
};

static const char usage[] =
    "usage: keel card MODEL --data FILE [options]\n"
    "\n"
    "Writes the model card of MODEL (a .keel file, or NAME, NAME:VERSION or NAME@ALIAS from the\n"
    "registry): intended use and limitations, training data and lineage, measures on the\n"
    "held-out FILE with 95% bootstrap intervals, measures per group of every column the schema\n"
    "marks sensitive, a calibration diagram, permutation importance, partial dependence,\n"
    "approvals and audit references. One self-contained HTML page and a Markdown file, both\n"
    "rendered from one JSON document (docs/card.md).\n"
    "\n"
    "  --data FILE                  held-out data with the target column (required); records\n"
    "                               that break the model's schema are quarantined and counted\n"
    "  -o, --output PATH            the HTML card (default NAME.card.html)\n"
    "  --markdown PATH              the Markdown card (default NAME.card.md)\n"
    "  --json PATH                  also write the card's JSON document\n"
    "  --quarantine PATH            where rejected records go (default FILE's\n"
    "                               NAME.quarantine.jsonl); --no-quarantine counts them only\n"
    "  --seed N                     seed of the bootstrap and the permutations (default 42)\n"
    "  -q, --quiet                  no progress output\n"
    "  -h, --help                   this text\n"
    "\n"
    "Intended use, limitations and owner are the registry tags of the version: set them with\n"
    "  keel model tag NAME:VERSION intended_use=\"...\"  (and limitations=..., owner=...)\n";

typedef struct card_args {
    const char *model, *data, *html, *md, *json, *quarantine;
    bool no_quarantine, quiet;
    uint64_t seed;
} card_args;

/* ---- a JSON builder with a sticky error ------------------------------------------------ */

typedef struct jb {
    keel_buf b;
    int err;
    int depth;
    bool first[64]; /* per open container: nothing written in it yet */
} jb;

static void jb_raw(jb *j, const char *s, size_t n)
{
    if (!j->err && keel_buf_append(&j->b, s, n)) j->err = KEEL_ENOMEM;
}

static void jb_lit(jb *j, const char *s)
{
    jb_raw(j, s, strlen(s));
}

/* The separator and key before a value (key NULL inside arrays). */
static void jb_key(jb *j, const char *key)
{
    if (j->depth > 0) {
        if (!j->first[j->depth]) jb_lit(j, ",");
        j->first[j->depth] = false;
    }
    if (key) {
        if (!j->err && keel_buf_json_str(&j->b, key, strlen(key))) j->err = KEEL_ENOMEM;
        jb_lit(j, ":");
    }
}

static void jb_open(jb *j, const char *key, char c)
{
    jb_key(j, key);
    jb_raw(j, &c, 1);
    if (j->depth + 1 < (int)KEEL_ARRAY_LEN(j->first))
        j->first[++j->depth] = true;
    else
        j->err = KEEL_ELIMIT;
}

static void jb_close(jb *j, char c)
{
    jb_raw(j, &c, 1);
    if (j->depth > 0) j->depth--;
}

static void jb_strn(jb *j, const char *key, const char *s, size_t n)
{
    jb_key(j, key);
    if (!s) {
        jb_lit(j, "null");
        return;
    }
    if (!j->err && keel_buf_json_str(&j->b, s, n)) j->err = KEEL_ENOMEM;
}

static void jb_str(jb *j, const char *key, const char *s)
{
    jb_strn(j, key, s, s ? strlen(s) : 0);
}

/* NaN and infinities become null. */
static void jb_num(jb *j, const char *key, double v)
{
    jb_key(j, key);
    if (!j->err && keel_buf_json_num(&j->b, v)) j->err = KEEL_ENOMEM;
}

static void jb_bool(jb *j, const char *key, bool v)
{
    jb_key(j, key);
    jb_lit(j, v ? "true" : "false");
}

/* A parsed JSON value copied in. */
static void jb_value(jb *j, const char *key, const keel_json *v);
static void jb_copy(jb *j, const keel_json *v)
{
    switch (v ? v->type : KEEL_JSON_NULL) {
    case KEEL_JSON_NULL:
        jb_lit(j, "null");
        break;
    case KEEL_JSON_BOOL:
        jb_lit(j, v->u.boolean ? "true" : "false");
        break;
    case KEEL_JSON_NUMBER:
        jb_raw(j, v->u.number.text, v->u.number.len);
        break;
    case KEEL_JSON_STRING:
        if (!j->err && keel_buf_json_str(&j->b, v->u.string.s, v->u.string.len))
            j->err = KEEL_ENOMEM;
        break;
    case KEEL_JSON_ARRAY:
        jb_lit(j, "[");
        for (size_t i = 0; i < v->u.array.n; i++) {
            if (i) jb_lit(j, ",");
            jb_copy(j, &v->u.array.items[i]);
        }
        jb_lit(j, "]");
        break;
    case KEEL_JSON_OBJECT:
        jb_lit(j, "{");
        for (size_t i = 0; i < v->u.object.n; i++) {
            const keel_json_member *m = &v->u.object.members[i];
            if (i) jb_lit(j, ",");
            if (!j->err && keel_buf_json_str(&j->b, m->key, m->key_len)) j->err = KEEL_ENOMEM;
            jb_lit(j, ":");
            jb_copy(j, &m->value);
        }
        jb_lit(j, "}");
        break;
    }
}

static void jb_value(jb *j, const char *key, const keel_json *v)
{
    jb_key(j, key);
    jb_copy(j, v);
}

/* A JSON text parsed into a doc of its own (NULL when empty or not JSON). */
static keel_json_doc *parse_doc(const char *text, size_t n)
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

static bool progress_on(const card_args *a)
{
    return !a->quiet && isatty(STDERR_FILENO);
}

static void progress(const card_args *a, const char *what)
{
    if (progress_on(a)) fprintf(stderr, "keel: card: %s\xe2\x80\xa6\n", what);
}

static void progress_cb(void *ud, uint64_t done, uint64_t total, const char *what)
{
    keel_progress_bar_update(ud, done, total, what);
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
    keel_frame *f;
    keel_validate_result vr;
    char *qpath;
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
    keel_frame_free(s->f);
    keel_validate_result_free(&s->vr);
    keel_free(s->qpath);
    keel_free(s->rows);
    keel_free(s->cls);
    keel_free(s->y);
    keel_free(s->pred);
}

static bool is_class(const keel_model *m)
{
    return m->target.task != KEEL_TASK_REGRESSION;
}

static int load_holdout(const card_args *a, scored *s)
{
    keel_model *m = s->m;
    keel_validate_options o;
    keel_validate_options_init(&o);
    if (!a->no_quarantine) {
        s->qpath = a->quarantine ? keel_strdup(a->quarantine)
                                 : cli_derived_name(a->data, ".quarantine.jsonl");
        if (!s->qpath) goto oom;
    }
    o.quarantine_path = s->qpath;
    o.sha256 = true;
    o.cancel = (const volatile int *)&cli_interrupted;
    keel_progress_bar *bar = a->quiet ? NULL : cli_progress();
    if (bar) {
        o.progress = progress_cb;
        o.progress_ud = bar;
    }
    keel_error e;
    int rc = keel_frame_load(m->schema, a->data, &o, &s->f, &s->vr, &e);
    keel_progress_bar_finish(bar);
    if (rc) {
        cli_error("%s", e.msg);
        return EXIT_FAIL;
    }
    if (s->vr.quarantined && !a->quiet)
        fprintf(stderr, "keel: %s: %llu of %llu records quarantined%s%s\n", a->data,
                (unsigned long long)s->vr.quarantined, (unsigned long long)s->vr.records,
                s->qpath ? ", see " : "", s->qpath ? s->qpath : "");
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
    if (s->n == 0) {
        cli_error("no record of %s has a usable value of the target '%s': nothing to score",
                  a->data, m->target.column ? m->target.column : "?");
        return EXIT_FAIL;
    }
    if (s->n > SIZE_MAX / sizeof(float) / s->k ||
        !(s->pred = keel_calloc(s->n * s->k, sizeof(float))))
        goto oom;
    if ((rc = keel_model_predict_frame(m, s->f, s->rows, 0, s->n, s->pred))) {
        cli_error("cannot score %s: %s", a->data, keel_strerror(rc));
        return EXIT_FAIL;
    }
    return EXIT_OK;
oom:
    cli_error("out of memory");
    return EXIT_FAIL;
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

static int write_metrics(jb *j, const scored *s, uint64_t seed, const card_args *a)
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
    progress(a, "bootstrap intervals");
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
    jb_open(j, "metrics", '{');
    jb_num(j, "confidence", 0.95);
    jb_str(j, "method", "percentile bootstrap");
    jb_num(j, "resamples", RESAMPLES);
    jb_num(j, "seed", (double)seed);
    jb_num(j, "n", (double)n);
    jb_open(j, "items", '[');
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
        jb_open(j, NULL, '{');
        jb_str(j, "name", names[q]);
        jb_num(j, "value", v);
        jb_num(j, "low", ci ? quantile_sorted(col, ok, 0.025) : NAN);
        jb_num(j, "high", ci ? quantile_sorted(col, ok, 0.975) : NAN);
        jb_num(j, "resamples_used", (double)ok);
        jb_close(j, '}');
    }
    jb_close(j, ']');
    jb_close(j, '}');
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
static int group_measures(jb *j, const scored *s, const size_t *idx, size_t n)
{
    jb_open(j, "metrics", '{');
    if (!n) {
        jb_close(j, '}');
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
        jb_num(j, "accuracy", mt.accuracy);
        /* Too few rows of a class make the AUC noise; it is left undefined. */
        bool auc_ok = s->k == 2 ? pos >= AUC_MIN_CLASS && n - pos >= AUC_MIN_CLASS : true;
        jb_num(j, "roc_auc", auc_ok ? mt.roc_auc : NAN);
        jb_num(j, "observed_rate", (double)pos / (double)n);
        jb_num(j, "mean_predicted", mean_p / (double)n);
    } else {
        double ya = 0, pa = 0;
        for (size_t i = 0; i < n; i++) {
            ya += s->y[idx[i]];
            pa += s->pred[idx[i]];
        }
        jb_num(j, "rmse", mt.rmse);
        jb_num(j, "mae", mt.mae);
        jb_num(j, "mean_actual", ya / (double)n);
        jb_num(j, "mean_predicted", pa / (double)n);
    }
    rc = KEEL_OK;
done:
    jb_close(j, '}');
    keel_free(cls_b);
    keel_free(pred_b);
    keel_free(y_b);
    keel_free(p_b);
    return rc;
}

/* The profile's column object called name, or NULL. */
static const keel_json *profile_column(const keel_json *profile, const char *name)
{
    const keel_json *cols = keel_json_get(profile, "columns");
    for (size_t i = 0; i < keel_json_len(cols); i++) {
        const keel_json *c = keel_json_at(cols, i);
        const char *nm = keel_json_str(keel_json_get(c, "name"));
        if (nm && !strcmp(nm, name)) return c;
    }
    return NULL;
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

static void fmt_num(char *out, size_t cap, double v)
{
    snprintf(out, cap, "%.4g", v);
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
        const keel_json *q =
            keel_json_get(keel_json_get(profile_column(profile, c->name), "numeric"), "quantiles");
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
                fmt_num(a, sizeof a, g->edges[0]);
                snprintf(g->labels[i], sizeof g->labels[i], "\xe2\x89\xa4 %s", a);
            } else if (i == g->n_edges) {
                fmt_num(a, sizeof a, g->edges[i - 1]);
                snprintf(g->labels[i], sizeof g->labels[i], "> %s", a);
            } else {
                fmt_num(a, sizeof a, g->edges[i - 1]);
                fmt_num(b, sizeof b, g->edges[i]);
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

static int write_slices(jb *j, const scored *s, const keel_json *profile, size_t *n_small,
                        size_t *n_sensitive)
{
    const keel_schema *sc = s->m->schema;
    size_t *idx = keel_calloc(s->n + 1, sizeof *idx);
    size_t *grp = keel_calloc(s->n + 1, sizeof *grp);
    int rc = KEEL_ENOMEM;
    if (!idx || !grp) goto done;
    rc = KEEL_OK;
    jb_open(j, "slices", '[');
    for (size_t c = 0; c < sc->n_columns && rc == KEEL_OK; c++) {
        const keel_schema_column *def = &sc->columns[c];
        if (!def->sensitive) continue;
        ++*n_sensitive;
        grouping g;
        jb_open(j, NULL, '{');
        jb_str(j, "column", def->name);
        jb_str(j, "display_name", col_display(def));
        jb_str(j, "type", keel_type_name(def->type));
        if (!grouping_init(&g, def, profile, s, c)) {
            jb_str(j, "note",
                   "Columns of this type are not split into groups (only categorical, "
                   "boolean and numeric columns are).");
            jb_close(j, '}');
            continue;
        }
        jb_str(j, "binning", g.binning);
        if (g.note[0]) jb_str(j, "note", g.note);
        jb_open(j, "measures", '[');
        if (is_class(s->m)) {
            jb_str(j, NULL, "accuracy");
            jb_str(j, NULL, "roc_auc");
            jb_str(j, NULL, "observed_rate");
            jb_str(j, NULL, "mean_predicted");
        } else {
            jb_str(j, NULL, "rmse");
            jb_str(j, NULL, "mae");
            jb_str(j, NULL, "mean_actual");
            jb_str(j, NULL, "mean_predicted");
        }
        jb_close(j, ']');
        for (size_t i = 0; i < s->n; i++)
            grp[i] = group_of(&g, &s->f->cols[c], s->rows[i]);
        jb_open(j, "groups", '[');
        for (size_t gi = 0; gi < g.n && rc == KEEL_OK; gi++) {
            size_t n = 0;
            for (size_t i = 0; i < s->n; i++)
                if (grp[i] == gi) idx[n++] = i;
            if (gi == g.n - 1 && n == 0) continue; /* no missing values: no missing group */
            bool small = n < SMALL_GROUP;
            *n_small += small;
            jb_open(j, NULL, '{');
            jb_str(j, "label", g.labels[gi]);
            jb_num(j, "n", (double)n);
            jb_bool(j, "small", small);
            rc = group_measures(j, s, idx, n);
            jb_close(j, '}');
        }
        jb_close(j, ']');
        jb_close(j, '}');
    }
    jb_close(j, ']');
done:
    keel_free(idx);
    keel_free(grp);
    return rc;
}

/* ---- calibration -------------------------------------------------------------------------- */

static void write_calibration(jb *j, const scored *s)
{
    jb_open(j, "calibration", '{');
    if (!is_class(s->m)) {
        jb_str(j, "note",
               "A calibration diagram applies to classifiers; this model predicts a "
               "number.");
        jb_close(j, '}');
        return;
    }
    if (s->explained >= 0)
        jb_str(j, "class", s->m->target.classes.items[s->explained]);
    else
        jb_str(j, "class", "the predicted class (its probability against how often it is right)");
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
    jb_open(j, "bins", '[');
    for (int b = 0; b < CAL_BINS; b++) {
        jb_open(j, NULL, '{');
        jb_num(j, "lo", (double)b / CAL_BINS);
        jb_num(j, "hi", (double)(b + 1) / CAL_BINS);
        jb_num(j, "n", cnt[b]);
        jb_num(j, "predicted", cnt[b] ? sum_p[b] / cnt[b] : NAN);
        jb_num(j, "observed", cnt[b] ? sum_y[b] / cnt[b] : NAN);
        jb_close(j, '}');
    }
    jb_close(j, ']');
    jb_close(j, '}');
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

static void write_explanations(jb *j, scored *s, uint64_t seed, const card_args *a)
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

    progress(a, "permutation importance");
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
        progress(a, "attributions");
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

    jb_open(j, "importance", '{');
    jb_str(j, "metric", metric);
    jb_num(j, "base", base);
    jb_num(j, "repeats", 5);
    jb_num(j, "rows", (double)n_perm);
    jb_num(j, "attribution_rows", have_attr ? (double)n_attr : NAN);
    jb_str(j, "attribution_scale", is_class(m) ? "log-odds" : "value (the target's units)");
    if (!have_imp) jb_str(j, "error", imp_err);
    if (attr_err[0]) jb_str(j, "attribution_error", attr_err);
    if (have_imp || have_attr) {
        jb_open(j, "items", '[');
        for (size_t r = 0; r < ni; r++) {
            size_t i = order[r].input;
            const keel_schema_column *c = input_def(m, i);
            jb_open(j, NULL, '{');
            jb_str(j, "column", c->name);
            jb_str(j, "display_name", col_display(c));
            jb_num(j, "drop", have_imp ? imp[i].drop : NAN);
            jb_num(j, "low", have_imp ? imp[i].ci_low : NAN);
            jb_num(j, "high", have_imp ? imp[i].ci_high : NAN);
            jb_num(j, "mean_abs_attribution", mabs[i]);
            jb_close(j, '}');
        }
        jb_close(j, ']');
    }
    jb_close(j, '}');

    /* Partial dependence of the top columns (text inputs have none). */
    jb_open(j, "partial_dependence", '{');
    jb_str(j, "scale", is_class(m) ? "probability of the explained class" : "predicted value");
    jb_num(j, "rows", (double)n_attr);
    if (!x) {
        jb_str(j, "error", pd_err);
    } else {
        progress(a, "partial dependence");
        keel_explain_options o;
        keel_explain_options_init(&o);
        o.scale = is_class(m) ? KEEL_SCALE_PROBABILITY : KEEL_SCALE_VALUE;
        if (is_class(m) && s->explained >= 0) o.class_index = s->explained;
        jb_open(j, "curves", '[');
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
            jb_open(j, NULL, '{');
            jb_str(j, "column", c->name);
            jb_str(j, "display_name", col_display(c));
            jb_bool(j, "numeric", cv.x != NULL && c->type == KEEL_TYPE_NUMERIC);
            jb_open(j, "points", '[');
            for (size_t p = 0; p < cv.n; p++) {
                jb_open(j, NULL, '{');
                if (cv.x) jb_num(j, "x", cv.x[p]);
                jb_str(j, "label", cv.labels ? cv.labels[p] : NULL);
                jb_num(j, "y", cv.y ? cv.y[p] : NAN);
                jb_close(j, '}');
            }
            jb_close(j, ']');
            jb_close(j, '}');
            keel_pd_curve_free(&cv);
        }
        jb_close(j, ']');
        if (pd_err[0]) jb_str(j, "error", pd_err);
    }
    jb_close(j, '}');
done:
    keel_free(imp);
    keel_free(mabs);
    keel_free(order);
    keel_free(pick_perm);
    keel_free(pick_attr);
}

/* ---- the artifact's own record ------------------------------------------------------------- */

/* One line on a column's training data, from its profile entry. */
static void profile_summary(const keel_json *pc, char *out, size_t cap)
{
    out[0] = '\0';
    const keel_json *num = keel_json_get(pc, "numeric");
    const keel_json *top = keel_json_get(pc, "top");
    if (num) {
        char a[32], b[32], c[32];
        fmt_num(a, sizeof a, keel_json_num(keel_json_get(num, "mean"), NAN));
        fmt_num(b, sizeof b, keel_json_num(keel_json_get(num, "min"), NAN));
        fmt_num(c, sizeof c, keel_json_num(keel_json_get(num, "max"), NAN));
        snprintf(out, cap, "mean %s, range %s to %s", a, b, c);
    } else if (keel_json_len(top)) {
        double count = keel_json_num(keel_json_get(pc, "count"), NAN);
        double missing = keel_json_num(keel_json_get(pc, "missing"), 0);
        const keel_json *t0 = keel_json_at(top, 0);
        const char *v = keel_json_str(keel_json_get(t0, "value"));
        double n0 = keel_json_num(keel_json_get(t0, "count"), NAN);
        double present = count - missing;
        if (v && present > 0)
            snprintf(out, cap, "most frequent: %.60s (%.1f%%)", v, 100 * n0 / present);
    } else if (keel_json_get(pc, "timestamp")) {
        const keel_json *ts = keel_json_get(pc, "timestamp");
        const char *lo = keel_json_str(keel_json_get(ts, "min"));
        const char *hi = keel_json_str(keel_json_get(ts, "max"));
        if (lo && hi) snprintf(out, cap, "from %.30s to %.30s", lo, hi);
    }
}

static void write_columns(jb *j, const keel_model *m, const keel_json *profile)
{
    jb_open(j, "columns", '[');
    for (size_t i = 0; i < m->schema->n_columns; i++) {
        const keel_schema_column *c = &m->schema->columns[i];
        jb_open(j, NULL, '{');
        jb_str(j, "name", c->name);
        jb_str(j, "display_name", c->display_name);
        jb_str(j, "description", c->description);
        jb_str(j, "type", keel_type_name(c->type));
        jb_str(j, "role", keel_role_name(c->role));
        jb_bool(j, "sensitive", c->sensitive);
        jb_str(j, "pii", keel_pii_name(c->pii));
        const keel_json *pc = profile_column(profile, c->name);
        if (pc) {
            jb_num(j, "count", keel_json_num(keel_json_get(pc, "count"), NAN));
            jb_num(j, "missing", keel_json_num(keel_json_get(pc, "missing"), NAN));
            char sum[200];
            profile_summary(pc, sum, sizeof sum);
            if (sum[0]) jb_str(j, "summary", sum);
        }
        jb_close(j, '}');
    }
    jb_close(j, ']');
}

static void copy_member(jb *j, const char *key, const keel_json *obj, const char *member)
{
    const keel_json *v = keel_json_get(obj, member);
    if (v && v->type != KEEL_JSON_NULL) jb_value(j, key, v);
}

static void write_training(jb *j, const keel_model *m, const keel_json *lineage,
                           const keel_json *training, const keel_json *metrics)
{
    jb_open(j, "training", '{');
    copy_member(j, "source", lineage, "data_source");
    copy_member(j, "sha256", lineage, "data_sha256");
    copy_member(j, "records", lineage, "records");
    copy_member(j, "accepted", lineage, "accepted");
    copy_member(j, "quarantined", lineage, "quarantined");
    copy_member(j, "seed", lineage, "seed");
    copy_member(j, "created", lineage, "created");
    copy_member(j, "user", lineage, "user");
    copy_member(j, "keel_version", lineage, "keel_version");
    const keel_json *rows = keel_json_get(training, "rows");
    copy_member(j, "train_rows", rows, "train");
    copy_member(j, "validation_rows", rows, "validation");
    copy_member(j, "unlabeled_rows", rows, "unlabeled");
    copy_member(j, "epochs", training, "epochs");
    copy_member(j, "best_epoch", training, "best_epoch");
    copy_member(j, "stopped_by", training, "stopped_by");
    const keel_json *val = keel_json_get(metrics, "validation");
    if (val && val->type == KEEL_JSON_OBJECT) jb_value(j, "validation_metrics", val);
    (void)m;
    jb_close(j, '}');
}

static const char *calibration_name(int kind)
{
    return kind == 1   ? "Platt scaling (fitted on the validation rows)"
           : kind == 2 ? "temperature scaling (fitted on the validation rows)"
                       : "none";
}

/* ---- the registry's record --------------------------------------------------------------- */

typedef struct reg_ref {
    keel_registry *r;
    char *name;
    int64_t version;
    char note[400];           /* why the registry has nothing, for the card */
    char approvals_note[600]; /* why the approvals are missing, when they are */
    char audit_note[600];     /* why the audit references are missing, when they are */
} reg_ref;

/* Loads MODEL: a file, or a registry reference when no such file exists. */
static int load_model(const char *path, keel_model **m, reg_ref *rr)
{
    keel_error e;
    char *stored = NULL;
    *m = NULL;
    if (access(path, F_OK) != 0 && !strchr(path, '/') && !strstr(path, ".keel")) {
        if (!(rr->r = cli_registry_open())) return EXIT_FAIL;
        int rc = keel_registry_model_resolve(rr->r, path, &rr->name, &rr->version, &stored);
        if (rc != KEEL_OK) {
            int status = cli_registry_fail(rr->r, rc);
            return status == EXIT_USAGE ? EXIT_USAGE : EXIT_FAIL;
        }
    }
    int rc = keel_model_load(stored ? stored : path, m, &e);
    if (rc) cli_error("%s: %s", path, e.msg);
    keel_free(stored);
    return rc ? EXIT_FAIL : EXIT_OK;
}

/* Why a registry read gave nothing, for the card: the registry's message, or "out of
 * memory" when its answer could not be parsed. */
static void read_failed(char *note, size_t cap, const char *what, keel_registry *r, int rc)
{
    snprintf(note, cap, "%s could not be read from the registry: %.300s", what,
             rc == KEEL_OK ? "out of memory" : keel_registry_errmsg(r));
}

/* A model loaded from a file: is its artifact a registered version? The registry is opened
 * only when one exists already (a card never creates one). The newest version with the
 * artifact's SHA-256 is found through the API: the model list, then each model's versions
 * (one read per model; a card is made rarely, and registries hold models by the hundred,
 * not the million). An actor who is not an identity of the registry may read nothing, so
 * nothing is asked: that would only put a refusal on the record. */
static void find_registered(const keel_model *m, reg_ref *rr)
{
    char db[4096];
    snprintf(db, sizeof db, "%s/registry.db", cli_keel_home());
    if (access(db, R_OK) != 0) {
        snprintf(rr->note, sizeof rr->note, "There is no registry at %.200s (KEEL_HOME).",
                 cli_keel_home());
        return;
    }
    keel_error e = {0};
    const char *user = cli_user();
    if (keel_registry_open(cli_keel_home(), user ? user : "", NULL, &rr->r, &e) != KEEL_OK) {
        snprintf(rr->note, sizeof rr->note, "The registry could not be opened: %.200s", e.msg);
        rr->r = NULL;
        return;
    }
    const char *actor = keel_registry_actor(rr->r);
    if (!keel_registry_roles(rr->r)) {
        snprintf(rr->note, sizeof rr->note,
                 "'%.40s' is not an identity of the registry at %.120s, so the card cannot read "
                 "it; an admin can add it: keel user add %.40s --role viewer",
                 actor, cli_keel_home(), actor);
        return;
    }
    keel_buf b;
    keel_buf_init(&b);
    keel_json_doc *list = NULL;
    char newest[40] = "";
    int rc = keel_registry_model_list(rr->r, &b);
    if (rc != KEEL_OK || !(list = parse_doc(b.data, b.len))) {
        read_failed(rr->note, sizeof rr->note, "The model list", rr->r, rc);
        goto done;
    }
    const keel_json *models = keel_json_root(list);
    for (size_t i = 0; i < keel_json_len(models); i++) {
        const char *name = keel_json_str(keel_json_get(keel_json_at(models, i), "name"));
        keel_buf_reset(&b);
        keel_json_doc *show = NULL;
        if (!name || keel_registry_model_show(rr->r, name, 0, &b) != KEEL_OK ||
            !(show = parse_doc(b.data, b.len)))
            continue;
        const keel_json *versions = keel_json_get(keel_json_root(show), "versions");
        for (size_t k = 0; k < keel_json_len(versions); k++) {
            const keel_json *v = keel_json_at(versions, k);
            const char *sha = keel_json_str(keel_json_get(v, "artifact_sha256"));
            const char *created = keel_json_str(keel_json_get(v, "created_at"));
            if (!sha || strcmp(sha, m->sha256)) continue;
            /* ISO 8601 times of one format order as strings do. */
            if (rr->name && (!created || strcmp(created, newest) <= 0)) continue;
            char *copy = keel_strdup(name);
            if (!copy) continue;
            keel_free(rr->name);
            rr->name = copy;
            rr->version = (int64_t)keel_json_num(keel_json_get(v, "version"), 0);
            snprintf(newest, sizeof newest, "%s", created ? created : "");
        }
        keel_json_doc_free(show);
    }
    if (!rr->name)
        snprintf(rr->note, sizeof rr->note,
                 "No version in the registry at %.200s has this artifact's SHA-256.",
                 cli_keel_home());
done:
    keel_json_doc_free(list);
    keel_buf_free(&b);
}

static void write_registry(jb *j, reg_ref *rr, const keel_json **tags_out, keel_json_doc **show_doc)
{
    keel_registry *r = rr->r;
    keel_buf b;
    keel_buf_init(&b);
    *tags_out = NULL;
    jb_open(j, "registry", '{');
    jb_str(j, "home", keel_registry_home(r));
    jb_str(j, "model", rr->name);
    jb_num(j, "version", (double)rr->version);
    int64_t run = 0;
    if (keel_registry_model_show(r, rr->name, rr->version, &b) == KEEL_OK &&
        (*show_doc = parse_doc(b.data, b.len))) {
        const keel_json *v = keel_json_root(*show_doc);
        copy_member(j, "author", v, "author");
        copy_member(j, "created", v, "created_at");
        copy_member(j, "artifact_sha256", v, "artifact_sha256");
        const keel_json *al = keel_json_get(v, "aliases");
        if (al && al->type == KEEL_JSON_ARRAY) jb_value(j, "aliases", al);
        const keel_json *tags = keel_json_get(v, "tags");
        if (tags && tags->type == KEEL_JSON_OBJECT) {
            jb_value(j, "tags", tags);
            *tags_out = tags;
        }
        run = (int64_t)keel_json_num(keel_json_get(v, "run_id"), 0);
    }
    /* Approvals with their times; readable by every role that could read the version. */
    jb_open(j, "approvals", '[');
    keel_buf_reset(&b);
    keel_json_doc *ad = NULL;
    int rc = keel_registry_approval_list(r, rr->name, rr->version, &b);
    if (rc == KEEL_OK && (ad = parse_doc(b.data, b.len))) {
        const keel_json *apps = keel_json_root(ad);
        for (size_t i = 0; i < keel_json_len(apps); i++) {
            const keel_json *a = keel_json_at(apps, i);
            jb_open(j, NULL, '{');
            jb_value(j, "id", keel_json_get(a, "id"));
            jb_value(j, "status", keel_json_get(a, "status"));
            jb_value(j, "requested_by", keel_json_get(a, "requested_by"));
            jb_value(j, "requested", keel_json_get(a, "requested_at"));
            jb_value(j, "reviewer", keel_json_get(a, "reviewer"));
            jb_value(j, "decided", keel_json_get(a, "decided_at"));
            jb_value(j, "comment", keel_json_get(a, "comment"));
            jb_close(j, '}');
        }
    } else {
        read_failed(rr->approvals_note, sizeof rr->approvals_note, "The approvals", r, rc);
    }
    keel_json_doc_free(ad);
    jb_close(j, ']');
    if (rr->approvals_note[0]) jb_str(j, "approvals_note", rr->approvals_note);
    /* Lineage: the datasets the run read, in their roles, and the run. */
    keel_buf_reset(&b);
    char ref[200];
    snprintf(ref, sizeof ref, "%s:%lld", rr->name, (long long)rr->version);
    keel_json_doc *ld = NULL;
    if (keel_registry_lineage_model(r, ref, &b) == KEEL_OK && (ld = parse_doc(b.data, b.len))) {
        const keel_json *root = keel_json_root(ld);
        const keel_json *nodes = keel_json_get(root, "nodes"),
                        *edges = keel_json_get(root, "edges");
        jb_open(j, "lineage", '{');
        jb_open(j, "datasets", '[');
        for (size_t i = 0; i < keel_json_len(nodes); i++) {
            const keel_json *nd = keel_json_at(nodes, i), *d = keel_json_get(nd, "data");
            const char *kind = keel_json_str(keel_json_get(nd, "kind"));
            const char *id = keel_json_str(keel_json_get(nd, "id"));
            if (!kind || strcmp(kind, "dataset") || !id) continue;
            const char *role = NULL;
            for (size_t k = 0; k < keel_json_len(edges); k++) {
                const keel_json *ed = keel_json_at(edges, k);
                const char *from = keel_json_str(keel_json_get(ed, "from"));
                if (from && !strcmp(from, id)) role = keel_json_str(keel_json_get(ed, "relation"));
            }
            jb_open(j, NULL, '{');
            jb_str(j, "id", id);
            jb_str(j, "role", role);
            copy_member(j, "name", d, "name");
            copy_member(j, "source", d, "source");
            copy_member(j, "sha256", d, "sha256");
            copy_member(j, "rows", d, "n_rows");
            copy_member(j, "created", d, "created_at");
            jb_close(j, '}');
        }
        jb_close(j, ']');
        for (size_t i = 0; i < keel_json_len(nodes); i++) {
            const keel_json *nd = keel_json_at(nodes, i), *d = keel_json_get(nd, "data");
            const char *kind = keel_json_str(keel_json_get(nd, "kind"));
            if (!kind || strcmp(kind, "run")) continue;
            jb_open(j, "run", '{');
            copy_member(j, "id", nd, "id");
            copy_member(j, "kind", d, "kind");
            copy_member(j, "status", d, "status");
            copy_member(j, "user", d, "user");
            copy_member(j, "host", d, "host");
            copy_member(j, "seed", d, "seed");
            copy_member(j, "started", d, "started_at");
            copy_member(j, "ended", d, "ended_at");
            jb_close(j, '}');
            break;
        }
        jb_close(j, '}');
    }
    keel_json_doc_free(ld);
    (void)run;
    /* Audit references: the events of the trail that concern the version. They need the
     * auditor role; without it the card says so and who can grant it, and does not ask (a
     * refused read would be audited, and the card would have changed the record). */
    jb_open(j, "audit", '[');
    unsigned roles = keel_registry_roles(r);
    if (roles & (KEEL_ACCESS_AUDITOR | KEEL_ACCESS_ADMIN)) {
        keel_buf_reset(&b);
        keel_json_doc *ev = NULL;
        rc = keel_registry_audit_events(r, rr->name, rr->version, MAX_AUDIT, &b);
        if (rc == KEEL_OK && (ev = parse_doc(b.data, b.len))) {
            const keel_json *events = keel_json_root(ev);
            for (size_t i = 0; i < keel_json_len(events); i++) {
                const keel_json *a = keel_json_at(events, i);
                jb_open(j, NULL, '{');
                jb_value(j, "seq", keel_json_get(a, "seq"));
                jb_value(j, "time", keel_json_get(a, "time"));
                jb_value(j, "actor", keel_json_get(a, "actor"));
                jb_value(j, "action", keel_json_get(a, "action"));
                jb_value(j, "object", keel_json_get(a, "object"));
                jb_value(j, "hash", keel_json_get(a, "hash"));
                jb_close(j, '}');
            }
        } else {
            read_failed(rr->audit_note, sizeof rr->audit_note, "The audit references", r, rc);
        }
        keel_json_doc_free(ev);
    } else {
        const char *actor = keel_registry_actor(r);
        char has[96], grant[96];
        keel_roles_format(roles, has, sizeof has);
        keel_roles_format(roles | KEEL_ACCESS_AUDITOR, grant, sizeof grant);
        snprintf(rr->audit_note, sizeof rr->audit_note,
                 "The audit references are not listed: reading the audit trail needs the "
                 "auditor role, and '%.60s' has %.90s. An admin can grant it: keel user add "
                 "%.60s --role %.90s",
                 actor, has[0] ? has : "no role", actor, grant);
    }
    jb_close(j, ']');
    if (rr->audit_note[0]) jb_str(j, "audit_note", rr->audit_note);
    jb_close(j, '}');
    keel_buf_free(&b);
}

/* The "use" object: the tags, and the commands that set the missing ones. */
static void write_use(jb *j, const reg_ref *rr, const keel_json *tags)
{
    static const char *const keys[] = {"intended_use", "limitations", "owner"};
    static const char *const hints[] = {
        "what the model is for, who uses it, for which decisions",
        "where it must not be used, known weaknesses, populations it was not tested on",
        "the person or team accountable for it"};
    jb_open(j, "use", '{');
    for (size_t i = 0; i < KEEL_ARRAY_LEN(keys); i++) {
        const keel_json *v = keel_json_get(tags, keys[i]);
        if (v && v->type == KEEL_JSON_STRING && v->u.string.len)
            jb_strn(j, keys[i], v->u.string.s, v->u.string.len);
        else
            jb_str(j, keys[i], NULL);
    }
    if (rr->name) {
        jb_open(j, "commands", '{');
        for (size_t i = 0; i < KEEL_ARRAY_LEN(keys); i++) {
            char cmd[400];
            snprintf(cmd, sizeof cmd, "keel model tag %s:%lld %s=\"%s\"", rr->name,
                     (long long)rr->version, keys[i], hints[i]);
            jb_str(j, keys[i], cmd);
        }
        jb_close(j, '}');
    } else {
        jb_str(j, "note",
               "This model is not a registered version, so there is nowhere to "
               "record them yet: register it (keel train registers what it trains), "
               "then keel model tag NAME:VERSION intended_use=\"...\".");
    }
    jb_close(j, '}');
}

/* ---- the whole document -----------------------------------------------------------------------
 */

static int build_card(const card_args *a, scored *s, reg_ref *rr, jb *j)
{
    keel_model *m = s->m;
    keel_json_doc *prof = parse_doc(m->profile_json.data, m->profile_json.len);
    keel_json_doc *lin = parse_doc(m->lineage_json.data, m->lineage_json.len);
    keel_json_doc *trn = parse_doc(m->training_json.data, m->training_json.len);
    keel_json_doc *met = parse_doc(m->metrics_json.data, m->metrics_json.len);
    keel_json_doc *show = NULL;
    const keel_json *profile = prof ? keel_json_root(prof) : NULL;
    const keel_json *lineage = lin ? keel_json_root(lin) : NULL;
    int rc = KEEL_OK;
    size_t n_small = 0, n_sensitive = 0;
    char now[40];
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    const char *sde = getenv("SOURCE_DATE_EPOCH"); /* reproducible cards, as artifacts */
    int64_t micros = sde && *sde ? (int64_t)strtoll(sde, NULL, 10) * 1000000
                                 : (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
    keel_format_timestamp(micros, now);

    jb_open(j, NULL, '{');
    jb_num(j, "keel_card", 1);
    jb_str(j, "generated", now);
    jb_str(j, "keel_version", keel_version());

    /* The model. */
    const char *base = cli_base_name(a->model);
    size_t bn = strlen(base);
    char name[128];
    snprintf(name, sizeof name, "%.*s",
             (int)(bn > 5 && !strcmp(base + bn - 5, ".keel") ? bn - 5 : bn), base);
    jb_open(j, "model", '{');
    jb_str(j, "name", rr->name ? rr->name : name);
    jb_str(j, "reference", a->model);
    jb_str(j, "sha256", m->sha256);
    jb_str(j, "task", keel_task_name(m->target.task));
    jb_str(j, "target", m->target.column);
    long tc = m->target.column ? keel_schema_find(m->schema, m->target.column) : -1;
    if (tc >= 0) jb_str(j, "target_display", col_display(&m->schema->columns[tc]));
    if (is_class(m)) {
        jb_open(j, "classes", '[');
        for (size_t i = 0; i < m->target.classes.n; i++)
            jb_str(j, NULL, m->target.classes.items[i]);
        jb_close(j, ']');
        jb_str(j, "explained_class",
               s->explained >= 0 ? m->target.classes.items[s->explained] : "the predicted class");
    }
    jb_str(j, "calibration", calibration_name(m->cal.kind));
    jb_num(j, "inputs", (double)keel_model_n_inputs(m));
    keel_buf hp;
    keel_buf_init(&hp);
    keel_json_doc *hpd = NULL;
    if (keel_hparams_to_json(&m->hp, &hp) == KEEL_OK && (hpd = parse_doc(hp.data, hp.len)))
        jb_value(j, "hyper_parameters", keel_json_root(hpd));
    keel_json_doc_free(hpd);
    keel_buf_free(&hp);
    jb_close(j, '}');

    /* The registry first: the use section needs its tags. */
    const keel_json *tags = NULL;
    if (rr->r && rr->name)
        write_registry(j, rr, &tags, &show);
    else if (rr->note[0])
        jb_str(j, "registry_note", rr->note);
    write_use(j, rr, tags);
    write_columns(j, m, profile);
    write_training(j, m, lineage, trn ? keel_json_root(trn) : NULL,
                   met ? keel_json_root(met) : NULL);

    /* The held-out data. */
    const char *train_sha = keel_json_str(keel_json_get(lineage, "data_sha256"));
    bool same = train_sha && s->vr.sha256[0] && !strcmp(train_sha, s->vr.sha256);
    jb_open(j, "holdout", '{');
    jb_str(j, "file", a->data);
    jb_str(j, "sha256", s->vr.sha256[0] ? s->vr.sha256 : NULL);
    jb_num(j, "records", (double)s->vr.records);
    jb_num(j, "accepted", (double)s->vr.accepted);
    jb_num(j, "quarantined", (double)s->vr.quarantined);
    jb_num(j, "unlabeled", (double)(s->f->n_rows - s->n));
    jb_num(j, "scored", (double)s->n);
    jb_str(j, "quarantine", s->vr.quarantined ? s->qpath : NULL);
    jb_bool(j, "same_as_training", same);
    jb_close(j, '}');

    if ((rc = write_metrics(j, s, a->seed, a))) goto done;
    if ((rc = write_slices(j, s, profile, &n_small, &n_sensitive))) goto done;
    write_calibration(j, s);
    write_explanations(j, s, a->seed, a);

    /* What a reviewer must not miss. */
    jb_open(j, "warnings", '[');
    if (same)
        jb_str(j, NULL,
               "The held-out file is the training file: every quality figure in this "
               "card is measured on data the model was trained on.");
    if (s->vr.quarantined) {
        char msg[300];
        snprintf(msg, sizeof msg,
                 "%llu of %llu held-out records broke the model's schema and were not scored.",
                 (unsigned long long)s->vr.quarantined, (unsigned long long)s->vr.records);
        jb_str(j, NULL, msg);
    }
    if (s->n < 200) {
        char msg[200];
        snprintf(msg, sizeof msg,
                 "Only %zu held-out rows were scored: the intervals are wide, and small "
                 "differences mean nothing.",
                 s->n);
        jb_str(j, NULL, msg);
    }
    if (n_small) {
        char msg[200];
        snprintf(msg, sizeof msg,
                 "%zu group%s of sensitive columns %s fewer than %d rows; %s figures are too "
                 "uncertain to compare.",
                 n_small, n_small == 1 ? "" : "s", n_small == 1 ? "has" : "have", SMALL_GROUP,
                 n_small == 1 ? "its" : "their");
        jb_str(j, NULL, msg);
    }
    if (!n_sensitive)
        jb_str(j, NULL,
               "No column of the model's schema is marked sensitive, so the card has no "
               "per-group measures.");
    /* A governance section with a hole must not look complete. */
    if (rr->approvals_note[0]) jb_str(j, NULL, rr->approvals_note);
    if (rr->audit_note[0]) jb_str(j, NULL, rr->audit_note);
    jb_close(j, ']');
    jb_close(j, '}');
done:
    keel_json_doc_free(prof);
    keel_json_doc_free(lin);
    keel_json_doc_free(trn);
    keel_json_doc_free(met);
    keel_json_doc_free(show);
    if (!rc && j->err) rc = j->err;
    return rc;
}

/* ---- writing files -----------------------------------------------------------------------------
 */

/* Writes text to path under a temporary name, then renames: never a half-written card. */
static int write_file(const char *path, const keel_buf *text)
{
    char *tmp = keel_malloc(strlen(path) + 32);
    if (!tmp) {
        cli_error("out of memory");
        return EXIT_FAIL;
    }
    sprintf(tmp, "%s.tmp.%d", path, (int)getpid());
    FILE *f = fopen(tmp, "wb");
    bool ok = f && fwrite(text->data, 1, text->len, f) == text->len;
    if (f && fclose(f)) ok = false;
    if (!ok || rename(tmp, path)) {
        cli_error("%s: %s", path, strerror(errno));
        unlink(tmp);
        keel_free(tmp);
        return EXIT_FAIL;
    }
    keel_free(tmp);
    return EXIT_OK;
}

static int parse_args(int argc, char **argv, card_args *a)
{
    memset(a, 0, sizeof *a);
    a->seed = 42;
    for (int i = 1; i < argc; i++) {
        const char *v;
        int m;
#define VALUE(name) ((m = opt_value(name, argc, argv, &i, &v)) != 0)
        if (opt_flag("-h", argv[i]) || opt_flag("--help", argv[i])) {
            fputs(usage, stdout);
            return EXIT_OK;
        } else if (VALUE("--data")) {
            if (m < 0) return EXIT_USAGE;
            a->data = v;
        } else if (VALUE("--output") || VALUE("-o")) {
            if (m < 0) return EXIT_USAGE;
            a->html = v;
        } else if (VALUE("--markdown")) {
            if (m < 0) return EXIT_USAGE;
            a->md = v;
        } else if (VALUE("--json")) {
            if (m < 0) return EXIT_USAGE;
            a->json = v;
        } else if (VALUE("--quarantine")) {
            if (m < 0) return EXIT_USAGE;
            a->quarantine = v;
        } else if (VALUE("--seed")) {
            if (m < 0) return EXIT_USAGE;
            char *end;
            errno = 0;
            unsigned long long x = strtoull(v, &end, 10);
            if (errno || end == v || *end || v[0] == '-') {
                cli_error("--seed must be a whole number, not '%s'", v);
                return EXIT_USAGE;
            }
            a->seed = x;
        } else if (opt_flag("--no-quarantine", argv[i])) {
            a->no_quarantine = true;
        } else if (opt_flag("--quiet", argv[i]) || opt_flag("-q", argv[i])) {
            a->quiet = true;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            cli_error("unknown option '%s' (see keel card --help)", argv[i]);
            return EXIT_USAGE;
        } else if (!a->model) {
            a->model = argv[i];
        } else {
            cli_error("one model only (got '%s' and '%s')", a->model, argv[i]);
            return EXIT_USAGE;
        }
#undef VALUE
    }
    if (!a->model || !a->data) {
        cli_error("%s", !a->model ? "no model given" : "--data FILE (held-out data) is required");
        fputs(usage, stderr);
        return EXIT_USAGE;
    }
    return -1;
}

int cmd_card(int argc, char **argv)
{
    card_args a;
    int status = parse_args(argc, argv, &a);
    if (status >= 0) return status;
    cli_catch_interrupts();
    scored s = {0};
    reg_ref rr = {0};
    jb j = {.depth = 0};
    keel_buf_init(&j.b);
    keel_buf html, md;
    keel_buf_init(&html);
    keel_buf_init(&md);
    keel_json_doc *doc = NULL;
    char *html_path = NULL, *md_path = NULL;
    if ((status = load_model(a.model, &s.m, &rr)) != EXIT_OK) goto done;
    if (!rr.r) find_registered(s.m, &rr);
    /* The class the card's probabilities are about: the model's adverse class, else (binary)
     * the second class, else (multiclass) the predicted class. */
    s.explained = -1;
    if (is_class(s.m)) {
        keel_explainer *x = NULL;
        keel_error e;
        long adverse = -1;
        if (keel_explainer_get(s.m, &x, &e) == KEEL_OK && keel_explainer_settings(x))
            adverse = keel_explainer_settings(x)->adverse_class;
        if (adverse >= 0 && (size_t)adverse < s.m->target.classes.n)
            s.explained = adverse;
        else if (s.m->target.classes.n == 2)
            s.explained = 1;
    }
    if ((status = load_holdout(&a, &s)) != EXIT_OK) goto done;
    int rc = build_card(&a, &s, &rr, &j);
    if (rc) {
        cli_error("cannot build the card: %s", keel_strerror(rc));
        status = EXIT_FAIL;
        goto done;
    }
    /* Render from the document itself, as anyone re-rendering the JSON would. */
    keel_error e;
    if (!(doc = keel_json_doc_new()) || keel_json_parse(doc, j.b.data, j.b.len, &e) ||
        keel_card_html(keel_json_root(doc), &html, &e) ||
        keel_card_markdown(keel_json_root(doc), &md, &e)) {
        cli_error("cannot render the card: %s", doc ? e.msg : "out of memory");
        status = EXIT_FAIL;
        goto done;
    }
    const char *name = rr.name ? rr.name : cli_base_name(a.model);
    char stem[160];
    size_t n = strlen(name);
    if (n > 5 && !strcmp(name + n - 5, ".keel")) n -= 5;
    snprintf(stem, sizeof stem, "%.*s", (int)KEEL_MIN(n, (size_t)120), name);
    if (!(html_path = keel_malloc(strlen(stem) + 16)) ||
        !(md_path = keel_malloc(strlen(stem) + 16))) {
        cli_error("out of memory");
        status = EXIT_FAIL;
        goto done;
    }
    sprintf(html_path, "%s.card.html", stem);
    sprintf(md_path, "%s.card.md", stem);
    const char *hp = a.html ? a.html : html_path, *mp = a.md ? a.md : md_path;
    keel_buf_putc(&j.b, '\n');
    if ((status = write_file(hp, &html)) || (status = write_file(mp, &md)) ||
        (a.json && (status = write_file(a.json, &j.b))))
        goto done;
    if (!a.quiet) {
        printf("card: %s\nmarkdown: %s\n", hp, mp);
        if (a.json) printf("json: %s\n", a.json);
    }
    status = EXIT_OK;
done:
    keel_json_doc_free(doc);
    keel_buf_free(&html);
    keel_buf_free(&md);
    keel_buf_free(&j.b);
    keel_free(html_path);
    keel_free(md_path);
    scored_free(&s);
    keel_model_free(s.m);
    keel_free(rr.name);
    keel_registry_close(rr.r);
    return status;
}
