/*
 * batch.c — explaining many rows (batch.h): a file, row by row, and the model as a whole.
 *
 * Per row, the file is streamed through validation against the model's input schema as
 * `keel predict` does: rejected records go to the quarantine with their reasons, the
 * accepted ones arrive a chunk at a time and each chunk is cut into one contiguous part per
 * thread (keel_parallel_for). Each thread formats its rows' lines into a buffer of its own
 * (the explainer is read-only, so threads share it), and the buffers are written in part
 * order, so the output is the same whatever the number of threads. Rows are numbered from
 * 1 in the order they were accepted (validation hands over no record numbers; with nothing
 * quarantined the two agree), and the schema's id columns are copied so that rows join back.
 *
 * The model as a whole: permutation importance on every row (its predictions batched over
 * the GEMM threads), then mean |attribution| split over threads by rows and weighted back
 * together, and partial dependence of the most important columns, one curve a thread; the
 * attribution and partial-dependence parts use an evenly spaced sample of at most
 * KEEL_GLOBAL_SAMPLE rows, which bounds their cost.
 */
#include "explain/batch.h"

#include "tensor/tensor.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define CHUNK_ROWS    1024 /* rows per validation chunk: output appears steadily */
#define STOP_AT_LIMIT 1    /* a chunk callback's "stop here", not an error */

/* A number as the JSON Lines output writes it (src/explain/format.c): 9 significant digits,
 * empty when not finite. */
static void csv_num(keel_buf *b, double v)
{
    if (isfinite(v)) keel_buf_printf(b, "%.9g", v);
}

/* A text cell, made safe for spreadsheets unless raw (keel_buf_csv_text). */
static void csv_str(keel_buf *b, const char *s, bool raw)
{
    keel_buf_csv_text(b, s, strlen(s), raw);
}

/* Appends the value of row r of an id column: as a CSV field (text made safe unless raw), or
 * as a JSON value. */
static void id_value(keel_buf *b, const keel_column *c, size_t r, bool json, bool raw)
{
    switch (c->type) {
    case KEEL_TYPE_TEXT:
    case KEEL_TYPE_ID: {
        size_t len;
        const char *p = keel_column_text(c, r, &len);
        if (c->missing[r])
            keel_buf_puts(b, json ? "null" : "");
        else if (json)
            keel_buf_json_str(b, p, len);
        else
            keel_buf_csv_text(b, p, len, raw);
        break;
    }
    case KEEL_TYPE_NUMERIC:
        if (isnan(c->num[r]))
            keel_buf_puts(b, json ? "null" : "");
        else
            keel_buf_json_num(b, c->num[r]);
        break;
    case KEEL_TYPE_CATEGORICAL: {
        const char *s = c->cat[r] >= 0 ? c->def->categories.items[c->cat[r]] : NULL;
        if (!s)
            keel_buf_puts(b, json ? "null" : "");
        else if (json)
            keel_buf_json_str(b, s, strlen(s));
        else
            csv_str(b, s, raw);
        break;
    }
    case KEEL_TYPE_BOOLEAN:
        keel_buf_puts(b, c->boolean[r] < 0 ? json ? "null" : "" : c->boolean[r] ? "true" : "false");
        break;
    default: {
        char t[40];
        if (c->ts[r] == KEEL_TS_MISSING) {
            keel_buf_puts(b, json ? "null" : "");
        } else {
            keel_format_timestamp(c->ts[r], t);
            if (json)
                keel_buf_json_str(b, t, strlen(t));
            else
                keel_buf_puts(b, t);
        }
    }
    }
}

/* ---- per row, a file ---- */

typedef struct writer writer;

typedef struct part {
    writer *w;
    const keel_frame *f;
    size_t lo, hi;
    uint64_t first_row; /* the 1-based number of row lo */
    keel_buf out, tmp;
    double *attr, *se;
    int rc;
    keel_error e;
} part;

struct writer {
    keel_model *m;
    keel_explainer *x;
    const keel_explain_file_options *o;
    size_t n_reasons; /* CSV reason columns */
    FILE *out;
    uint64_t done;
    bool limit_hit;
    keel_error e; /* why a chunk failed */
    part parts[KEEL_PARALLEL_MAX];
};

