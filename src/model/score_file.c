/*
 * score_file.c — scoring a whole file to CSV (keel predict): streamed through validation a
 * chunk at a time, each chunk's rows split over threads (keel_parallel_for) and written in
 * file order, so the output is the same on any number of threads.
 *
 * Each row's line starts with the input line its record began on (so predictions join back
 * to records when others were quarantined) and the schema's id columns, then the predicted
 * label (or value) and, for classifiers, one probability per class (docs/cli.md). Text cells
 * (ids, labels, column names) go through keel_buf_csv_text, so a label such as "=1+1" cannot
 * run as a formula when the file is opened in a spreadsheet; numbers are written as numbers.
 *
 * A row whose outputs are not all finite (a model whose weights overflow gives NaN) gets no
 * line: a NaN probability would still pick a label. Such rows are counted, the rest scored,
 * and the whole call then fails with KEEL_ENONFINITE naming how many and the first line.
 */
#include "model/score_file.h"

#include <math.h>
#include <string.h>

typedef struct predictor {
    keel_model *m;
    FILE *out;
    size_t threads;
    uint64_t rows;            /* written */
    uint64_t nonfinite;       /* not written: an output is not finite */
    uint64_t first_nonfinite; /* the input line of the first of those */
    float *pred;
    size_t cap;
    keel_buf line;
    bool raw; /* text cells as they are, not made safe for spreadsheets */
} predictor;

typedef struct part {
    keel_model *m;
    const keel_frame *f;
    size_t first, n;
    float *out;
    int rc;
} part;

static void predict_part(void *ud, size_t t)
{
    part *p = &((part *)ud)[t];
    p->rc = keel_model_predict_frame(p->m, p->f, NULL, p->first, p->n, p->out);
}

static int predict_chunk(void *ud, const keel_frame *f)
{
    predictor *pr = ud;
    keel_model *m = pr->m;
    size_t k = keel_model_n_outputs(m), n = f->n_rows;
    if (n * k > pr->cap) {
        float *p = keel_reallocarray(pr->pred, n * k, sizeof *p);
        if (!p) return KEEL_ENOMEM;
        pr->pred = p;
        pr->cap = n * k;
    }
    size_t T = pr->threads;
    if (T > n / 64 + 1) T = n / 64 + 1; /* at least 64 rows a thread */
    part parts[KEEL_PARALLEL_MAX];
    for (size_t t = 0; t < T; t++) {
        size_t lo, hi;
        keel_part_range(n, T, t, &lo, &hi);
        parts[t] = (part){m, f, lo, hi - lo, pr->pred + lo * k, 0};
    }
    keel_parallel_for(T, true, predict_part, parts);
    for (size_t t = 0; t < T; t++)
        if (parts[t].rc) return parts[t].rc;
    /* Write the rows. */
    const keel_schema *s = m->input_schema;
    for (size_t r = 0; r < n; r++) {
        if (keel_model_first_nonfinite(m, pr->pred + r * k, 1) == 0) {
            if (!pr->nonfinite++) pr->first_nonfinite = f->line ? f->line[r] : 0;
            continue;
        }
        keel_buf *b = &pr->line;
        keel_buf_reset(b);
        keel_buf_put_u64(b, f->line ? f->line[r] : 0); /* 0: not known */
        keel_buf_putc(b, ',');
        for (size_t c = 0; c < s->n_columns; c++) {
            if (s->columns[c].role != KEEL_ROLE_ID) continue;
            const keel_column *col = &f->cols[c];
            if (col->type == KEEL_TYPE_TEXT || col->type == KEEL_TYPE_ID) {
                size_t len;
                const char *p = keel_column_text(col, r, &len);
                if (!col->missing[r]) keel_buf_csv_text(b, p, len, pr->raw);
            } else if (col->type == KEEL_TYPE_NUMERIC && !isnan(col->num[r])) {
                keel_buf_json_num(b, col->num[r]);
            } else if (col->type == KEEL_TYPE_CATEGORICAL && col->cat[r] >= 0) {
                const char *cat = col->def->categories.items[col->cat[r]];
                keel_buf_csv_text(b, cat, strlen(cat), pr->raw);
            }
            keel_buf_putc(b, ',');
        }
        const float *p = pr->pred + r * k;
        if (m->target.task == KEEL_TASK_REGRESSION) {
            keel_buf_json_num(b, p[0]);
        } else {
            size_t best = 0;
            for (size_t j = 1; j < k; j++)
                if (p[j] > p[best]) best = j;
            const char *label = m->target.classes.items[best];
            keel_buf_csv_text(b, label, strlen(label), pr->raw);
            for (size_t j = 0; j < k; j++)
                keel_buf_printf(b, ",%.6g", p[j]);
        }
        if (keel_buf_putc(b, '\n')) return KEEL_ENOMEM;
        if (fwrite(b->data, 1, b->len, pr->out) != b->len) return KEEL_EIO;
        pr->rows++;
    }
    return KEEL_OK;
}

