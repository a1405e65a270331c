/*
 * fuzz/proto.c — the serving protocols' request parsers (src/serve/proto_*.c) against
 * arbitrary bodies.
 *
 * The first byte picks the parser: (byte % 4) 0 OIP v2, 1 KServe v1, 3 MLflow text/csv, 2
 * MLflow with, by bits 2-3, Content-Type application/json ('2'), none ('6'), the first line
 * of the input (':'), or text/csv; charset=utf-8 ('>'); the rest is the body. So the seed
 * files in tests/corpus/proto start with one of '0', '1', '2', '3', '6', ':'.
 *
 * A success must give a batch that keeps the parsers' promises: at most SERVE_MAX_ROWS rows
 * and SERVE_MAX_COLS columns; every column named (non-empty, unique), of a known type, with
 * n_rows readable values (each is read, so a short array shows up under ASan); text values
 * NUL-terminated UTF-8; a missing flag exactly where a value is absent (NULL text, NaN);
 * present floats finite. A failure must leave the batch zeroed, come with a known status
 * and code and a non-empty UTF-8 message that serve_write_error turns into JSON that parses
 * back to the same text, and repeat exactly. Any broken promise calls abort().
 *
 * A v2 or v1 batch is also read as an explain request: serve_parse_explain_params on its
 * "parameters" must give values in range (method -1, IG or Shapley; a known scale; top_k -1
 * to 16; a class label that is a UTF-8 string) or a 400 with a message, the same way twice,
 * leaving the batch as it was.
 *
 * OIP v2 bodies are also parsed by each half of serve_parse_v2 on its own: wherever the
 * single-pass fast path takes a body, the slow path must take it too, with the same status
 * and message, and give the same batch column by column (names, types, every value bit for
 * bit, missing flags, id) and the same explain parameters (or the same error for them); where
 * the fast path declines, its batch must be zeroed. The shaped tier is held to the same: it
 * is tried on each body twice, first against the shape left by an earlier input (libFuzzer's
 * inputs are mostly mutations of each other, so they share most of their bytes), then
 * against the body's own shape once the fast path has taken it.
 */
#include "base/json.h"
#include "serve/serve.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define ASSERT(c)                                                                                  \
    do {                                                                                           \
        if (!(c)) abort();                                                                         \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n);

static int run(unsigned sel, const char *body, size_t n, serve_batch *b, serve_error *err)
{
    static const char *const types[] = {"application/json", NULL, NULL, "text/csv; charset=utf-8"};
    switch (sel % 4) {
    case 0:
        return serve_parse_v2(body, n, b, err);
    case 1:
        return serve_parse_v1(body, n, b, err);
    case 3:
        return serve_parse_mlflow("text/csv", body, n, b, err);
    }
    if (((sel >> 2) & 3) != 2) return serve_parse_mlflow(types[(sel >> 2) & 3], body, n, b, err);
    /* The Content-Type is the first line. */
    const char *nl = memchr(body, '\n', n);
    size_t len = nl ? (size_t)(nl - body) : n;
    char *ct = malloc(len + 1);
    if (!ct) abort();
    memcpy(ct, body, len);
    ct[len] = '\0';
    size_t skip = nl ? len + 1 : len;
    int rc = serve_parse_mlflow(ct, body + skip, n - skip, b, err);
    free(ct);
    return rc;
}

static bool is_zero(const serve_batch *b)
{
    return !b->id && !b->n_rows && !b->n_cols && !b->cols && !b->arena;
}