static void format_row(part *p, size_t r, uint64_t row_no, const keel_explanation *ex)
{
    const writer *w = p->w;
    const keel_model *m = w->m;
    const keel_schema *s = m->input_schema;
    keel_buf *b = &p->out;
    uint64_t line = p->f->line ? p->f->line[r] : 0; /* 0: not known */
    if (!w->o->csv) {
        keel_buf_printf(b, "{\"row\":%llu,\"line\":%llu,", (unsigned long long)row_no,
                        (unsigned long long)line);
        bool any = false;
        for (size_t c = 0; c < s->n_columns; c++) {
            if (s->columns[c].role != KEEL_ROLE_ID) continue;
            keel_buf_puts(b, any ? "," : "\"ids\":{");
            keel_buf_json_str(b, s->columns[c].name, strlen(s->columns[c].name));
            keel_buf_putc(b, ':');
            id_value(b, &p->f->cols[c], r, true, false);
            any = true;
        }
        if (any) keel_buf_puts(b, "},");
        keel_buf_reset(&p->tmp);
        if (keel_explanation_to_json(m, ex, &p->tmp) || p->tmp.len < 2) {
            p->rc = KEEL_ENOMEM;
            return;
        }
        keel_buf_append(b, p->tmp.data + 1, p->tmp.len - 1); /* after its '{' */
        keel_buf_putc(b, '\n');
        return;
    }
    keel_buf_printf(b, "%llu,%llu", (unsigned long long)row_no, (unsigned long long)line);
    for (size_t c = 0; c < s->n_columns; c++)
        if (s->columns[c].role == KEEL_ROLE_ID) {
            keel_buf_putc(b, ',');
            id_value(b, &p->f->cols[c], r, false, w->o->csv_raw);
        }
    keel_buf_putc(b, ',');
    csv_num(b, ex->prediction);
    keel_buf_putc(b, ',');
    csv_num(b, ex->baseline_prediction);
    keel_buf_printf(b, ",%s", keel_explain_scale_name(ex->scale));
    if (m->target.task != KEEL_TASK_REGRESSION) {
        keel_buf_putc(b, ',');
        csv_str(b, m->target.classes.items[ex->class_index], w->o->csv_raw);
    }
    keel_buf_putc(b, ',');
    csv_num(b, ex->completeness_error);
    for (size_t i = 0; i < m->n_inputs; i++) {
        keel_buf_putc(b, ',');
        csv_num(b, ex->attributions[i]);
    }
    if (w->o->opt.method == KEEL_EXPLAIN_SHAPLEY)
        for (size_t i = 0; i < m->n_inputs; i++) {
            keel_buf_putc(b, ',');
            csv_num(b, ex->std_errors[i]);
        }
    for (size_t k = 0; k < w->n_reasons; k++) {
        keel_buf_putc(b, ',');
        if (k < ex->n_reasons) csv_str(b, ex->reasons[k].text, w->o->csv_raw);
    }
    keel_buf_putc(b, '\n');
}

static void explain_part(void *ud, size_t t)
{
    part *p = &((writer *)ud)->parts[t];
    writer *w = p->w;
    for (size_t r = p->lo; r < p->hi && !p->rc; r++) {
        keel_explanation ex;
        memset(&ex, 0, sizeof ex);
        ex.attributions = p->attr;
        ex.std_errors = p->se;
        p->rc = keel_explain_row(w->x, w->m, p->f, r, &w->o->opt, &ex, &p->e);
        if (!p->rc && (p->rc = keel_explain_reasons(w->x, w->m, p->f, r, w->o->opt.top_k, &ex)))
            keel_error_set(&p->e, p->rc, "cannot build the reason codes: %s", keel_strerror(p->rc));
        if (p->rc) break;
        size_t before = p->out.len;
        format_row(p, r, p->first_row + (r - p->lo), &ex);
        /* A line that did not get its end lost some of its text: out of memory. */
        if (!p->rc && (p->out.len == before || p->out.data[p->out.len - 1] != '\n'))
            p->rc = KEEL_ENOMEM;
        if (!p->rc && w->o->cancel && *w->o->cancel) p->rc = KEEL_ECANCELED;
    }
    if (p->rc == KEEL_ENOMEM) keel_error_set(&p->e, p->rc, "out of memory");
    if (p->rc == KEEL_ECANCELED) keel_error_set(&p->e, p->rc, "interrupted");
}

