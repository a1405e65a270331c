/*
 * fixtures.c — data and models several unit tests share (tests/unit/fixtures.h).
 */
#include "tests/unit/fixtures.h"

#include "data/infer.h"
#include "data/validate.h"
#include "tests/unit/harness.h"
#include "train/train.h"

keel_frame *test_load_pima(keel_schema **sp)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/data/pima2.csv", test_root());
    keel_infer_options io;
    keel_infer_options_init(&io);
    io.target = "diabetes";
    keel_schema *s;
    keel_error e;
    if (keel_infer_file(path, &io, &s, &e)) {
        fprintf(stderr, "infer: %s\n", e.msg);
        return NULL;
    }
    keel_schema_move_to_end(s, (size_t)keel_schema_find(s, "diabetes"));
    for (size_t i = 0; i < s->n_columns; i++) /* a prediction contract, as keel train makes it */
        if (s->columns[i].role == KEEL_ROLE_FEATURE) {
            s->columns[i].has_min = s->columns[i].has_max = s->columns[i].integer = false;
            s->columns[i].nullable = true;
        }
    keel_frame *f;
    keel_validate_result vr;
    if (keel_frame_load(s, path, NULL, &f, &vr, &e)) {
        fprintf(stderr, "load: %s\n", e.msg);
        keel_schema_free(s);
        return NULL;
    }
    keel_validate_result_free(&vr);
    *sp = s;
    return f;
}

keel_model *test_train_pima(const keel_hparams *hp, keel_frame **fp, keel_schema **sp)
{
    keel_schema *s;
    keel_frame *f = test_load_pima(&s);
    if (!f) return NULL;
    keel_error e;
    keel_train_options o = {.target = "diabetes", .hp = *hp};
    keel_model *m = NULL;
    keel_train_result r;
    if (keel_train(f, NULL, 0, &o, &m, &r, &e)) {
        fprintf(stderr, "train: %s\n", e.msg);
        keel_frame_free(f);
        keel_schema_free(s);
        return NULL;
    }
    *fp = f;
    *sp = s;
    return m;
}

keel_model *test_save_open(keel_model *m, const char *name)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", test_tmpdir(), name);
    keel_error e;
    keel_model *p = NULL;
    if (keel_model_save(m, path, &e) || keel_model_open(path, &p, &e)) {
        fprintf(stderr, "save and open %s: %s\n", path, e.msg);
        return NULL;
    }
    return p;
}

/* Bytes per value of each column type. */
static size_t value_size(int type)
{
    switch (type) {
    case KEEL_COL_TEXT:
        return sizeof(const char *);
    case KEEL_COL_F64:
    case KEEL_COL_I64:
        return 8;
    case KEEL_COL_F32:
    case KEEL_COL_I32:
        return 4;
    default:
        return 1;
    }
}

bool test_same_text(const char *a, const char *b)
{
    return a == b || (a && b && strcmp(a, b) == 0);
}

bool test_same_batch(const serve_batch *a, const serve_batch *b)
{
    if (!test_same_text(a->id, b->id) || a->n_rows != b->n_rows || a->n_cols != b->n_cols)
        return false;
    for (size_t j = 0; j < a->n_cols; j++) {
        const keel_input_column *x = &a->cols[j], *y = &b->cols[j];
        if (strcmp(x->name, y->name) || x->type != y->type) return false;
        if ((x->missing == NULL) != (y->missing == NULL)) return false;
        if (x->missing && memcmp(x->missing, y->missing, a->n_rows)) return false;
        for (size_t r = 0; r < a->n_rows; r++) {
            if (x->type == KEEL_COL_TEXT) {
                if (!test_same_text(((const char *const *)x->data)[r],
                                    ((const char *const *)y->data)[r]))
                    return false;
            } else {
                size_t k = value_size(x->type);
                if (memcmp((const char *)x->data + r * k, (const char *)y->data + r * k, k))
                    return false;
            }
        }
    }
    return true;
}

void test_check_v2_as_slow_path(const char *body)
{
    serve_batch v, s;
    serve_error ev, es;
    int rs = serve_parse_v2_slow(body, strlen(body), &s, &es);
    int rv = serve_parse_v2(body, strlen(body), &v, &ev);
    CHECK_EQ_INT(rv, rs);
    CHECK_EQ_INT(ev.status, es.status);
    CHECK_STR(ev.msg, es.msg);
    if (rs == KEEL_OK) CHECK(test_same_batch(&v, &s));
    serve_batch_free(&v);
    serve_batch_free(&s);
}