static void check_batch(const serve_batch *b)
{
    ASSERT(b->arena != NULL);
    ASSERT(b->n_rows <= SERVE_MAX_ROWS && b->n_cols <= SERVE_MAX_COLS);
    ASSERT(b->n_cols == 0 || b->cols != NULL);
    if (b->id) ASSERT(keel_utf8_valid(b->id, strlen(b->id)));
    volatile unsigned sum = 0;
    for (size_t j = 0; j < b->n_cols; j++) {
        const keel_input_column *c = &b->cols[j];
        ASSERT(c->name && c->name[0] && keel_utf8_valid(c->name, strlen(c->name)));
        for (size_t k = 0; k < j; k++)
            ASSERT(strcmp(c->name, b->cols[k].name) != 0);
        ASSERT(c->data != NULL);
        for (size_t r = 0; r < b->n_rows; r++) {
            bool missing = c->missing && c->missing[r];
            switch (c->type) {
            case KEEL_COL_TEXT: {
                const char *s = ((const char *const *)c->data)[r];
                ASSERT(missing == (s == NULL));
                if (s) ASSERT(keel_utf8_valid(s, strlen(s)));
                break;
            }
            case KEEL_COL_F64: {
                double v = ((const double *)c->data)[r];
                ASSERT(missing ? isnan(v) : isfinite(v));
                break;
            }
            case KEEL_COL_F32: {
                float v = ((const float *)c->data)[r];
                ASSERT(missing ? isnan(v) : isfinite(v));
                break;
            }
            case KEEL_COL_I64:
                sum += (unsigned)((const int64_t *)c->data)[r];
                break;
            case KEEL_COL_I32:
                sum += (unsigned)((const int32_t *)c->data)[r];
                break;
            case KEEL_COL_BOOL:
                ASSERT(((const unsigned char *)c->data)[r] <= 1);
                break;
            default:
                abort();
            }
        }
    }
    (void)sum;
}

/* The error body must be JSON whose "error" is the message itself. */
static void check_error_body(const char *msg)
{
    keel_buf out;
    keel_buf_init(&out);
    keel_json_doc *d = keel_json_doc_new();
    if (d && serve_write_error(&out, msg) == KEEL_OK) {
        ASSERT(keel_json_parse(d, out.data, out.len, NULL) == KEEL_OK);
        const char *back = keel_json_str(keel_json_get(keel_json_root(d), "error"));
        ASSERT(back && strcmp(back, msg) == 0);
    }
    keel_json_doc_free(d);
    keel_buf_free(&out);
}

/* The explain parameters of a parsed v2 or v1 batch. */
static void check_explain_params(const serve_batch *b)
{
    serve_explain_params p;
    serve_error err;
    int rc = serve_parse_explain_params(b, &p, &err);
    if (rc == KEEL_OK) {
        ASSERT(p.method >= -1 && p.method <= KEEL_EXPLAIN_SHAPLEY);
        ASSERT(p.scale >= KEEL_SCALE_DEFAULT && p.scale <= KEEL_SCALE_VALUE);
        ASSERT(p.top_k >= -1 && p.top_k <= KEEL_EXPLAIN_MAX_REASONS);
        if (p.class_label) ASSERT(keel_utf8_valid(p.class_label, strlen(p.class_label)));
    } else {
        ASSERT(rc == KEEL_EPARSE && err.status == 400);
        size_t len = strlen(err.msg);
        ASSERT(len > 0 && keel_utf8_valid(err.msg, len));
        check_error_body(err.msg);
    }
    serve_explain_params again;
    serve_error err2;
    ASSERT(serve_parse_explain_params(b, &again, &err2) == rc);
    if (rc != KEEL_OK) {
        ASSERT(strcmp(err.msg, err2.msg) == 0);
    } else {
        ASSERT(again.method == p.method && again.scale == p.scale && again.top_k == p.top_k &&
               again.class_label == p.class_label);
    }
}

static bool same_str(const char *a, const char *b)
{
    return a == b || (a && b && strcmp(a, b) == 0);
}