static int explain_chunk(void *ud, const keel_frame *f)
{
    writer *w = ud;
    size_t n = f->n_rows;
    if (w->o->limit && w->done + n >= w->o->limit) {
        n = (size_t)(w->o->limit - w->done);
        w->limit_hit = true;
    }
    size_t T = (size_t)w->o->threads;
    if (T > n / 4 + 1) T = n / 4 + 1; /* a few rows per thread at least */
    for (size_t t = 0; t < T; t++) {
        part *p = &w->parts[t];
        keel_buf_reset(&p->out);
        p->f = f;
        keel_part_range(n, T, t, &p->lo, &p->hi);
        p->first_row = w->done + 1 + p->lo;
        p->rc = KEEL_OK;
    }
    keel_parallel_for(T, true, explain_part, w);
    for (size_t t = 0; t < T; t++) {
        part *p = &w->parts[t];
        if (p->rc) {
            w->e = p->e;
            return p->rc;
        }
        if (p->out.len && fwrite(p->out.data, 1, p->out.len, w->out) != p->out.len) {
            keel_error_set(&w->e, KEEL_EIO, "cannot write the explanations: %s", strerror(errno));
            return KEEL_EIO;
        }
    }
    w->done += n;
    if (w->o->on_rows) w->o->on_rows(w->o->ud, w->done);
    return w->limit_hit ? STOP_AT_LIMIT : KEEL_OK;
}

static int write_csv_header(FILE *out, const keel_model *m, const keel_explain_file_options *o,
                            size_t n_reasons)
{
    keel_buf b;
    keel_buf_init(&b);
    const keel_schema *s = m->input_schema;
    keel_buf_puts(&b, "row,line");
    for (size_t c = 0; c < s->n_columns; c++)
        if (s->columns[c].role == KEEL_ROLE_ID) {
            keel_buf_putc(&b, ',');
            csv_str(&b, s->columns[c].name, o->csv_raw);
        }
    keel_buf_puts(&b, ",prediction,baseline_prediction,scale");
    if (m->target.task != KEEL_TASK_REGRESSION) keel_buf_puts(&b, ",class");
    keel_buf_puts(&b, ",completeness_error");
    for (int pass = 0; pass < (o->opt.method == KEEL_EXPLAIN_SHAPLEY ? 2 : 1); pass++)
        for (size_t i = 0; i < m->n_inputs; i++) {
            keel_buf name;
            keel_buf_init(&name);
            keel_buf_printf(&name, "%s_%s", pass ? "se" : "attr", s->columns[m->inputs[i]].name);
            keel_buf_putc(&b, ',');
            if (name.data) keel_buf_csv_text(&b, name.data, name.len, o->csv_raw);
            keel_buf_free(&name);
        }
    for (size_t k = 0; k < n_reasons; k++)
        keel_buf_printf(&b, ",reason_%zu", k + 1);
    int rc = keel_buf_putc(&b, '\n') || fwrite(b.data, 1, b.len, out) != b.len;
    keel_buf_free(&b);
    return rc ? KEEL_EIO : KEEL_OK;
}

size_t keel_explain_reason_columns(keel_explainer *x, const keel_explain_options *o)
{
    const keel_explain_settings *st = keel_explainer_settings(x);
    size_t n = o->top_k ? (size_t)o->top_k : st && st->reasons ? (size_t)st->reasons : 4;
    return n > KEEL_EXPLAIN_MAX_REASONS ? KEEL_EXPLAIN_MAX_REASONS : n;
}