static int write_header(FILE *out, const keel_model *m, bool raw)
{
    keel_buf b;
    keel_buf_init(&b);
    const keel_schema *s = m->input_schema;
    keel_buf_puts(&b, "line,");
    for (size_t c = 0; c < s->n_columns; c++)
        if (s->columns[c].role == KEEL_ROLE_ID) {
            keel_buf_csv_text(&b, s->columns[c].name, strlen(s->columns[c].name), raw);
            keel_buf_putc(&b, ',');
        }
    keel_buf_puts(&b, "prediction");
    if (m->target.task != KEEL_TASK_REGRESSION)
        for (size_t j = 0; j < m->target.classes.n; j++) {
            keel_buf b2;
            keel_buf_init(&b2);
            keel_buf_printf(&b2, "p_%s", m->target.classes.items[j]);
            keel_buf_putc(&b, ',');
            if (b2.data) keel_buf_csv_text(&b, b2.data, b2.len, raw);
            keel_buf_free(&b2);
        }
    int rc = keel_buf_putc(&b, '\n') || fwrite(b.data, 1, b.len, out) != b.len;
    keel_buf_free(&b);
    return rc ? KEEL_EIO : KEEL_OK;
}

int keel_predict_file(keel_model *m, const char *path, const keel_predict_file_options *o,
                      FILE *out, keel_predict_file_result *res, keel_error *e)
{
    memset(res, 0, sizeof *res);
    size_t threads = o->threads < 1 ? 1 : (size_t)o->threads;
    predictor pr = {.m = m,
                    .out = out,
                    .threads = KEEL_MIN(threads, (size_t)KEEL_PARALLEL_MAX),
                    .raw = o->csv_raw};
    keel_buf_init(&pr.line);
    keel_validate_options vo;
    keel_validate_options_init(&vo);
    vo.quarantine_path = o->quarantine_path;
    vo.on_chunk = predict_chunk;
    vo.chunk_ud = &pr;
    vo.cancel = o->cancel;
    vo.progress = o->progress;
    vo.progress_ud = o->progress_ud;
    int rc = write_header(out, m, o->csv_raw);
    if (!rc)
        rc = keel_validate_file(m->input_schema, path, &vo, &res->data, e);
    else
        keel_error_set(e, rc, "cannot write the predictions");
    res->predicted = pr.rows;
    res->nonfinite = pr.nonfinite;
    if (!rc && pr.nonfinite)
        rc = keel_error_set(e, KEEL_ENONFINITE,
                            "%llu record%s got no prediction, the first on line %llu: the model "
                            "computed a value that is not a finite number (NaN or infinity); its "
                            "weights overflow (retrain the model)",
                            (unsigned long long)pr.nonfinite, pr.nonfinite == 1 ? "" : "s",
                            (unsigned long long)pr.first_nonfinite);
    keel_free(pr.pred);
    keel_buf_free(&pr.line);
    return rc;
}