static void check_same_batch(const serve_batch *f, const serve_batch *s)
{
    static const size_t size[] = {
        [KEEL_COL_TEXT] = sizeof(const char *), [KEEL_COL_F64] = sizeof(double),
        [KEEL_COL_F32] = sizeof(float),         [KEEL_COL_I64] = sizeof(int64_t),
        [KEEL_COL_I32] = sizeof(int32_t),       [KEEL_COL_BOOL] = 1,
    };
    ASSERT(same_str(f->id, s->id));
    ASSERT(f->n_rows == s->n_rows && f->n_cols == s->n_cols);
    for (size_t j = 0; j < f->n_cols; j++) {
        const keel_input_column *a = &f->cols[j], *b = &s->cols[j];
        ASSERT(strcmp(a->name, b->name) == 0 && a->type == b->type);
        ASSERT(a->type >= 0 && (size_t)a->type < sizeof size / sizeof *size && size[a->type]);
        ASSERT((a->missing == NULL) == (b->missing == NULL));
        if (a->missing) ASSERT(memcmp(a->missing, b->missing, f->n_rows) == 0);
        if (a->type == KEEL_COL_TEXT) {
            for (size_t r = 0; r < f->n_rows; r++)
                ASSERT(
                    same_str(((const char *const *)a->data)[r], ((const char *const *)b->data)[r]));
        } else if (f->n_rows) {
            ASSERT(memcmp(a->data, b->data, f->n_rows * size[a->type]) == 0); /* bit for bit */
        }
    }
}

static void check_same_explain(const serve_batch *f, const serve_batch *s)
{
    serve_explain_params pf, ps;
    serve_error ef, es;
    int rc = serve_parse_explain_params(f, &pf, &ef);
    ASSERT(serve_parse_explain_params(s, &ps, &es) == rc);
    ASSERT(ef.status == es.status && strcmp(ef.msg, es.msg) == 0);
    if (rc == KEEL_OK)
        ASSERT(pf.method == ps.method && pf.scale == ps.scale && pf.top_k == ps.top_k &&
               same_str(pf.class_label, ps.class_label));
}

/* A first tier's answer (took, f, ef) against the slow path's (rc, s, es). */
static void check_tier(bool took, serve_batch *f, const serve_error *ef, int rc,
                       const serve_batch *s, const serve_error *es)
{
    if (took) {
        ASSERT(rc == KEEL_OK && ef->status == es->status && strcmp(ef->msg, es->msg) == 0);
        check_batch(f);
        check_same_batch(f, s);
        check_same_explain(f, s);
        serve_batch_free(f);
    } else {
        ASSERT(is_zero(f));
    }
}

/* The shaped and fast tiers against the slow path (see the top of the file). */
static void check_v2_paths(const char *body, size_t n)
{
    serve_batch t, f, s;
    serve_error et, ef, es;
    int rc = serve_parse_v2_slow(body, n, &s, &es);
    bool took = serve_parse_v2_shaped(body, n, &t, &et); /* an earlier input's shape */
    check_tier(took, &t, &et, rc, &s, &es);
    took = serve_parse_v2_fast(body, n, &f, &ef);
    check_tier(took, &f, &ef, rc, &s, &es);
    took = serve_parse_v2_shaped(body, n, &t, &et); /* its own, if it was remembered */
    check_tier(took, &t, &et, rc, &s, &es);
    serve_batch_free(&s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n)
{
    if (n == 0) return 0;
    unsigned sel = data[0];
    const char *body = (const char *)data + 1;
    n--;
    if (sel % 4 == 0) check_v2_paths(body, n);
    serve_batch b;
    serve_error err;
    int rc = run(sel, body, n, &b, &err);
    if (rc == KEEL_OK) {
        check_batch(&b);
        if (sel % 4 < 2) {
            check_explain_params(&b);
            check_batch(&b);
        }
        serve_batch_free(&b);
        ASSERT(is_zero(&b));
        return 0;
    }
    ASSERT(is_zero(&b));
    ASSERT(rc == KEEL_EPARSE || rc == KEEL_ELIMIT || rc == KEEL_EFORMAT || rc == KEEL_ENOMEM);
    ASSERT(err.status == (rc == KEEL_EFORMAT ? 415 : rc == KEEL_ENOMEM ? 500 : 400));
    size_t len = strlen(err.msg);
    ASSERT(len > 0 && keel_utf8_valid(err.msg, len));
    check_error_body(err.msg);
    serve_error again;
    ASSERT(run(sel, body, n, &b, &again) == rc && strcmp(err.msg, again.msg) == 0);
    ASSERT(is_zero(&b));
    return 0;
}