int keel_explain_file(keel_explainer *x, keel_model *m, const char *path,
                      const keel_explain_file_options *o, FILE *out, keel_explain_file_result *res,
                      keel_error *e)
{
    memset(res, 0, sizeof *res);
    writer *w = keel_calloc(1, sizeof *w);
    if (!w) return keel_error_set(e, KEEL_ENOMEM, "out of memory");
    *w = (writer){.m = m, .x = x, .o = o, .out = out};
    w->n_reasons = keel_explain_reason_columns(x, &o->opt);
    int threads = o->threads < 1                   ? 1
                  : o->threads > KEEL_PARALLEL_MAX ? KEEL_PARALLEL_MAX
                                                   : o->threads;
    int rc = KEEL_OK;
    for (int t = 0; t < KEEL_PARALLEL_MAX; t++) {
        part *p = &w->parts[t];
        p->w = w;
        keel_buf_init(&p->out);
        keel_buf_init(&p->tmp);
    }
    for (int t = 0; t < threads; t++) {
        part *p = &w->parts[t];
        p->attr = keel_calloc(m->n_inputs + 1, sizeof *p->attr);
        p->se = keel_calloc(m->n_inputs + 1, sizeof *p->se);
        if (!p->attr || !p->se) {
            rc = keel_error_set(e, KEEL_ENOMEM, "out of memory");
            goto done;
        }
    }
    keel_explain_file_options clamped = *o;
    clamped.threads = threads;
    w->o = &clamped;
    keel_validate_options vo;
    keel_validate_options_init(&vo);
    vo.quarantine_path = o->quarantine_path;
    vo.chunk_rows = o->limit && o->limit < CHUNK_ROWS ? (size_t)o->limit : CHUNK_ROWS;
    vo.on_chunk = explain_chunk;
    vo.chunk_ud = w;
    vo.cancel = o->cancel;
    keel_error_clear(e);
    rc = o->csv ? write_csv_header(out, m, o, w->n_reasons) : KEEL_OK;
    if (rc)
        keel_error_set(e, rc, "cannot write the explanations");
    else if ((rc = keel_validate_file(m->input_schema, path, &vo, &res->data, e)) == STOP_AT_LIMIT)
        rc = KEEL_OK;
    else if (rc && w->e.code) /* a chunk's failure: its message, not validation's */
        *e = w->e;
    res->explained = w->done;
    res->limit_hit = w->limit_hit;
done:
    for (int t = 0; t < KEEL_PARALLEL_MAX; t++) {
        keel_buf_free(&w->parts[t].out);
        keel_buf_free(&w->parts[t].tmp);
        keel_free(w->parts[t].attr);
        keel_free(w->parts[t].se);
    }
    keel_free(w);
    return rc;
}

/* ---- the model as a whole ---- */

typedef struct mabs_job {
    keel_explainer *x;
    keel_model *m;
    const keel_frame *f;
    const size_t *rows;
    size_t n;
    const keel_explain_options *o;
    double *out;
    int rc;
    keel_error e;
} mabs_job;

static void mabs_run(void *ud, size_t t)
{
    mabs_job *j = &((mabs_job *)ud)[t];
    j->rc = j->n ? keel_explain_mean_abs_attribution(j->x, j->m, j->f, j->rows, j->n, j->o, j->out,
                                                     &j->e)
                 : KEEL_OK;
}

typedef struct pd_job {
    keel_explainer *x;
    keel_model *m;
    const keel_frame *f;
    const size_t *rows;
    size_t n, input, points;
    const keel_explain_options *o;
    keel_pd_curve c;
    int rc;
    keel_error e;
} pd_job;

static void pd_run(void *ud, size_t t)
{
    pd_job *j = &((pd_job *)ud)[t];
    j->rc = keel_explain_partial_dependence(j->x, j->m, j->f, j->rows, j->n, j->input, j->points,
                                            j->o, &j->c, &j->e);
}

/* Mean |attribution| per input over rows, split across threads (weighted back together). */
static int mean_abs_threads(const keel_global_options *o, keel_model *m, keel_explainer *x,
                            const keel_frame *f, const size_t *rows, size_t n, double *out,
                            keel_error *e)
{
    size_t k = m->n_inputs;
    size_t T = (size_t)o->threads;
    if (T > n / 8 + 1) T = n / 8 + 1;
    mabs_job jobs[KEEL_PARALLEL_MAX];
    double *parts = keel_calloc(T * k + 1, sizeof *parts);
    if (!parts) return keel_error_set(e, KEEL_ENOMEM, "out of memory");
    for (size_t t = 0; t < T; t++) {
        size_t lo, hi;
        keel_part_range(n, T, t, &lo, &hi);
        jobs[t] = (mabs_job){x, m, f, rows + lo, hi - lo, &o->opt, parts + t * k, 0, {0}};
    }
    keel_parallel_for(T, true, mabs_run, jobs);
    int rc = KEEL_OK;
    for (size_t i = 0; i < k; i++)
        out[i] = 0;
    for (size_t t = 0; t < T; t++) {
        if (jobs[t].rc && !rc) {
            rc = jobs[t].rc;
            *e = jobs[t].e;
        }
        for (size_t i = 0; i < k && jobs[t].n; i++)
            out[i] += parts[t * k + i] * (double)jobs[t].n / (double)n;
    }
    keel_free(parts);
    return rc;
}

static const char *input_name(const keel_model *m, size_t i)
{
    return m->input_schema->columns[m->inputs[i]].name;
}

/* The class whose number is explained, or -1 (regression, or each row's predicted class). */
static long explained_class(const keel_model *m, keel_explainer *x, const keel_explain_options *o)
{
    if (m->target.task == KEEL_TASK_REGRESSION) return -1;
    if (o->class_index >= 0) return o->class_index;
    const keel_explain_settings *st = keel_explainer_settings(x);
    if (st && st->adverse_class >= 0) return st->adverse_class;
    return m->target.task == KEEL_TASK_BINARY ? 1 : -1;
}

static int cmp_importance(const void *pa, const void *pb)
{
    const keel_importance *a = pa, *b = pb;
    if (a->drop != b->drop) return a->drop < b->drop ? 1 : -1;
    return (a->input > b->input) - (a->input < b->input);
}

static void json_num_array(keel_buf *b, const char *key, const double *v, size_t n)
{
    keel_buf_printf(b, ",\"%s\":[", key);
    for (size_t i = 0; i < n; i++) {
        if (i) keel_buf_putc(b, ',');
        keel_buf_json_num(b, v[i]);
    }
    keel_buf_putc(b, ']');
}

/* Puts the step's name before e's message. */
static void prefix_error(keel_error *e, int rc, const char *step)
{
    char why[sizeof e->msg];
    snprintf(why, sizeof why, "%s", e->msg);
    keel_error_set(e, rc, "%s: %s", step, why);
}

int keel_explain_global(keel_explainer *x, keel_model *m, const keel_frame *f, size_t n,
                        const keel_global_options *o, keel_global_report *r, keel_error *e)
{
    memset(r, 0, sizeof *r);
    size_t k = m->n_inputs, ns = KEEL_MIN(n, (size_t)KEEL_GLOBAL_SAMPLE);
    keel_global_options go = *o;
    go.threads = o->threads < 1                   ? 1
                 : o->threads > KEEL_PARALLEL_MAX ? KEEL_PARALLEL_MAX
                                                  : o->threads;
    r->n_rows = n;
    r->n_sample = ns;
    r->repeats = o->repeats ? o->repeats : 5;
    r->class_index = -1;
    double *mabs = keel_calloc(k + 1, sizeof *mabs);
    size_t *sample = keel_calloc(ns + 1, sizeof *sample);
    pd_job pd[KEEL_GLOBAL_PD_COLUMNS];
    memset(pd, 0, sizeof pd);
    int rc = KEEL_OK;
    r->importance = keel_calloc(k + 1, sizeof *r->importance);
    if (!r->importance || !mabs || !sample) {
        rc = keel_error_set(e, KEEL_ENOMEM, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < ns; i++) /* evenly spaced */
        sample[i] = (size_t)((double)i * (double)n / (double)ns);
    if (o->on_phase) o->on_phase(o->ud, "permutation importance");
    keel_tensor_set_threads(go.threads); /* the importance's predictions are batched */
    rc = keel_explain_permutation_importance(m, f, NULL, n, o->repeats, o->opt.seed, r->importance,
                                             &r->metric, &r->base, e);
    keel_tensor_set_threads(1); /* parallel over rows from here */
    if (rc) {
        prefix_error(e, rc, "permutation importance");
        goto done;
    }
    if (o->cancel && *o->cancel) goto canceled;
    if (o->on_phase) o->on_phase(o->ud, "attributions");
    if ((rc = mean_abs_threads(&go, m, x, f, sample, ns, mabs, e))) {
        prefix_error(e, rc, "attributions");
        goto done;
    }
    for (size_t i = 0; i < k; i++)
        r->importance[i].mean_abs_attribution = mabs[r->importance[i].input];
    qsort(r->importance, k, sizeof *r->importance, cmp_importance);
    if (o->cancel && *o->cancel) goto canceled;
    /* Partial dependence of the most important columns that have one (not text). */
    size_t n_pd = 0;
    for (size_t i = 0; i < k && n_pd < KEEL_GLOBAL_PD_COLUMNS; i++) {
        keel_type t = m->input_schema->columns[m->inputs[r->importance[i].input]].type;
        if (t == KEEL_TYPE_TEXT || t == KEEL_TYPE_ID) continue;
        pd[n_pd] = (pd_job){.x = x,
                            .m = m,
                            .f = f,
                            .rows = sample,
                            .n = ns,
                            .input = r->importance[i].input,
                            .points = o->pd_points ? o->pd_points : 10,
                            .o = &o->opt};
        n_pd++;
    }
    if (o->on_phase) o->on_phase(o->ud, "partial dependence");
    keel_parallel_for(n_pd, go.threads > 1, pd_run, pd);
    for (size_t j = 0; j < n_pd; j++) {
        r->pd[j] = pd[j].c; /* the report owns every curve from here */
        memset(&pd[j].c, 0, sizeof pd[j].c);
    }
    r->n_pd = n_pd;
    for (size_t j = 0; j < n_pd; j++)
        if (pd[j].rc) {
            rc = keel_error_set(e, pd[j].rc, "partial dependence on %s: %s",
                                input_name(m, pd[j].input), pd[j].e.msg);
            goto done;
        }
    r->class_index = explained_class(m, x, &o->opt);
    r->scale = o->opt.scale;
    if (r->scale == KEEL_SCALE_DEFAULT)
        r->scale = m->target.task == KEEL_TASK_REGRESSION ? KEEL_SCALE_VALUE : KEEL_SCALE_LOG_ODDS;
    goto done;
canceled:
    rc = keel_error_set(e, KEEL_ECANCELED, "interrupted");
done:
    if (o->on_phase) o->on_phase(o->ud, NULL);
    keel_free(mabs);
    keel_free(sample);
    return rc;
}

void keel_global_report_free(keel_global_report *r)
{
    if (!r) return;
    for (size_t j = 0; j < KEEL_GLOBAL_PD_COLUMNS; j++)
        keel_pd_curve_free(&r->pd[j]);
    keel_free(r->importance);
    memset(r, 0, sizeof *r);
}

int keel_global_report_write(const keel_global_report *r, const keel_model *m, const char *model,
                             const char *file, uint64_t quarantined, uint64_t seed, bool json,
                             keel_buf *b)
{
    size_t k = m->n_inputs, n_pd = r->n_pd, n_rows = r->n_rows, n_sample = r->n_sample;
    int repeats = r->repeats;
    long cls = r->class_index;
    const char *cname = cls >= 0 ? m->target.classes.items[cls] : NULL;
    const char *metric = r->metric, *scale = keel_explain_scale_name(r->scale);
    double base = r->base;
    const keel_importance *imp = r->importance;
    keel_buf_mark start = keel_buf_begin(b);
    if (json) {
        keel_buf_puts(b, "{\"model\":");
        keel_buf_json_str(b, model, strlen(model));
        keel_buf_printf(b, ",\"sha256\":\"%s\",\"file\":", m->sha256);
        keel_buf_json_str(b, file, strlen(file));
        keel_buf_printf(b,
                        ",\"rows\":%zu,\"quarantined\":%llu,\"attribution_rows\":%zu,"
                        "\"scale\":\"%s\",\"class\":",
                        n_rows, (unsigned long long)quarantined, n_sample, scale);
        if (cname)
            keel_buf_json_str(b, cname, strlen(cname));
        else
            keel_buf_puts(b, "null");
        keel_buf_printf(b, ",\"metric\":\"%s\",\"base\":", metric);
        keel_buf_json_num(b, base);
        keel_buf_printf(b, ",\"repeats\":%d,\"seed\":%llu,\"importance\":[", repeats,
                        (unsigned long long)seed);
        for (size_t i = 0; i < k; i++) {
            const char *name = input_name(m, imp[i].input);
            keel_buf_puts(b, i ? ",{\"column\":" : "{\"column\":");
            keel_buf_json_str(b, name, strlen(name));
            keel_buf_puts(b, ",\"drop\":");
            keel_buf_json_num(b, imp[i].drop);
            keel_buf_puts(b, ",\"ci_low\":");
            keel_buf_json_num(b, imp[i].ci_low);
            keel_buf_puts(b, ",\"ci_high\":");
            keel_buf_json_num(b, imp[i].ci_high);
            keel_buf_puts(b, ",\"mean_abs_attribution\":");
            keel_buf_json_num(b, imp[i].mean_abs_attribution);
            keel_buf_putc(b, '}');
        }
        keel_buf_puts(b, "],\"partial_dependence\":[");
        for (size_t j = 0; j < n_pd; j++) {
            const keel_pd_curve *c = &r->pd[j];
            const char *name = input_name(m, c->input);
            keel_buf_puts(b, j ? ",{\"column\":" : "{\"column\":");
            keel_buf_json_str(b, name, strlen(name));
            if (c->x) json_num_array(b, "x", c->x, c->n);
            keel_buf_puts(b, ",\"labels\":[");
            for (size_t g = 0; g < c->n; g++) {
                if (g) keel_buf_putc(b, ',');
                keel_buf_json_str(b, c->labels[g], strlen(c->labels[g]));
            }
            keel_buf_putc(b, ']');
            json_num_array(b, "y", c->y, c->n);
            keel_buf_putc(b, '}');
        }
        keel_buf_puts(b, "]}\n");
        return keel_buf_end(b, start);
    }
    keel_buf_printf(b, "model: %s\nfile: %s (%zu rows, %llu quarantined)\n", model, file, n_rows,
                    (unsigned long long)quarantined);
    keel_buf_printf(b, "explained: %s", scale);
    if (cname)
        keel_buf_printf(b, " of class '%s'", cname);
    else if (m->target.task != KEEL_TASK_REGRESSION)
        keel_buf_puts(b, " of each row's predicted class");
    keel_buf_printf(b,
                    "\n\nPermutation importance: the fall of %s (%.4g on the rows as they "
                    "are) when a column's values\nare shuffled among the rows; mean of %d "
                    "shuffles with its 95%% confidence interval.\n",
                    metric, base, repeats);
    keel_buf_printf(b, "Mean |attribution|: Integrated Gradients, %s, over %zu rows.\n\n", scale,
                    n_sample);
    int wide = 6; /* the longest name, within reason */
    for (size_t i = 0; i < k; i++)
        wide = KEEL_MAX(wide, (int)KEEL_MIN(strlen(input_name(m, i)), (size_t)40));
    keel_buf_printf(b, "%-*s %10s  %-23s %12s\n", wide, "column", "drop", "95% CI", "mean |attr|");
    for (size_t i = 0; i < k; i++) {
        char ci[64];
        snprintf(ci, sizeof ci, "[%.4f, %.4f]", imp[i].ci_low, imp[i].ci_high);
        keel_buf_printf(b, "%-*.*s %10.4f  %-23s %12.4f\n", wide, wide, input_name(m, imp[i].input),
                        imp[i].drop, ci, imp[i].mean_abs_attribution);
    }
    for (size_t j = 0; j < n_pd; j++) {
        const keel_pd_curve *c = &r->pd[j];
        keel_buf_printf(b, "\nPartial dependence on %s: mean %s over %zu rows\n",
                        input_name(m, c->input), scale, n_sample);
        int lw = 6;
        for (size_t g = 0; g < c->n; g++)
            lw = KEEL_MAX(lw, (int)KEEL_MIN(strlen(c->labels[g]), (size_t)40));
        for (size_t g = 0; g < c->n; g++)
            keel_buf_printf(b, "  %-*.*s %10.4f\n", lw, lw, c->labels[g], c->y[g]);
    }
    return keel_buf_end(b, start);
}
